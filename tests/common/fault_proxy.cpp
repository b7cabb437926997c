// SPDX-License-Identifier: MIT
#include "fault_proxy.h"

#include <QHostAddress>
#include <QMutex>
#include <QMutexLocker>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>

#include <sys/socket.h>

#include <atomic>
#include <list>

namespace lctest {
namespace detail {

/// State shared between the API (any thread) and the proxy thread.
struct FaultProxyShared {
    std::atomic<quint16> upstreamPort { 0 };
    std::atomic<quint16> port { 0 };
    std::atomic<bool> stalled { false };
    std::atomic<bool> refusing { false };
    std::atomic<int> httpStatus { 0 };
    std::atomic<qint64> cutAfter { 0 };
    std::atomic<int> accepted { 0 };
    std::atomic<int> open { 0 };
    QMutex mutex; // guards extraHeaders
    QByteArray extraHeaders;
};

namespace {
constexpr qint64 kHighWater = 256 * 1024;

/// Makes the next close() send RST instead of FIN.
void lingerZero(QTcpSocket* s)
{
    const qintptr fd = s->socketDescriptor();
    if (fd < 0)
        return;
    linger l {};
    l.l_onoff = 1;
    l.l_linger = 0;
    ::setsockopt(int(fd), SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

QByteArray reasonPhrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}
} // namespace

/// Lives in the proxy thread; owns the listening socket and every connection.
class FaultProxyWorker : public QObject {
public:
    explicit FaultProxyWorker(std::shared_ptr<FaultProxyShared> shared)
        : m_shared(std::move(shared))
    { }

    bool listen()
    {
        m_server = new QTcpServer(this);
        m_server->setMaxPendingConnections(10000);
        QObject::connect(m_server, &QTcpServer::newConnection, this, [this] { onNewConnection(); });
        if (!m_server->listen(QHostAddress::LocalHost, 0))
            return false;
        m_shared->port = m_server->serverPort();
        return true;
    }

    void shutdown()
    {
        // Detach first: a socket's destructor emits disconnected(), which would re-enter pump().
        std::list<Pair> pairs;
        pairs.swap(m_pairs);
        for (Pair& p : pairs) {
            p.client->disconnect(this);
            p.upstream->disconnect(this);
            delete p.client;
            delete p.upstream;
        }
        m_shared->open = 0;
        delete m_server;
        m_server = nullptr;
    }

    void cutAll()
    {
        std::list<Pair> pairs;
        pairs.swap(m_pairs);
        for (Pair& p : pairs) {
            for (QTcpSocket* s : { p.client, p.upstream }) {
                s->disconnect(this);
                lingerZero(s);
                s->abort();
                s->deleteLater();
            }
        }
        m_shared->open = 0;
    }

    void pumpAll()
    {
        for (auto it = m_pairs.begin(); it != m_pairs.end();) {
            auto next = std::next(it);
            pump(it);
            it = next;
        }
    }

private:
    struct Pair {
        QTcpSocket* client = nullptr;
        QTcpSocket* upstream = nullptr;
        qint64 downBytes = 0;
        bool upstreamConnected = false;
        bool clientClosed = false;
        bool upstreamClosed = false;
        bool busy = false; // inside pump(): socket calls can emit signals synchronously
        bool again = false; // an event arrived while busy: pump once more
    };
    using Iter = std::list<Pair>::iterator;

    Iter find(QTcpSocket* s)
    {
        for (auto it = m_pairs.begin(); it != m_pairs.end(); ++it) {
            if (it->client == s || it->upstream == s)
                return it;
        }
        return m_pairs.end();
    }

    void onNewConnection()
    {
        while (QTcpSocket* client = m_server->nextPendingConnection()) {
            ++m_shared->accepted;
            if (m_shared->refusing) {
                client->close();
                client->deleteLater();
                continue;
            }
            if (const int status = m_shared->httpStatus) {
                answerWithError(client, status);
                continue;
            }
            Pair p;
            p.client = client;
            p.upstream = new QTcpSocket(this);
            client->setReadBufferSize(kHighWater);
            p.upstream->setReadBufferSize(kHighWater);
            m_pairs.push_back(p);
            ++m_shared->open;
            QTcpSocket* up = p.upstream;
            auto onEvent = [this](QTcpSocket* s) {
                const Iter it = find(s);
                if (it != m_pairs.end())
                    pump(it);
            };
            QObject::connect(up, &QTcpSocket::connected, this, [this, up, onEvent] {
                const Iter it = find(up);
                if (it != m_pairs.end())
                    it->upstreamConnected = true;
                onEvent(up);
            });
            for (QTcpSocket* s : { client, up }) {
                QObject::connect(s, &QTcpSocket::readyRead, this, [s, onEvent] { onEvent(s); });
                QObject::connect(s, &QTcpSocket::bytesWritten, this, [s, onEvent] { onEvent(s); });
                QObject::connect(s, &QTcpSocket::disconnected, this, [this, s, onEvent] {
                    const Iter it = find(s);
                    if (it == m_pairs.end())
                        return;
                    (s == it->client ? it->clientClosed : it->upstreamClosed) = true;
                    onEvent(s);
                });
                QObject::connect(s, &QTcpSocket::errorOccurred, this,
                    [this, s, onEvent](QAbstractSocket::SocketError) {
                        const Iter it = find(s);
                        if (it == m_pairs.end() || s->state() == QAbstractSocket::ConnectedState)
                            return;
                        (s == it->client ? it->clientClosed : it->upstreamClosed) = true;
                        onEvent(s);
                    });
            }
            up->connectToHost(QHostAddress::LocalHost, m_shared->upstreamPort);
        }
    }

    /// Runs pumpOnce() until no event arrived meanwhile, then frees the pair when both sides are
    /// closed. Re-entrant calls (disconnectFromHost() emits disconnected() synchronously) only
    /// ask the outer call for another round.
    void pump(Iter it)
    {
        Pair& p = *it;
        if (p.busy) {
            p.again = true;
            return;
        }
        p.busy = true;
        do {
            p.again = false;
            pumpOnce(p);
        } while (p.again);
        p.busy = false;
        const bool clientGone = p.client->state() == QAbstractSocket::UnconnectedState;
        const bool upstreamGone = p.upstream->state() == QAbstractSocket::UnconnectedState;
        if ((clientGone || p.clientClosed) && (upstreamGone || p.upstreamClosed)
            && p.client->bytesToWrite() == 0) {
            p.client->disconnect(this);
            p.upstream->disconnect(this);
            p.client->deleteLater();
            p.upstream->deleteLater();
            m_pairs.erase(it);
            --m_shared->open;
        }
    }

    /// Moves bytes both ways (unless stalled), applies the byte cut, propagates closes.
    void pumpOnce(Pair& p)
    {
        if (!m_shared->stalled) {
            if (p.upstreamConnected && !p.upstreamClosed)
                forward(p.client, p.upstream, -1);
            if (!p.clientClosed) {
                const qint64 cut = m_shared->cutAfter;
                const qint64 room = cut > 0 ? cut - p.downBytes : -1;
                p.downBytes += forward(p.upstream, p.client, room);
                if (cut > 0 && p.downBytes >= cut) {
                    // Deliver exactly `cut` bytes, then drop the connection.
                    p.client->flush();
                    p.client->disconnectFromHost();
                    p.upstream->abort();
                    p.clientClosed = p.upstreamClosed = true;
                }
            }
            // A side that closed and whose bytes were all forwarded closes the other side.
            if (p.upstreamClosed && p.upstream->bytesAvailable() == 0 && !p.clientClosed)
                p.client->disconnectFromHost();
            if (p.clientClosed && p.client->bytesAvailable() == 0 && !p.upstreamClosed
                && (p.upstreamConnected || p.upstream->state() != QAbstractSocket::ConnectingState))
                p.upstream->disconnectFromHost();
            if (p.upstreamClosed && !p.upstreamConnected && !p.clientClosed)
                p.client->disconnectFromHost(); // upstream refused: the client sees a close
        }
    }

    /// Copies what `from` has (at most `limit` bytes when limit >= 0) to `to`, respecting the
    /// high-water mark on `to`; returns the number of bytes copied.
    qint64 forward(QTcpSocket* from, QTcpSocket* to, qint64 limit)
    {
        qint64 copied = 0;
        while (from->bytesAvailable() > 0 && to->bytesToWrite() < kHighWater
            && (limit < 0 || copied < limit)) {
            qint64 chunk = qMin<qint64>(from->bytesAvailable(), 64 * 1024);
            if (limit >= 0)
                chunk = qMin(chunk, limit - copied);
            const QByteArray data = from->read(chunk);
            if (data.isEmpty())
                break;
            to->write(data);
            copied += data.size();
        }
        return copied;
    }

    void answerWithError(QTcpSocket* client, int status)
    {
        QByteArray extra;
        {
            QMutexLocker lock(&m_shared->mutex);
            extra = m_shared->extraHeaders;
        }
        auto head = std::make_shared<QByteArray>();
        auto answered = std::make_shared<bool>(false);
        QObject::connect(client, &QTcpSocket::readyRead, this, [=] {
            const QByteArray in = client->readAll();
            if (*answered)
                return; // discard the rest of the request
            *head += in;
            if (!head->contains("\r\n\r\n"))
                return;
            *answered = true;
            const QByteArray body = "{\"error\":{\"code\":\"proxy_" + QByteArray::number(status)
                + "\",\"message\":\"injected by FaultProxy\"}}";
            client->write("HTTP/1.1 " + QByteArray::number(status) + ' ' + reasonPhrase(status)
                + "\r\nContent-Type: application/json\r\nContent-Length: "
                + QByteArray::number(body.size()) + "\r\nConnection: close\r\n" + extra + "\r\n"
                + body);
            client->disconnectFromHost();
        });
        QObject::connect(client, &QTcpSocket::disconnected, client, &QObject::deleteLater);
    }

    std::shared_ptr<FaultProxyShared> m_shared;
    QTcpServer* m_server = nullptr;
    std::list<Pair> m_pairs;
};

} // namespace detail

FaultProxy::FaultProxy(quint16 upstreamPort)
    : m_shared(std::make_shared<detail::FaultProxyShared>())
{
    m_shared->upstreamPort = upstreamPort;
}

FaultProxy::~FaultProxy()
{
    if (!m_thread)
        return;
    detail::FaultProxyWorker* w = m_worker;
    QMetaObject::invokeMethod(
        w, [w] { w->shutdown(); }, Qt::BlockingQueuedConnection);
    m_thread->quit();
    m_thread->wait();
    delete m_worker;
    delete m_thread;
}

bool FaultProxy::start()
{
    if (m_thread)
        return m_shared->port != 0;
    m_thread = new QThread;
    m_thread->setObjectName(QStringLiteral("FaultProxy"));
    m_thread->start();
    m_worker = new detail::FaultProxyWorker(m_shared);
    m_worker->moveToThread(m_thread);
    bool ok = false;
    detail::FaultProxyWorker* w = m_worker;
    QMetaObject::invokeMethod(
        w, [w, &ok] { ok = w->listen(); }, Qt::BlockingQueuedConnection);
    return ok;
}

quint16 FaultProxy::port() const
{
    return m_shared->port;
}

QUrl FaultProxy::baseUrl() const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(port()));
}

void FaultProxy::setUpstreamPort(quint16 port)
{
    m_shared->upstreamPort = port;
}

void FaultProxy::cutAll()
{
    if (!m_worker)
        return;
    detail::FaultProxyWorker* w = m_worker;
    // Blocking, so that when cutAll() returns every connection is gone.
    QMetaObject::invokeMethod(
        w, [w] { w->cutAll(); },
        QThread::currentThread() == m_thread ? Qt::DirectConnection : Qt::BlockingQueuedConnection);
}

void FaultProxy::setStalled(bool stalled)
{
    m_shared->stalled = stalled;
    if (!stalled && m_worker) {
        detail::FaultProxyWorker* w = m_worker;
        QMetaObject::invokeMethod(
            w, [w] { w->pumpAll(); }, Qt::QueuedConnection);
    }
}

void FaultProxy::setRefusing(bool refusing)
{
    m_shared->refusing = refusing;
}

void FaultProxy::setHttpError(int status, QByteArray extraHeaders)
{
    QMutexLocker lock(&m_shared->mutex);
    m_shared->extraHeaders = std::move(extraHeaders);
    m_shared->httpStatus = status;
}

void FaultProxy::setCutAfterBytes(qint64 n)
{
    m_shared->cutAfter = n;
}

int FaultProxy::acceptedConnections() const
{
    return m_shared->accepted;
}

int FaultProxy::openConnections() const
{
    return m_shared->open;
}

} // namespace lctest
