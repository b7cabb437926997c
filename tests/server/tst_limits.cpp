// SPDX-License-Identifier: MIT
// One test per front-end limit: each checks the status the offending client gets AND that
// another client is still served while (or right after) the limit bites.
#include "http_client.h"
#include "raw_client.h"
#include "server_process.h"

#include <QElapsedTimer>
#include <QTest>

#include <functional>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace lctest;

namespace {

const QByteArray kHealth = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";

/// A fresh connection from `source` that GETs /healthz; returns the status (0 = none).
int healthFrom(quint16 port, const QString& source = QStringLiteral("127.0.0.1"))
{
    RawClient c;
    if (!c.connect(port, source))
        return 0;
    c.send(kHealth);
    return c.read(5000).status;
}

/// Four connections (source address from `source(i)`) that each got a 200 and stay open; fewer
/// when one was not served.
std::vector<std::unique_ptr<RawClient>> holdConnections(
    quint16 port, const std::function<QString(int)>& source)
{
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 4; ++i) {
        auto c = std::make_unique<RawClient>();
        if (!c->connect(port, source(i)))
            break;
        c->send(kHealth);
        if (c->read(5000).status != 200)
            break;
        held.push_back(std::move(c));
    }
    return held;
}

/// The response a fresh connection from `source` gets to GET /healthz; the connection must
/// then be closed (status 0 when it is not).
RawResponse answerTo(quint16 port, const QString& source)
{
    RawClient c;
    if (!c.connect(port, source))
        return {};
    c.send(kHealth);
    RawResponse r = c.read(5000);
    return c.waitClosed() ? r : RawResponse {};
}

/// Sends `request` on a fresh connection: it must get `status` with error `code` and be closed,
/// and another client must then be served.
void expectRefused(quint16 port, const QByteArray& request, int status, const char* code)
{
    RawClient c;
    QVERIFY(c.connect(port));
    c.send(request);
    const RawResponse r = c.read(5000);
    QCOMPARE(r.status, status);
    QCOMPARE(r.errorCode(), QString::fromLatin1(code));
    QVERIFY(c.waitClosed());
    QCOMPARE(healthFrom(port), 200);
}

} // namespace

class TstLimits : public QObject {
    Q_OBJECT
private slots:
    void headTimeout408();
    void bodyTimeout408();
    void bodyTooLarge413();
    void uriTooLong414();
    void headTooLarge431();
    void perIpConnections429();
    void nodeFull503();
    void perIpRate429();
    void idleKeepAliveClosedSilently();
    void nonReadingClientClosed();
};

void TstLimits::headTimeout408()
{
    ServerProcess server({ QStringLiteral("--header-timeout-ms=1500") });
    QVERIFY(server.start());
    RawClient slow;
    QVERIFY(slow.connect(server.port()));
    QElapsedTimer timer;
    timer.start();
    slow.send("GET /healthz HTTP/1.1\r\nHo");
    // While the slow head is pending, others are served at once.
    QCOMPARE(healthFrom(server.port()), 200);
    slow.send("st: t\r\nX-Slow: 1\r\n"); // dribbling does not extend the deadline
    const RawResponse r = slow.read(10000);
    QCOMPARE(r.status, 408);
    QCOMPARE(r.errorCode(), QStringLiteral("request_timeout"));
    QVERIFY2(timer.elapsed() >= 1400, qPrintable(QString::number(timer.elapsed())));
    QVERIFY(slow.waitClosed());
    QCOMPARE(healthFrom(server.port()), 200);
}

void TstLimits::bodyTimeout408()
{
    ServerProcess server({ QStringLiteral("--body-timeout-ms=1000") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 video = createVideo(server.baseUrl(), token, "body-timeout");
    RawClient slow;
    QVERIFY(slow.connect(server.port()));
    slow.send("POST /videos/" + QByteArray::number(video) + "/comments HTTP/1.1\r\nHost: t\r\n"
        + "Authorization: Bearer " + token.toUtf8()
        + "\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"text\":");
    QCOMPARE(healthFrom(server.port()), 200);
    const RawResponse r = slow.read(10000);
    QCOMPARE(r.status, 408);
    QVERIFY(slow.waitClosed());
    QCOMPARE(healthFrom(server.port()), 200);
}

void TstLimits::bodyTooLarge413()
{
    ServerProcess server({ QStringLiteral("--max-body=1024") });
    QVERIFY(server.start());
    RawClient big;
    QVERIFY(big.connect(server.port()));
    // Decided from Content-Length alone: no body byte is sent.
    big.send("POST /videos/1/comments HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n");
    const RawResponse r = big.read(5000);
    QCOMPARE(r.status, 413);
    QCOMPARE(r.errorCode(), QStringLiteral("payload_too_large"));
    QVERIFY(big.waitClosed());
    // A chunked body is cut as soon as its decoded size passes the limit.
    RawClient chunked;
    QVERIFY(chunked.connect(server.port()));
    chunked.send("POST /videos/1/comments HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + QByteArray::number(2048, 16) + "\r\n" + QByteArray(2048, 'x'));
    QCOMPARE(chunked.read(5000).status, 413);
    QCOMPARE(healthFrom(server.port()), 200);
}

void TstLimits::uriTooLong414()
{
    ServerProcess server({ QStringLiteral("--max-uri-bytes=1024") });
    QVERIFY(server.start());
    expectRefused(server.port(),
        "GET /videos?x=" + QByteArray(1100, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414,
        "uri_too_long");
}

void TstLimits::headTooLarge431()
{
    ServerProcess server({ QStringLiteral("--max-header-bytes=4096") });
    QVERIFY(server.start());
    // Never finished: the limit is decided from the bytes received, not from a complete head.
    expectRefused(server.port(),
        "GET /healthz HTTP/1.1\r\nHost: t\r\nCookie: " + QByteArray(5000, 'c'), 431,
        "header_too_large");
}

void TstLimits::perIpConnections429()
{
    ServerProcess server({ QStringLiteral("--max-connections-per-ip=4") });
    QVERIFY(server.start());
    auto held = holdConnections(server.port(), [](int) { return QStringLiteral("127.0.0.2"); });
    QCOMPARE(held.size(), size_t(4));
    const RawResponse r = answerTo(server.port(), QStringLiteral("127.0.0.2"));
    QCOMPARE(r.status, 429);
    QCOMPARE(r.errorCode(), QStringLiteral("too_many_connections"));
    QVERIFY(r.header("retry-after").toInt() > 0);
    // Everyone else: other addresses, and the held connections themselves.
    QCOMPARE(healthFrom(server.port(), QStringLiteral("127.0.0.3")), 200);
    QCOMPARE(healthFrom(server.port()), 200);
    for (auto& c : held) {
        c->send(kHealth);
        QCOMPARE(c->read(5000).status, 200);
    }
    // A freed slot is usable again.
    held.pop_back();
    QTRY_COMPARE_WITH_TIMEOUT(healthFrom(server.port(), QStringLiteral("127.0.0.2")), 200, 5000);
}

void TstLimits::nodeFull503()
{
    ServerProcess server({ QStringLiteral("--max-connections=4") });
    QVERIFY(server.start());
    auto held = holdConnections(
        server.port(), [](int i) { return QStringLiteral("127.0.0.%1").arg(10 + i); });
    QCOMPARE(held.size(), size_t(4));
    const RawResponse r = answerTo(server.port(), QStringLiteral("127.0.0.20"));
    QCOMPARE(r.status, 503);
    QCOMPARE(r.errorCode(), QStringLiteral("server_busy"));
    QVERIFY(r.header("retry-after").toInt() > 0);
    // The connected clients keep being served.
    for (auto& c : held) {
        c->send(kHealth);
        QCOMPARE(c->read(5000).status, 200);
    }
    held.pop_back();
    QTRY_COMPARE_WITH_TIMEOUT(healthFrom(server.port(), QStringLiteral("127.0.0.21")), 200, 5000);
}

void TstLimits::perIpRate429()
{
    ServerProcess server({ QStringLiteral("--ip-rate-limit=5/60s") });
    QVERIFY(server.start());
    RawClient c;
    QVERIFY(c.connect(server.port(), QStringLiteral("127.0.0.5")));
    for (int i = 0; i < 5; ++i) {
        c.send(kHealth);
        QCOMPARE(c.read(5000).status, 200);
    }
    c.send(kHealth);
    const RawResponse r = c.read(5000);
    QCOMPARE(r.status, 429);
    QCOMPARE(r.errorCode(), QStringLiteral("rate_limited"));
    QVERIFY(r.header("retry-after").toInt() >= 1);
    // Another address, and an authenticated request from the same one, are served.
    QCOMPARE(healthFrom(server.port(), QStringLiteral("127.0.0.6")), 200);
    RawClient authed;
    QVERIFY(authed.connect(server.port(), QStringLiteral("127.0.0.5")));
    authed.send("GET /healthz HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
        + server.token("7", "alice").toUtf8() + "\r\n\r\n");
    QCOMPARE(authed.read(5000).status, 200);
}

void TstLimits::idleKeepAliveClosedSilently()
{
    ServerProcess server({ QStringLiteral("--keepalive-timeout-ms=500") });
    QVERIFY(server.start());
    RawClient c;
    QVERIFY(c.connect(server.port()));
    c.send(kHealth);
    QCOMPARE(c.read(5000).status, 200);
    QVERIFY(c.waitClosed(5000));
    QVERIFY2(c.pending().isEmpty(), c.pending().constData()); // no bytes: a silent close
    QCOMPARE(healthFrom(server.port()), 200);
}

void TstLimits::nonReadingClientClosed()
{
    ServerProcess server(
        { QStringLiteral("--send-timeout-ms=1000"), QStringLiteral("--threads=2") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 video = createVideo(server.baseUrl(), token, "non-reader");
    QCOMPARE(
        postComments(server.baseUrl(), token, video, QStringList(200, QString(400, 'x')), 6).size(),
        200);
    // Pipelines far more than the socket buffers hold and never reads (a plain socket: the
    // kernel's TCP state shows the server's close without our reading anything).
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    QVERIFY(fd >= 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    QCOMPARE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const QByteArray get = "GET /videos/" + QByteArray::number(video)
        + "/comments?limit=200 HTTP/1.1\r\nHost: t\r\n\r\n";
    QByteArray burst;
    for (int i = 0; i < 400; ++i)
        burst += get;
    QCOMPARE(
        ::send(fd, burst.constData(), size_t(burst.size()), MSG_NOSIGNAL), ssize_t(burst.size()));
    auto tcpState = [fd] {
        tcp_info info {};
        socklen_t len = sizeof info;
        ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
        return int(info.tcpi_state);
    };
    // With two worker threads, a server that blocks in send would be stuck; this one serves.
    QElapsedTimer timer;
    timer.start();
    for (int i = 0; i < 10; ++i)
        QCOMPARE(healthFrom(server.port()), 200);
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(tcpState(), int(TCP_ESTABLISHED));
    // ... and disconnects the non-reader once its response stops making progress.
    QTRY_VERIFY_WITH_TIMEOUT(tcpState() != int(TCP_ESTABLISHED), 15000);
    ::close(fd);
    QCOMPARE(healthFrom(server.port()), 200);
}

QTEST_GUILESS_MAIN(TstLimits)
#include "tst_limits.moc"
