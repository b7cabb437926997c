// SPDX-License-Identifier: MIT
// HTTP/1.1 framing by RFC 9112, table-driven: each row is raw bytes on a fresh connection, the
// status it must get and whether the connection stays usable or is closed. Rows that carry a
// comment text also check that the comment was NOT stored (an incomplete or ambiguous message is
// never processed).
#include "http_client.h"
#include "raw_client.h"
#include "server_process.h"

#include <QJsonArray>
#include <QTest>

using namespace lctest;

class TstFraming : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void framing_data();
    void framing();
    void expectContinueSmallGetsContinue();
    void errorBodiesAreSafeJson();
    void pipelinedRequestsAnsweredInOrder();

private:
    /// A POST of `body` to the test video's comments with the token and `extra` header lines.
    QByteArray post(const QByteArray& extra, const QByteArray& body) const;
    bool stored(const QByteArray& text) const;

    std::unique_ptr<ServerProcess> m_server;
    QByteArray m_token;
    qint32 m_video = 0;
};

void TstFraming::initTestCase()
{
    m_server = std::make_unique<ServerProcess>(QStringList { QStringLiteral("--max-body=65536") });
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer").toUtf8();
    m_video = createVideo(m_server->baseUrl(), QString::fromUtf8(m_token), "framing");
    QVERIFY(m_video > 0);
}

QByteArray TstFraming::post(const QByteArray& extra, const QByteArray& body) const
{
    return "POST /videos/" + QByteArray::number(m_video)
        + "/comments HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + m_token
        + "\r\nContent-Type: application/json\r\n" + extra + "\r\n" + body;
}

bool TstFraming::stored(const QByteArray& text) const
{
    const auto r = http("GET",
        endpoint(
            m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(m_video)));
    return r.body.contains(text);
}

void TstFraming::framing_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<bool>("halfClose");
    QTest::addColumn<int>("status");
    QTest::addColumn<bool>("closed");
    QTest::addColumn<QByteArray>("mustNotStore");

    const QByteArray body = R"({"text":"framing-ok"})";
    auto len = [](const QByteArray& b) { return QByteArray::number(b.size()); };
    auto row = [](const char* name) -> QTestData& { return QTest::newRow(name); };

    // Content-Length and Transfer-Encoding.
    const QByteArray smuggled = R"({"text":"smuggled-te"})";
    row("CL+TE") << post(
        "Content-Length: " + len(smuggled) + "\r\nTransfer-Encoding: chunked\r\n", smuggled)
                 << false << 400 << true << QByteArray("smuggled-te");
    row("TE+CL, second request hidden in the body")
        << post("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
               "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        << false << 400 << true << QByteArray();
    row("differing duplicate CL") << post("Content-Length: " + len(body)
            + "\r\nContent-Length: " + QByteArray::number(body.size() + 1) + "\r\n",
        body) << false << 400 << true
                                  << QByteArray();
    const QByteArray same = R"({"text":"same-dup-cl"})";
    row("identical duplicate CL is one length")
        << post("Content-Length: " + len(same) + "\r\nContent-Length: " + len(same) + "\r\n", same)
        << false << 201 << false << QByteArray();
    row("CL abc") << post("Content-Length: abc\r\n", body) << false << 400 << true << QByteArray();
    row("CL list 18, 18") << post("Content-Length: 18, 18\r\n", body) << false << 400 << true
                          << QByteArray();
    row("CL overflow") << post("Content-Length: 18446744073709551617\r\n", body) << false << 400
                       << true << QByteArray();
    row("CL hex") << post("Content-Length: 0x15\r\n", body) << false << 400 << true << QByteArray();
    row("CL negative") << post("Content-Length: -1\r\n", body) << false << 400 << true
                       << QByteArray();
    row("CL plus sign") << post("Content-Length: +21\r\n", body) << false << 400 << true
                        << QByteArray();
    row("CL empty") << post("Content-Length:\r\n", body) << false << 400 << true << QByteArray();
    row("TE gzip") << post("Transfer-Encoding: gzip\r\n", body) << false << 501 << true
                   << QByteArray();
    row("TE chunked twice") << post("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n") << false
                            << 400 << true << QByteArray();

    // Incomplete messages: never processed.
    const QByteArray shortBody = R"({"text":"short-body-halfclose"})";
    row("short body + half-close")
        << post("Content-Length: " + QByteArray::number(shortBody.size() + 10) + "\r\n", shortBody)
        << true << 400 << true << QByteArray("short-body-halfclose");
    const QByteArray chunk = R"({"text":"no-last-chunk"})";
    row("chunked without last chunk + half-close")
        << post("Transfer-Encoding: chunked\r\n",
               QByteArray::number(chunk.size(), 16) + "\r\n" + chunk + "\r\n")
        << true << 400 << true << QByteArray("no-last-chunk");
    row("head cut + half-close") << QByteArray("GET /healthz HTTP/1.1\r\nHost: t\r\n") << true
                                 << 400 << true << QByteArray();
    const QByteArray chunked = R"({"text":"chunked-ok"})";
    row("chunked with extension and trailer") << post("Transfer-Encoding: chunked\r\n",
        "5;ext=1\r\n" + chunked.left(5) + "\r\n" + QByteArray::number(chunked.size() - 5, 16)
            + "\r\n" + chunked.mid(5) + "\r\n0\r\nX-Trailer: y\r\n\r\n")
                                              << false << 201 << false << QByteArray();
    row("chunk data longer than its size")
        << post("Transfer-Encoding: chunked\r\n", "2\r\nabc\r\n0\r\n\r\n") << false << 400 << true
        << QByteArray();
    row("chunk size overflow") << post(
        "Transfer-Encoding: chunked\r\n", "fffffffffffffffff\r\nab\r\n0\r\n\r\n")
                               << false << 400 << true << QByteArray();
    row("1-byte chunks: small body, oversized encoding")
        << post("Transfer-Encoding: chunked\r\n", QByteArray("1\r\na\r\n").repeated(30000)) << false
        << 413 << true << QByteArray();
    row("chunk size not hex") << post("Transfer-Encoding: chunked\r\n", "zz\r\nab\r\n0\r\n\r\n")
                              << false << 400 << true << QByteArray();

    // Host and versions.
    row("HTTP/1.1 without Host") << QByteArray("GET /healthz HTTP/1.1\r\n\r\n") << false << 400
                                 << true << QByteArray();
    row("two Host fields") << QByteArray("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
                           << false << 400 << true << QByteArray();
    row("HTTP/1.0 without Host, closes")
        << QByteArray("GET /healthz HTTP/1.0\r\n\r\n") << false << 200 << true << QByteArray();
    row("HTTP/1.0 keep-alive") << QByteArray(
        "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                               << false << 200 << false << QByteArray();
    row("HTTP/1.1 Connection: close")
        << QByteArray("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n") << false
        << 200 << true << QByteArray();
    row("HTTP/1.2 is answered as 1.1") << QByteArray("GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n")
                                       << false << 200 << false << QByteArray();
    row("FOO/1.1") << QByteArray("GET /healthz FOO/1.1\r\nHost: t\r\n\r\n") << false << 400 << true
                   << QByteArray();
    row("lower-case http/1.1") << QByteArray("GET /healthz http/1.1\r\nHost: t\r\n\r\n") << false
                               << 400 << true << QByteArray();
    row("HTTP/2.0") << QByteArray("GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n") << false << 505
                    << true << QByteArray();
    row("HTTP/0.9") << QByteArray("GET /healthz HTTP/0.9\r\nHost: t\r\n\r\n") << false << 505
                    << true << QByteArray();
    row("HTTP/1.10") << QByteArray("GET /healthz HTTP/1.10\r\nHost: t\r\n\r\n") << false << 400
                     << true << QByteArray();
    row("no version") << QByteArray("GET /healthz\r\nHost: t\r\n\r\n") << false << 400 << true
                      << QByteArray();

    // Line syntax.
    row("bare CR in a field") << QByteArray("GET /healthz HTTP/1.1\r\nHost: t\rX: y\r\n\r\n")
                              << false << 400 << true << QByteArray();
    row("bare LF line ending") << QByteArray("GET /healthz HTTP/1.1\nHost: t\n\n") << false << 400
                               << true << QByteArray();
    row("obs-fold") << QByteArray("GET /healthz HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n") << false
                    << 400 << true << QByteArray();
    row("space before colon") << QByteArray("GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n") << false
                              << 400 << true << QByteArray();
    row("NUL in a field value") << QByteArray("GET /healthz HTTP/1.1\r\nHost: t\r\nX: a")
            + QByteArray(1, '\0') + QByteArray("b\r\n\r\n")
                                << false << 400 << true << QByteArray();
    row("double space in request line") << QByteArray("GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                                        << false << 400 << true << QByteArray();
    row("leading empty line is ignored")
        << QByteArray("\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n") << false << 200 << false
        << QByteArray();

    // Sizes decided before reading.
    row("Expect 100-continue with a too large CL")
        << post("Content-Length: 2000000\r\nExpect: 100-continue\r\n", {}) << false << 413 << true
        << QByteArray();
    row("URI too long") << QByteArray(
        "GET /" + QByteArray(9000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n")
                        << false << 414 << true << QByteArray();
    row("head too large") << QByteArray(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX: " + QByteArray(17000, 'a') + "\r\n\r\n")
                          << false << 431 << true << QByteArray();
    QByteArray many = "GET /healthz HTTP/1.1\r\nHost: t\r\n";
    for (int i = 0; i < 101; ++i)
        many += "X-" + QByteArray::number(i) + ": v\r\n";
    row("too many fields") << many + "\r\n" << false << 431 << true << QByteArray();
}

void TstFraming::framing()
{
    QFETCH(QByteArray, request);
    QFETCH(bool, halfClose);
    QFETCH(int, status);
    QFETCH(bool, closed);
    QFETCH(QByteArray, mustNotStore);

    RawClient c;
    QVERIFY(c.connect(m_server->port()));
    c.send(request);
    if (halfClose)
        c.shutdownWrite();
    const RawResponse r = c.read();
    QCOMPARE(r.status, status);
    // Whatever the request line said, we answer in HTTP/1.1.
    QVERIFY2(r.statusLine.startsWith("HTTP/1.1 "), r.statusLine.constData());
    QVERIFY2(!c.pending().contains("100 Continue") && r.status != 100, "unexpected 100 Continue");
    if (status >= 400) {
        QVERIFY2(!r.errorCode().isEmpty(), r.body.constData());
        QCOMPARE(r.header("content-type"), QByteArray("application/json"));
    }
    if (closed) {
        QVERIFY2(c.waitClosed(), "the connection should be closed");
        QVERIFY2(c.pending().isEmpty(), c.pending().constData()); // nothing after the error
    } else {
        c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        QCOMPARE(c.read().status, 200);
    }
    if (!mustNotStore.isEmpty())
        QVERIFY2(!stored(mustNotStore), "an incomplete or ambiguous request was processed");
}

void TstFraming::expectContinueSmallGetsContinue()
{
    const QByteArray body = R"({"text":"after-continue"})";
    RawClient c;
    QVERIFY(c.connect(m_server->port()));
    c.send(post(
        "Content-Length: " + QByteArray::number(body.size()) + "\r\nExpect: 100-continue\r\n", {}));
    QCOMPARE(c.read().status, 100);
    c.send(body);
    QCOMPARE(c.read().status, 201);
    QVERIFY(stored("after-continue"));
}

void TstFraming::errorBodiesAreSafeJson()
{
    // A token-shaped path and raw invalid UTF-8: neither may come back in the message.
    const QByteArray jwtish = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    for (const QByteArray& target : { QByteArray("/") + jwtish,
             QByteArray("/videos/1/") + jwtish + "/x", QByteArray("/\xff\xfe") }) {
        RawClient c;
        QVERIFY(c.connect(m_server->port()));
        c.send("GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n");
        const RawResponse r = c.read();
        QVERIFY2(r.status == 404 || r.status == 400, r.statusLine.constData());
        QVERIFY2(!r.errorCode().isEmpty(), r.body.constData());
        QVERIFY2(!r.body.contains("eyJ"), r.body.constData());
        QVERIFY2(QString::fromUtf8(r.body).toUtf8() == r.body, "error body is not valid UTF-8");
        QVERIFY(!r.body.contains('\xff'));
    }
}

void TstFraming::pipelinedRequestsAnsweredInOrder()
{
    RawClient c;
    QVERIFY(c.connect(m_server->port()));
    QByteArray burst;
    for (int i = 0; i < 5; ++i)
        burst += "GET /videos/" + QByteArray::number(i % 2 ? m_video : 999999)
            + " HTTP/1.1\r\nHost: t\r\n\r\n";
    c.send(burst);
    for (int i = 0; i < 5; ++i)
        QCOMPARE(c.read().status, i % 2 ? 200 : 404);
    c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(c.read().status, 200);
}

QTEST_GUILESS_MAIN(TstFraming)
#include "tst_framing.moc"
