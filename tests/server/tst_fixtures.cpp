// SPDX-License-Identifier: MIT
// Self-test of tests/common, independent of the server: FaultProxy in front of a QTcpServer echo
// upstream, SseReader against canned SSE bytes, JWT minting against a known answer, and the
// /metrics text parser.
#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <cmath>

using namespace lctest;

namespace {

/// Echoes every byte back, after an optional greeting prefix written on connect.
class EchoServer : public QTcpServer {
public:
    explicit EchoServer(QByteArray greeting = {})
        : m_greeting(std::move(greeting))
    {
        connect(this, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = nextPendingConnection()) {
                if (!m_greeting.isEmpty())
                    s->write(m_greeting);
                connect(s, &QTcpSocket::readyRead, s, [s] { s->write(s->readAll()); });
                connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            }
        });
    }

private:
    QByteArray m_greeting;
};

/// Serves one canned response to each connection and then closes it.
class CannedServer : public QTcpServer {
public:
    explicit CannedServer(QList<QByteArray> pieces)
        : m_pieces(std::move(pieces))
    {
        connect(this, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = nextPendingConnection()) {
                connect(s, &QTcpSocket::readyRead, s, [this, s] {
                    m_request += s->readAll();
                    if (!m_request.contains("\r\n\r\n"))
                        return;
                    for (const QByteArray& p : m_pieces) {
                        s->write(p);
                        s->flush(); // separate segments, so the reader sees split chunks
                    }
                    s->disconnectFromHost();
                });
                connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            }
        });
    }
    QByteArray m_request;

private:
    QList<QByteArray> m_pieces;
};

struct Client {
    QTcpSocket socket;
    QByteArray received;
    explicit Client(quint16 port)
    {
        QObject::connect(
            &socket, &QTcpSocket::readyRead, &socket, [this] { received += socket.readAll(); });
        socket.connectToHost(QStringLiteral("127.0.0.1"), port);
    }
    bool closed() const { return socket.state() == QAbstractSocket::UnconnectedState; }
};

} // namespace

class TstFixtures : public QObject {
    Q_OBJECT
private slots:
    void init();
    void proxyForwardsBothWays();
    void proxyStallHoldsBytesUntilResumed();
    void proxyRefusing();
    void proxyHttpError();
    void proxyCutAfterBytes();
    void proxyCutAll();
    void proxySwitchesUpstream();
    void proxyUpstreamDown();
    void sseReaderParsesWhatwgLineEnds();
    void sseReaderDecodesChunkedBody();
    void mintTokenKnownAnswer();
    void tokenHasClaims();
    void metricValueParsesPrometheusText();

private:
    std::unique_ptr<EchoServer> m_echo;
};

void TstFixtures::init()
{
    m_echo = std::make_unique<EchoServer>();
    QVERIFY(m_echo->listen(QHostAddress::LocalHost, 0));
}

void TstFixtures::proxyForwardsBothWays()
{
    FaultProxy proxy(m_echo->serverPort());
    QVERIFY(proxy.start());
    QVERIFY(proxy.port() != 0);
    QVERIFY(proxy.port() != m_echo->serverPort());
    Client c(proxy.port());
    QVERIFY(c.socket.waitForConnected(5000));
    c.socket.write("hello through the proxy");
    QTRY_COMPARE(c.received, QByteArray("hello through the proxy"));
    // A big payload keeps order and is not truncated (back-pressure path).
    QByteArray big;
    for (int i = 0; i < 100000; ++i)
        big += QByteArray::number(i) + ',';
    c.received.clear();
    c.socket.write(big);
    QTRY_COMPARE_WITH_TIMEOUT(c.received.size(), big.size(), 20000);
    QCOMPARE(c.received, big);
    QCOMPARE(proxy.acceptedConnections(), 1);
    QTRY_COMPARE(proxy.openConnections(), 1);
    c.socket.disconnectFromHost();
    QTRY_COMPARE(proxy.openConnections(), 0);
}

void TstFixtures::proxyStallHoldsBytesUntilResumed()
{
    FaultProxy proxy(m_echo->serverPort());
    QVERIFY(proxy.start());
    Client c(proxy.port());
    QVERIFY(c.socket.waitForConnected(5000));
    c.socket.write("a");
    QTRY_COMPARE(c.received, QByteArray("a"));
    proxy.setStalled(true);
    c.socket.write("b");
    // Absence can only be observed over a span of time: give the bytes ample time to (wrongly)
    // arrive through a loopback hop.
    QTest::qWait(300);
    QCOMPARE(c.received, QByteArray("a"));
    QVERIFY(!c.closed());
    proxy.setStalled(false);
    QTRY_COMPARE(c.received, QByteArray("ab"));
}

void TstFixtures::proxyRefusing()
{
    FaultProxy proxy(m_echo->serverPort());
    QVERIFY(proxy.start());
    proxy.setRefusing(true);
    Client c(proxy.port());
    c.socket.write("x");
    QTRY_VERIFY(c.closed());
    QVERIFY(c.received.isEmpty());
    QTRY_COMPARE(proxy.acceptedConnections(), 1);
    proxy.setRefusing(false);
    Client d(proxy.port());
    d.socket.write("y");
    QTRY_COMPARE(d.received, QByteArray("y"));
    QCOMPARE(proxy.acceptedConnections(), 2);
}

void TstFixtures::proxyHttpError()
{
    FaultProxy proxy(m_echo->serverPort());
    QVERIFY(proxy.start());
    proxy.setHttpError(429, "Retry-After: 1\r\n");
    const HttpReply r = http("GET", endpoint(proxy.baseUrl(), QStringLiteral("/healthz")));
    QCOMPARE(r.status, 429);
    QCOMPARE(r.header("retry-after"), QByteArray("1"));
    QCOMPARE(r.errorCode(), QStringLiteral("proxy_429"));
    proxy.setHttpError(503);
    const HttpReply raw = rawHttp(proxy.port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    QCOMPARE(raw.status, 503);
    QVERIFY(!raw.headers.contains("retry-after"));
    proxy.setHttpError(0);
    Client c(proxy.port());
    c.socket.write("back to echo");
    QTRY_COMPARE(c.received, QByteArray("back to echo"));
}

void TstFixtures::proxyCutAfterBytes()
{
    EchoServer greeter("0123456789");
    QVERIFY(greeter.listen(QHostAddress::LocalHost, 0));
    FaultProxy proxy(greeter.serverPort());
    QVERIFY(proxy.start());
    proxy.setCutAfterBytes(4);
    Client c(proxy.port());
    QTRY_VERIFY(c.closed());
    QCOMPARE(c.received, QByteArray("0123"));
    proxy.setCutAfterBytes(0);
    Client d(proxy.port());
    QTRY_COMPARE(d.received, QByteArray("0123456789"));
    QVERIFY(!d.closed());
}

void TstFixtures::proxyCutAll()
{
    FaultProxy proxy(m_echo->serverPort());
    QVERIFY(proxy.start());
    Client a(proxy.port());
    Client b(proxy.port());
    a.socket.write("1");
    b.socket.write("2");
    QTRY_COMPARE(a.received, QByteArray("1"));
    QTRY_COMPARE(b.received, QByteArray("2"));
    QCOMPARE(proxy.openConnections(), 2);
    proxy.cutAll();
    QCOMPARE(proxy.openConnections(), 0);
    QTRY_VERIFY(a.closed());
    QTRY_VERIFY(b.closed());
    // The proxy keeps accepting after a cut.
    Client c(proxy.port());
    c.socket.write("3");
    QTRY_COMPARE(c.received, QByteArray("3"));
}

void TstFixtures::proxySwitchesUpstream()
{
    EchoServer other("B:");
    QVERIFY(other.listen(QHostAddress::LocalHost, 0));
    FaultProxy proxy(m_echo->serverPort());
    QVERIFY(proxy.start());
    Client a(proxy.port());
    a.socket.write("x");
    QTRY_COMPARE(a.received, QByteArray("x"));
    proxy.setUpstreamPort(other.serverPort());
    Client b(proxy.port());
    b.socket.write("y");
    QTRY_COMPARE(b.received, QByteArray("B:y"));
    // The established connection still goes to the first upstream.
    a.socket.write("z");
    QTRY_COMPARE(a.received, QByteArray("xz"));
}

void TstFixtures::proxyUpstreamDown()
{
    const quint16 deadPort = m_echo->serverPort();
    m_echo->close();
    FaultProxy proxy(deadPort);
    QVERIFY(proxy.start());
    Client c(proxy.port());
    c.socket.write("anyone?");
    QTRY_VERIFY(c.closed());
    QVERIFY(c.received.isEmpty());
    QTRY_COMPARE(proxy.openConnections(), 0);
}

void TstFixtures::sseReaderParsesWhatwgLineEnds()
{
    // Mixed CRLF / LF / CR line ends, a CR at a chunk end whose LF starts the next chunk, a
    // comment line, an event without data (not dispatched), retry and a multi-line data field.
    CannedServer server({ "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          "Cache-Control: no-cache\r\n\r\n",
        "retry: 1500\n\n", "event: hello\r\ndata: {\"subscription_id\":\"s-1\"}\r\n\r\n",
        ": hb\n\n", "id: 11\revent: comment\rdata: a\r", "\ndata: b\r\n\r", "\n",
        "id: 12\nevent: comment\ndata: {\"x\":1}\n\n", "event: nodata\nid: 13\n\n",
        "retry: x1\n\n" });
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    SseReader reader;
    QSignalSpy closed(&reader, &SseReader::disconnected);
    reader.open(server.serverPort(), "/videos/1/subscriptions?x=1", { { "Last-Event-ID", "10" } });
    QVERIFY(closed.wait(5000));
    QVERIFY(server.m_request.startsWith("GET /videos/1/subscriptions?x=1 HTTP/1.1\r\n"));
    QVERIFY(server.m_request.contains("\r\nLast-Event-ID: 10\r\n"));
    QVERIFY(server.m_request.contains("\r\nAccept: text/event-stream\r\n"));
    QCOMPARE(reader.status(), 200);
    QCOMPARE(reader.headers().value("content-type"), QByteArray("text/event-stream"));
    QCOMPARE(reader.retryMs(), 1500);
    QCOMPARE(reader.heartbeats(), 1);
    QCOMPARE(reader.subscriptionId(), QStringLiteral("s-1"));
    QCOMPARE(reader.comments(), (QList<quint64> { 11, 12 }));
    const QList<SseEvent> comments = reader.events("comment");
    QCOMPARE(comments.at(0).data, QByteArray("a\nb"));
    QCOMPARE(comments.at(1).json().value(QStringLiteral("x")).toInt(), 1);
    QCOMPARE(reader.events().size(), 3);
    QCOMPARE(reader.lastEventId(), QByteArray("13"));
    QVERIFY(reader.raw().startsWith("HTTP/1.1 200 OK\r\n"));
}

void TstFixtures::sseReaderDecodesChunkedBody()
{
    CannedServer server({ "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n",
        "7\r\nid: 5\ne\r\n", "15\r\nvent: comment\ndata: {\r\n", "3\r\n}\n\n\r\n", "0\r\n\r\n" });
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    SseReader reader;
    reader.open(server.serverPort(), "/s");
    QVERIFY(reader.waitForDisconnected(5000));
    QCOMPARE(reader.body(), QByteArray("id: 5\nevent: comment\ndata: {}\n\n"));
    QCOMPARE(reader.comments(), QList<quint64> { 5 });
}

void TstFixtures::mintTokenKnownAnswer()
{
    // Computed independently (Python hmac/hashlib) for this header, these claims and secret.
    const QString token
        = ServerProcess::mintToken("secret-k", QJsonObject { { "alg", "HS256" }, { "typ", "JWT" } },
            QJsonObject { { "sub", "7" }, { "name", "alice" }, { "exp", 2000000000 } });
    QCOMPARE(token,
        QStringLiteral("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                       "eyJleHAiOjIwMDAwMDAwMDAsIm5hbWUiOiJhbGljZSIsInN1YiI6IjcifQ."
                       "ZgooMPDZqAs-XpM0Vvro7FVyL0wIM-4chAaVxzG7pkw"));
    const QString none = ServerProcess::mintToken(
        "secret-k", QJsonObject { { "alg", "none" } }, QJsonObject { { "sub", "7" } });
    QVERIFY(none.endsWith(QLatin1Char('.')));
    QCOMPARE(none.count(QLatin1Char('.')), 2);
}

void TstFixtures::tokenHasClaims()
{
    ServerProcess server; // not started: token() works without a process
    const QStringList parts = server.token("42", "bob", "moderator", 60).split(QLatin1Char('.'));
    QCOMPARE(parts.size(), 3);
    const QJsonObject claims = QJsonDocument::fromJson(
        QByteArray::fromBase64(parts[1].toLatin1(), QByteArray::Base64UrlEncoding))
                                   .object();
    QCOMPARE(claims.value("sub").toString(), QStringLiteral("42"));
    QCOMPARE(claims.value("name").toString(), QStringLiteral("bob"));
    QCOMPARE(claims.value("role").toString(), QStringLiteral("moderator"));
    QCOMPARE(claims.value("exp").toInteger() - claims.value("iat").toInteger(), 60);
    QCOMPARE(server.jwtSecret(), QByteArray(kTestJwtSecret));
    ServerProcess dev({ QStringLiteral("--dev") });
    QCOMPARE(dev.jwtSecret(), QByteArray("livecomments-dev-secret"));
}

void TstFixtures::metricValueParsesPrometheusText()
{
    const QByteArray text = "# HELP lc_open_streams Open streams\n# TYPE lc_open_streams gauge\n"
                            "lc_open_streams 12\n"
                            "lc_open_streams_total 99\n"
                            "lc_http_requests_total{code=\"200\"} 5\n"
                            "lc_http_requests_total{code=\"404\"} 2 1700000000\n";
    QCOMPARE(metricValue(text, "lc_open_streams"), 12.0);
    QCOMPARE(metricValue(text, "lc_open_streams_total"), 99.0);
    QCOMPARE(metricValue(text, "lc_http_requests_total"), 5.0);
    QCOMPARE(metricValue(text, "lc_http_requests_total{code=\"404\"}"), 2.0);
    QVERIFY(std::isnan(metricValue(text, "lc_missing")));
    QVERIFY(std::isnan(metricValue(text, "lc_open")));
}

QTEST_GUILESS_MAIN(TstFixtures)
#include "tst_fixtures.moc"
