// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QTcpSocket>

#include <sys/socket.h>

namespace lctest {

/// One response as read off the wire by RawClient.
struct RawResponse {
    int status = 0; ///< 0 = none arrived
    QByteArray statusLine;
    QMap<QByteArray, QByteArray> headers; ///< lower-case names
    QByteArray body;
    QByteArray header(const QByteArray& name) const { return headers.value(name); }
    /// error.code of a JSON error body, empty otherwise.
    QString errorCode() const
    {
        return QJsonDocument::fromJson(body)
            .object()
            .value(QStringLiteral("error"))
            .toObject()
            .value(QStringLiteral("code"))
            .toString();
    }
};

/**
 * A raw HTTP/1.1 client on a blocking QTcpSocket, for requests a normal client would never send
 * and for checking what happens to the connection afterwards (kept open or closed). Binds to
 * `sourceAddress` (any 127.0.0.x works on Linux loopback) so tests can act as several clients.
 *
 * Threading: one thread; uses the socket's blocking waitFor* calls (no event loop needed).
 */
class RawClient {
public:
    bool connect(quint16 port, const QString& sourceAddress = QStringLiteral("127.0.0.1"))
    {
        if (!m_socket.bind(QHostAddress(sourceAddress), 0))
            return false;
        m_socket.connectToHost(QHostAddress(QStringLiteral("127.0.0.1")), port);
        return m_socket.waitForConnected(5000);
    }
    void send(const QByteArray& bytes)
    {
        m_socket.write(bytes);
        m_socket.waitForBytesWritten(5000);
    }
    /// Half-close: the server sees end of input; we can still read.
    void shutdownWrite()
    {
        m_socket.flush();
        ::shutdown(static_cast<int>(m_socket.socketDescriptor()), SHUT_WR);
    }
    /// Reads one response (head + Content-Length body); status 0 if none within timeoutMs.
    RawResponse read(int timeoutMs = 10000)
    {
        RawResponse r;
        QElapsedTimer timer;
        timer.start();
        qsizetype headEnd = -1;
        while ((headEnd = m_buffer.indexOf("\r\n\r\n")) < 0) {
            if (!fill(timeoutMs - int(timer.elapsed())))
                return r;
        }
        const QList<QByteArray> lines = m_buffer.left(headEnd).split('\n');
        r.statusLine = lines.value(0).trimmed();
        r.status = r.statusLine.split(' ').value(1).toInt();
        for (int i = 1; i < lines.size(); ++i) {
            const qsizetype colon = lines[i].indexOf(':');
            if (colon > 0)
                r.headers.insert(
                    lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
        }
        const qsizetype length = (r.status == 100 || r.status == 204 || r.status == 304)
            ? 0
            : r.headers.value("content-length").toLongLong();
        while (m_buffer.size() - headEnd - 4 < length) {
            if (!fill(timeoutMs - int(timer.elapsed())))
                break;
        }
        r.body = m_buffer.mid(headEnd + 4, length);
        m_buffer.remove(0, headEnd + 4 + length);
        return r;
    }
    /// True when the server closed the connection within timeoutMs (bytes before the close are
    /// kept in the buffer).
    bool waitClosed(int timeoutMs = 3000)
    {
        QElapsedTimer timer;
        timer.start();
        while (timer.elapsed() < timeoutMs) {
            if (!fill(timeoutMs - int(timer.elapsed())) && m_closed)
                return true;
        }
        return m_closed;
    }
    /// Bytes received but not consumed by read().
    QByteArray pending() const { return m_buffer; }
    QTcpSocket& socket() { return m_socket; }

private:
    /// Appends what arrives within timeoutMs; false on timeout or close (m_closed set).
    bool fill(int timeoutMs)
    {
        if (m_closed)
            return false;
        if (m_socket.bytesAvailable() == 0 && !m_socket.waitForReadyRead(qMax(1, timeoutMs))) {
            m_closed = m_socket.state() != QAbstractSocket::ConnectedState;
            return false;
        }
        m_buffer += m_socket.readAll();
        return true;
    }

    QTcpSocket m_socket;
    QByteArray m_buffer;
    bool m_closed = false;
};

} // namespace lctest
