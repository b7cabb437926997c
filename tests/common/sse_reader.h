// SPDX-License-Identifier: MIT
#pragma once

#include "http_client.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QObject>
#include <QTcpSocket>
#include <QUrl>

#include <functional>

namespace lctest {

/// One dispatched SSE event.
struct SseEvent {
    QByteArray type; ///< `event:` field, "message" when absent
    QByteArray id; ///< the `id:` field of this event block (empty when it had none)
    QByteArray data; ///< `data:` lines joined with '\n'
    /// data parsed as a JSON object (empty when it is not one).
    QJsonObject json() const;
};

/**
 * A raw QTcpSocket SSE client that uses no SDK code: it writes the request itself, keeps every
 * byte it receives (raw()), the status line and headers, and parses the body with the WHATWG
 * EventSource rules (CR/LF/CRLF line ends, comments, `event`/`data`/`id`/`retry`, dispatch on a
 * blank line). A chunked body is decoded too, although the server sends a raw one.
 *
 * A reader can pause: it then stops taking bytes from its socket, so the kernel buffers fill and
 * the server sees a client that stopped reading. setReceiveBufferSize() before open() shrinks the
 * socket's receive buffer (set before connect, so the TCP window stays small).
 *
 * Threading: lives on the thread that created it (needs that thread's event loop); not
 * thread-safe.
 */
class SseReader : public QObject {
    Q_OBJECT
public:
    explicit SseReader(QObject* parent = nullptr);
    ~SseReader() override;

    /// SO_RCVBUF for the next open() (0 = kernel default).
    void setReceiveBufferSize(int bytes) { m_rcvBuf = bytes; }

    /// Connects to 127.0.0.1:port and sends `METHOD path HTTP/1.1` with Host, Accept:
    /// text/event-stream and `headers` (e.g. Last-Event-ID, Authorization).
    void open(quint16 port, const QByteArray& pathAndQuery, const HeaderList& headers = {},
        const QByteArray& method = "GET");
    /// Same, taking host port and path from a full http://127.0.0.1:PORT/... URL.
    void open(const QUrl& url, const HeaderList& headers = {}, const QByteArray& method = "GET");
    /// Closes the connection at once (abort) without emitting disconnected() for it.
    void close();

    /// Stops (true) or resumes (false) reading from the socket.
    void setPaused(bool paused);
    bool isPaused() const { return m_paused; }

    /// Waits until the `hello` event arrived (false on timeout or an earlier close).
    bool waitForHello(int timeoutMs = 10000);
    /// Waits until at least `count` comment events arrived.
    bool waitForComments(int count, int timeoutMs = 10000);
    /// Waits until the response head arrived (any status).
    bool waitForHeaders(int timeoutMs = 10000);
    /// Waits until the server closed the connection.
    bool waitForDisconnected(int timeoutMs = 10000);

    bool headersComplete() const { return m_headersDone; }
    int status() const { return m_status; }
    QByteArray statusLine() const { return m_statusLine; }
    /// Response headers, lower-case keys.
    QMap<QByteArray, QByteArray> headers() const { return m_headers; }
    /// Every byte received, head included.
    QByteArray raw() const { return m_raw; }
    /// The response body received so far (after de-chunking).
    QByteArray body() const { return m_body; }
    QList<SseEvent> events() const { return m_events; }
    QList<SseEvent> events(const QByteArray& type) const;
    /// Ids of `comment` events in arrival order (duplicates kept, so tests can detect them).
    QList<quint64> comments() const;
    /// data of the first `hello` event.
    QJsonObject hello() const;
    QString subscriptionId() const;
    /// Number of comment lines (e.g. `: hb`) received.
    int heartbeats() const { return m_commentLines; }
    /// The last `retry:` value received, -1 when none.
    int retryMs() const { return m_retryMs; }
    /// The EventSource "last event ID" (persists across events, as a browser keeps it).
    QByteArray lastEventId() const { return m_lastEventId; }
    bool isConnected() const;
    bool wasDisconnected() const { return m_disconnected; }

signals:
    void headersReceived();
    void eventReceived(const lctest::SseEvent& event);
    void commentLineReceived(const QByteArray& text);
    void disconnected();

private:
    void onConnected();
    void onReadyRead();
    void onClosed();
    void feedBody(const QByteArray& bytes);
    void feedEventBytes(const QByteArray& bytes);
    void processLine(const QByteArray& line);
    bool waitUntil(const std::function<bool()>& done, int timeoutMs);

    QTcpSocket* m_socket = nullptr;
    QByteArray m_request;
    int m_rcvBuf = 0;
    bool m_paused = false;
    bool m_disconnected = false;

    QByteArray m_raw;
    QByteArray m_head;
    bool m_headersDone = false;
    int m_status = 0;
    QByteArray m_statusLine;
    QMap<QByteArray, QByteArray> m_headers;
    bool m_chunked = false;
    QByteArray m_chunkBuf;
    qint64 m_chunkLeft = -1; // -1: expecting a size line
    QByteArray m_body;

    QByteArray m_lineBuf;
    bool m_skipLf = false;
    QByteArray m_evType;
    QByteArray m_evData;
    QByteArray m_evId;
    bool m_hasData = false;
    QByteArray m_lastEventId;
    int m_retryMs = -1;
    int m_commentLines = 0;
    QList<SseEvent> m_events;
    QList<quint64> m_commentIds;
};

} // namespace lctest

Q_DECLARE_METATYPE(lctest::SseEvent)
