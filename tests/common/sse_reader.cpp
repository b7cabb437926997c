// SPDX-License-Identifier: MIT
#include "sse_reader.h"

#include <QJsonDocument>
#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace lctest {

QJsonObject SseEvent::json() const
{
    return QJsonDocument::fromJson(data).object();
}

SseReader::SseReader(QObject* parent)
    : QObject(parent)
{
    qRegisterMetaType<lctest::SseEvent>();
}

SseReader::~SseReader()
{
    close();
}

void SseReader::open(const QUrl& url, const HeaderList& headers, const QByteArray& method)
{
    QByteArray path = url.path(QUrl::FullyEncoded).toUtf8();
    if (path.isEmpty())
        path = "/";
    if (url.hasQuery())
        path += '?' + url.query(QUrl::FullyEncoded).toUtf8();
    open(quint16(url.port(80)), path, headers, method);
}

void SseReader::open(quint16 port, const QByteArray& pathAndQuery, const HeaderList& headers,
    const QByteArray& method)
{
    close();
    m_request = method + ' ' + pathAndQuery
        + " HTTP/1.1\r\nHost: 127.0.0.1:" + QByteArray::number(port) + "\r\n";
    bool hasAccept = false;
    bool hasLength = false;
    for (const auto& h : headers) {
        hasAccept |= h.first.compare("accept", Qt::CaseInsensitive) == 0;
        hasLength |= h.first.compare("content-length", Qt::CaseInsensitive) == 0;
        m_request += h.first + ": " + h.second + "\r\n";
    }
    if (!hasAccept)
        m_request += "Accept: text/event-stream\r\n";
    if (method != "GET" && !hasLength)
        m_request += "Content-Length: 0\r\n";
    m_request += "\r\n";

    m_socket = new QTcpSocket(this);
    connect(m_socket, &QTcpSocket::connected, this, &SseReader::onConnected);
    connect(m_socket, &QTcpSocket::readyRead, this, &SseReader::onReadyRead);
    connect(m_socket, &QTcpSocket::disconnected, this, &SseReader::onClosed);
    connect(m_socket, &QTcpSocket::errorOccurred, this, [this](QAbstractSocket::SocketError) {
        if (m_socket && m_socket->state() != QAbstractSocket::ConnectedState)
            onClosed();
    });
    if (m_rcvBuf > 0) {
        // SO_RCVBUF must be set before connect() to keep the advertised window small, so
        // connect a native socket ourselves (loopback connects complete at once) and adopt it.
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &m_rcvBuf, sizeof m_rcvBuf);
        sockaddr_in addr {};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            QMetaObject::invokeMethod(this, &SseReader::onClosed, Qt::QueuedConnection);
            return;
        }
        m_socket->setSocketDescriptor(fd);
        onConnected();
    } else {
        m_socket->connectToHost(QStringLiteral("127.0.0.1"), port);
    }
}

void SseReader::close()
{
    if (!m_socket)
        return;
    QTcpSocket* s = m_socket;
    m_socket = nullptr;
    s->disconnect(this);
    s->abort();
    s->deleteLater();
}

void SseReader::onConnected()
{
    if (m_socket)
        m_socket->write(m_request);
}

void SseReader::setPaused(bool paused)
{
    m_paused = paused;
    if (!m_socket)
        return;
    // A one-byte read buffer makes QAbstractSocket stop pulling from the kernel once full.
    m_socket->setReadBufferSize(paused ? 1 : 0);
    if (!paused)
        QMetaObject::invokeMethod(this, &SseReader::onReadyRead, Qt::QueuedConnection);
}

bool SseReader::isConnected() const
{
    return m_socket && m_socket->state() == QAbstractSocket::ConnectedState;
}

void SseReader::onClosed()
{
    if (m_disconnected)
        return;
    if (m_socket && m_socket->bytesAvailable() > 0 && !m_paused)
        onReadyRead();
    m_disconnected = true;
    emit disconnected();
}

void SseReader::onReadyRead()
{
    if (!m_socket || m_paused)
        return;
    const QByteArray bytes = m_socket->readAll();
    if (bytes.isEmpty())
        return;
    m_raw += bytes;
    if (m_headersDone) {
        feedBody(bytes);
        return;
    }
    m_head += bytes;
    const qsizetype end = m_head.indexOf("\r\n\r\n");
    if (end < 0)
        return;
    const QByteArray rest = m_head.mid(end + 4);
    const QList<QByteArray> lines = m_head.left(end).split('\n');
    m_statusLine = lines.value(0).trimmed();
    m_status = m_statusLine.split(' ').value(1).toInt();
    for (int i = 1; i < lines.size(); ++i) {
        const qsizetype colon = lines[i].indexOf(':');
        if (colon > 0)
            m_headers.insert(
                lines[i].left(colon).trimmed().toLower(), lines[i].mid(colon + 1).trimmed());
    }
    m_chunked = m_headers.value("transfer-encoding").toLower().contains("chunked");
    m_headersDone = true;
    m_head.clear();
    emit headersReceived();
    feedBody(rest);
}

void SseReader::feedBody(const QByteArray& bytes)
{
    if (!m_chunked) {
        m_body += bytes;
        if (m_status == 200)
            feedEventBytes(bytes);
        return;
    }
    // RFC 9112 §7.1 chunked decoding (extensions ignored, trailers skipped).
    m_chunkBuf += bytes;
    for (;;) {
        if (m_chunkLeft < 0) {
            const qsizetype nl = m_chunkBuf.indexOf("\r\n");
            if (nl < 0)
                return;
            const QByteArray sizeLine = m_chunkBuf.left(nl).split(';').value(0).trimmed();
            m_chunkBuf.remove(0, nl + 2);
            if (sizeLine.isEmpty())
                continue; // the CRLF after a chunk's data
            bool ok = false;
            m_chunkLeft = sizeLine.toLongLong(&ok, 16);
            if (!ok || m_chunkLeft == 0) {
                m_chunkLeft = -2; // last chunk: ignore the rest
                // The response is over even if a proxy keeps the connection alive (nginx does
                // when its upstream node dies): for an EventSource that is a disconnect.
                QMetaObject::invokeMethod(this, &SseReader::onClosed, Qt::QueuedConnection);
                return;
            }
        }
        if (m_chunkLeft == -2 || m_chunkBuf.isEmpty())
            return;
        const QByteArray piece = m_chunkBuf.left(m_chunkLeft);
        m_chunkBuf.remove(0, piece.size());
        m_chunkLeft -= piece.size();
        m_body += piece;
        if (m_status == 200)
            feedEventBytes(piece);
        if (m_chunkLeft == 0)
            m_chunkLeft = -1;
    }
}

void SseReader::feedEventBytes(const QByteArray& bytes)
{
    // WHATWG HTML §9.2.6: lines end with CRLF, LF or CR.
    for (const char c : bytes) {
        if (m_skipLf) {
            m_skipLf = false;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            m_skipLf = c == '\r';
            const QByteArray line = m_lineBuf;
            m_lineBuf.clear();
            processLine(line);
        } else {
            m_lineBuf += c;
        }
    }
}

void SseReader::processLine(const QByteArray& line)
{
    if (line.isEmpty()) {
        if (m_hasData) {
            if (m_evData.endsWith('\n'))
                m_evData.chop(1);
            SseEvent ev { m_evType.isEmpty() ? QByteArray("message") : m_evType, m_evId, m_evData };
            m_events.append(ev);
            if (ev.type == "comment")
                m_commentIds.append(ev.id.toULongLong());
            emit eventReceived(ev);
        }
        m_evType.clear();
        m_evData.clear();
        m_evId.clear();
        m_hasData = false;
        return;
    }
    if (line.startsWith(':')) {
        ++m_commentLines;
        emit commentLineReceived(line.mid(1));
        return;
    }
    const qsizetype colon = line.indexOf(':');
    const QByteArray field = colon < 0 ? line : line.left(colon);
    QByteArray value = colon < 0 ? QByteArray() : line.mid(colon + 1);
    if (value.startsWith(' '))
        value.remove(0, 1);
    if (field == "event") {
        m_evType = value;
    } else if (field == "data") {
        m_evData += value + '\n';
        m_hasData = true;
    } else if (field == "id") {
        if (!value.contains('\0')) {
            m_evId = value;
            m_lastEventId = value;
        }
    } else if (field == "retry") {
        bool ok = !value.isEmpty();
        for (const char c : value)
            ok &= c >= '0' && c <= '9';
        if (ok)
            m_retryMs = value.toInt();
    }
}

QList<SseEvent> SseReader::events(const QByteArray& type) const
{
    QList<SseEvent> out;
    for (const SseEvent& e : m_events) {
        if (e.type == type)
            out.append(e);
    }
    return out;
}

QList<quint64> SseReader::comments() const
{
    return m_commentIds;
}

QJsonObject SseReader::hello() const
{
    for (const SseEvent& e : m_events) {
        if (e.type == "hello")
            return e.json();
    }
    return {};
}

QString SseReader::subscriptionId() const
{
    return hello().value(QStringLiteral("subscription_id")).toString();
}

bool SseReader::waitUntil(const std::function<bool()>& done, int timeoutMs)
{
    return QTest::qWaitFor(done, timeoutMs);
}

bool SseReader::waitForHello(int timeoutMs)
{
    waitUntil([this] { return !events("hello").isEmpty() || m_disconnected; }, timeoutMs);
    return !events("hello").isEmpty();
}

bool SseReader::waitForComments(int count, int timeoutMs)
{
    return waitUntil([this, count] { return m_commentIds.size() >= count; }, timeoutMs);
}

bool SseReader::waitForHeaders(int timeoutMs)
{
    waitUntil([this] { return m_headersDone || m_disconnected; }, timeoutMs);
    return m_headersDone;
}

bool SseReader::waitForDisconnected(int timeoutMs)
{
    return waitUntil([this] { return m_disconnected; }, timeoutMs);
}

} // namespace lctest
