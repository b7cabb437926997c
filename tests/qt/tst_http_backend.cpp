// SPDX-License-Identifier: MIT
// One HttpBackend suite, run for both backends (libcurl = makeCurlBackend(), Qt Network =
// QtNetworkBackend) against the real server, and through the FaultProxy for 5xx, refused
// connections, stalls and cut streams. Everything above the backend (reconnects, SSE decoding,
// the outbox, the Timeline) is the core's and is covered by tst_transport / tst_live_session for
// both backends.
#include "livecomments/qt/qt_network_backend.h"

#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"

#include <QTcpServer>
#include <QtTest>

#include <memory>
#include <mutex>

using livecomments::ErrorCode;
using livecomments::HttpBackend;
using livecomments::HttpBackendRequest;
using livecomments::HttpBackendSink;
using livecomments::HttpHeaders;

namespace {

/// Records the events of one request (the backend calls it from its own thread).
class Recorder final : public HttpBackendSink {
    template <typename Fn> auto locked(Fn fn) const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return fn();
    }

public:
    void onHead(int status, HttpHeaders headers) override
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        ++m_heads;
        m_status = status;
        m_headers = std::move(headers);
        m_eventsBeforeHead = m_chunks + m_dones;
    }
    void onData(std::string_view chunk) override
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        ++m_chunks;
        m_body.append(chunk);
    }
    void onDone(std::optional<livecomments::Error> error) override
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        ++m_dones;
        m_error = std::move(error);
    }
    int heads() const
    {
        return locked([this] { return m_heads; });
    }
    int dones() const
    {
        return locked([this] { return m_dones; });
    }
    int chunks() const
    {
        return locked([this] { return m_chunks; });
    }
    int status() const
    {
        return locked([this] { return m_status; });
    }
    std::string body() const
    {
        return locked([this] { return m_body; });
    }
    std::optional<livecomments::Error> error() const
    {
        return locked([this] { return m_error; });
    }
    int eventsBeforeHead() const
    {
        return locked([this] { return m_eventsBeforeHead; });
    }
    std::string header(const std::string& name) const
    {
        return locked([&] {
            for (const auto& [n, v] : m_headers) {
                if (n == name)
                    return v;
            }
            return std::string();
        });
    }

private:
    mutable std::mutex m_mutex;
    int m_heads = 0;
    int m_chunks = 0;
    int m_dones = 0;
    int m_status = 0;
    int m_eventsBeforeHead = 0;
    HttpHeaders m_headers;
    std::string m_body;
    std::optional<livecomments::Error> m_error;
};

} // namespace

class TstHttpBackend : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void statusHeadersAndBody_data() { backends(); }
    void statusHeadersAndBody();
    void postSendsMethodHeadersAndBody_data() { backends(); }
    void postSendsMethodHeadersAndBody();
    void clientErrorIsAResponse_data() { backends(); }
    void clientErrorIsAResponse();
    void serverErrorIsAResponse_data() { backends(); }
    void serverErrorIsAResponse();
    void streamDeliversChunksAsTheyCome_data() { backends(); }
    void streamDeliversChunksAsTheyCome();
    void cancelIsQuietAndClosesTheConnection_data() { backends(); }
    void cancelIsQuietAndClosesTheConnection();
    void cutStreamEnds_data() { backends(); }
    void cutStreamEnds();
    void cutInsideTheHeadIsANetworkError_data() { backends(); }
    void cutInsideTheHeadIsANetworkError();
    void refusedConnectionIsANetworkError_data() { backends(); }
    void refusedConnectionIsANetworkError();
    void silentServerTimesOut_data() { backends(); }
    void silentServerTimesOut();

private:
    void backends();
    std::shared_ptr<HttpBackend> make();
    HttpBackendRequest get(const QUrl& base, const QString& path) const;
    /// The event stream of m_video on @p base.
    HttpBackendRequest stream(const QUrl& base) const;

    std::unique_ptr<lctest::ServerProcess> m_server;
    QString m_streamerToken;
    qint32 m_video = 0;
};

void TstHttpBackend::backends()
{
    QTest::addColumn<QString>("backend");
    QTest::newRow("curl") << QStringLiteral("curl");
    QTest::newRow("qtnetwork") << QStringLiteral("qtnetwork");
}

std::shared_ptr<HttpBackend> TstHttpBackend::make()
{
    QFETCH(QString, backend);
    std::shared_ptr<HttpBackend> b;
    if (backend == QLatin1String("curl"))
        b = livecomments::makeCurlBackend();
    else
        b = std::make_shared<livecomments::qt::QtNetworkBackend>();
    if (b && QString::fromLatin1(b->name()) != backend)
        return nullptr;
    return b;
}

HttpBackendRequest TstHttpBackend::get(const QUrl& base, const QString& path) const
{
    HttpBackendRequest r;
    r.url = lctest::endpoint(base, path).toString().toStdString();
    r.headers.emplace_back("Accept", "application/json");
    return r;
}

HttpBackendRequest TstHttpBackend::stream(const QUrl& base) const
{
    auto req = get(base, QStringLiteral("/videos/%1/subscriptions").arg(m_video));
    req.headers = { { "Accept", "text/event-stream" } };
    req.stream = true;
    return req;
}

void TstHttpBackend::initTestCase()
{
    m_server = std::make_unique<lctest::ServerProcess>(
        QStringList { QStringLiteral("--heartbeat-ms=1000") });
    QVERIFY2(m_server->start(), m_server->log().constData());
    m_streamerToken
        = m_server->token(QStringLiteral("7"), QStringLiteral("alice"), QStringLiteral("streamer"));
}

void TstHttpBackend::init()
{
    m_video = lctest::createVideo(m_server->baseUrl(), m_streamerToken, QStringLiteral("backend"));
    QVERIFY(m_video > 0);
}

void TstHttpBackend::statusHeadersAndBody()
{
    auto backend = make();
    QVERIFY(backend);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_streamerToken, m_video, "one").status, 201);
    auto sink = std::make_shared<Recorder>();
    backend->start(
        1, get(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video)), sink);
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QCOMPARE(sink->heads(), 1);
    QCOMPARE(sink->eventsBeforeHead(), 0); // the head comes first
    QVERIFY(!sink->error());
    QCOMPARE(sink->status(), 200);
    QVERIFY(sink->header("content-type").find("application/json") == 0); // names lower-cased
    QVERIFY(!sink->header("etag").empty());
    const auto json = QJsonDocument::fromJson(QByteArray::fromStdString(sink->body())).object();
    QCOMPARE(json.value(QStringLiteral("comments")).toArray().size(), 1);

    // A conditional request with that ETag: 304, no body.
    auto again = std::make_shared<Recorder>();
    auto req = get(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video));
    req.headers.emplace_back("If-None-Match", sink->header("etag"));
    backend->start(2, req, again);
    QTRY_COMPARE_WITH_TIMEOUT(again->dones(), 1, 10000);
    QVERIFY(!again->error());
    QCOMPARE(again->status(), 304);
    QVERIFY(again->body().empty());
}

void TstHttpBackend::postSendsMethodHeadersAndBody()
{
    auto backend = make();
    QVERIFY(backend);
    HttpBackendRequest r;
    r.method = "POST";
    r.url
        = lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video))
              .toString()
              .toStdString();
    r.headers = { { "Content-Type", "application/json" },
        { "Authorization", "Bearer " + m_streamerToken.toStdString() },
        { "Idempotency-Key", "backend-suite-key-1" } };
    r.body = R"({"text":"via the backend"})";
    r.userAgent = "backend-suite/1";
    auto sink = std::make_shared<Recorder>();
    backend->start(7, r, sink);
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QVERIFY(!sink->error());
    QCOMPARE(sink->status(), 201);
    const auto json = QJsonDocument::fromJson(QByteArray::fromStdString(sink->body())).object();
    QCOMPARE(json.value(QStringLiteral("text")).toString(), QStringLiteral("via the backend"));
    // The same key again: the server replays the first result (the header reached it).
    auto replay = std::make_shared<Recorder>();
    backend->start(8, r, replay);
    QTRY_COMPARE_WITH_TIMEOUT(replay->dones(), 1, 10000);
    QCOMPARE(replay->header("idempotent-replayed"), std::string("true"));
}

void TstHttpBackend::clientErrorIsAResponse()
{
    auto backend = make();
    QVERIFY(backend);
    auto sink = std::make_shared<Recorder>();
    backend->start(1, get(m_server->baseUrl(), QStringLiteral("/videos/987654")), sink);
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QVERIFY2(!sink->error(), sink->error() ? sink->error()->message.c_str() : "");
    QCOMPARE(sink->status(), 404);
    QVERIFY(sink->body().find("\"error\"") != std::string::npos);

    // 401 too: no credentials dance, the core decides.
    HttpBackendRequest post;
    post.method = "POST";
    post.url
        = lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos")).toString().toStdString();
    post.headers = { { "Content-Type", "application/json" } };
    post.body = R"({"title":"x"})";
    auto unauthorized = std::make_shared<Recorder>();
    backend->start(2, post, unauthorized);
    QTRY_COMPARE_WITH_TIMEOUT(unauthorized->dones(), 1, 10000);
    QVERIFY(!unauthorized->error());
    QCOMPARE(unauthorized->status(), 401);
}

void TstHttpBackend::serverErrorIsAResponse()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    proxy.setHttpError(503, "Retry-After: 7\r\n");
    auto backend = make();
    QVERIFY(backend);
    auto sink = std::make_shared<Recorder>();
    backend->start(1, get(proxy.baseUrl(), QStringLiteral("/videos/%1").arg(m_video)), sink);
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QVERIFY(!sink->error());
    QCOMPARE(sink->status(), 503);
    QCOMPARE(sink->header("retry-after"), std::string("7"));
}

void TstHttpBackend::streamDeliversChunksAsTheyCome()
{
    auto backend = make();
    QVERIFY(backend);
    auto req = stream(m_server->baseUrl());
    req.timeout = std::chrono::milliseconds(500); // ignored for streams
    auto sink = std::make_shared<Recorder>();
    backend->start(1, req, sink);
    QTRY_VERIFY_WITH_TIMEOUT(sink->body().find("event: hello") != std::string::npos, 10000);
    QCOMPARE(sink->status(), 200);
    QVERIFY(sink->header("content-type").find("text/event-stream") == 0);
    const int before = sink->chunks();
    const auto r = lctest::postComment(m_server->baseUrl(), m_streamerToken, m_video, "streamed");
    QCOMPARE(r.status, 201);
    // The comment arrives while the response is still open: a chunk, not the end of a body.
    QTRY_VERIFY_WITH_TIMEOUT(sink->body().find("event: comment") != std::string::npos, 10000);
    QVERIFY(sink->chunks() > before);
    QCOMPARE(sink->dones(), 0);
    // Heartbeats keep coming past the 500 ms "timeout": streams have none.
    const std::size_t size = sink->body().size();
    QTRY_VERIFY_WITH_TIMEOUT(sink->body().size() > size + 3, 5000);
    QCOMPARE(sink->dones(), 0);
    backend->cancel(1);
}

void TstHttpBackend::cancelIsQuietAndClosesTheConnection()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto backend = make();
    QVERIFY(backend);
    auto sink = std::make_shared<Recorder>();
    backend->start(5, stream(proxy.baseUrl()), sink);
    QTRY_VERIFY_WITH_TIMEOUT(sink->body().find("event: hello") != std::string::npos, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(proxy.openConnections(), 1, 5000);
    backend->cancel(5);
    QTRY_COMPARE_WITH_TIMEOUT(proxy.openConnections(), 0, 10000);
    // An intentional abort reports no error (at most a plain end).
    QVERIFY(!sink->error());
    backend->cancel(5); // twice, and for an unknown id: no-ops
    backend->cancel(999);
}

void TstHttpBackend::cutStreamEnds()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto backend = make();
    QVERIFY(backend);
    auto sink = std::make_shared<Recorder>();
    backend->start(1, stream(proxy.baseUrl()), sink);
    QTRY_VERIFY_WITH_TIMEOUT(sink->body().find("event: hello") != std::string::npos, 10000);
    proxy.cutAll();
    // A reset mid-stream ends the request; the core turns that into a reconnect.
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QCOMPARE(sink->heads(), 1);
}

void TstHttpBackend::cutInsideTheHeadIsANetworkError()
{
    // The connection closes after a few bytes of the response head: inside the status line,
    // right after it, inside a header line. No head may be reported (a "200" without its
    // Content-Type would pass for a wrong answer, which the stream never retries); the request
    // ends with a network error, which the core retries.
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto backend = make();
    QVERIFY(backend);
    HttpBackend::RequestId id = 0;
    for (const qint64 cut : { 5, 12, 17, 19, 30, 45 }) {
        proxy.setCutAfterBytes(cut);
        for (const bool streaming : { false, true }) {
            auto sink = std::make_shared<Recorder>();
            backend->start(++id,
                streaming ? stream(proxy.baseUrl())
                          : get(proxy.baseUrl(), QStringLiteral("/videos/%1").arg(m_video)),
                sink);
            const QByteArray what
                = "cut after " + QByteArray::number(cut) + (streaming ? " (stream)" : " (GET)");
            QTRY_VERIFY2_WITH_TIMEOUT(sink->dones() == 1, what.constData(), 10000);
            QVERIFY2(sink->error(), what.constData());
            QVERIFY2(sink->error()->code == ErrorCode::Network,
                (what + ": " + QByteArray::fromStdString(sink->error()->message)).constData());
            QVERIFY2(sink->heads() == 0, what.constData());
        }
    }
}

void TstHttpBackend::refusedConnectionIsANetworkError()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    proxy.setRefusing(true);
    auto backend = make();
    QVERIFY(backend);
    auto sink = std::make_shared<Recorder>();
    backend->start(1, get(proxy.baseUrl(), QStringLiteral("/videos/%1").arg(m_video)), sink);
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QVERIFY(sink->error());
    QCOMPARE(sink->error()->code, ErrorCode::Network);
    QCOMPARE(sink->heads(), 0);

    // Nobody listening at all: a port that was just free.
    quint16 freePort = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        freePort = probe.serverPort();
    }
    QUrl nowhere = proxy.baseUrl();
    nowhere.setPort(freePort);
    auto closed = std::make_shared<Recorder>();
    backend->start(2, get(nowhere, QStringLiteral("/videos/%1").arg(m_video)), closed);
    QTRY_COMPARE_WITH_TIMEOUT(closed->dones(), 1, 10000);
    QVERIFY(closed->error());
    QCOMPARE(closed->error()->code, ErrorCode::Network);
}

void TstHttpBackend::silentServerTimesOut()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    proxy.setStalled(true);
    auto backend = make();
    QVERIFY(backend);
    auto req = get(proxy.baseUrl(), QStringLiteral("/videos/%1").arg(m_video));
    req.timeout = std::chrono::milliseconds(800);
    req.connectTimeout = std::chrono::milliseconds(800);
    auto sink = std::make_shared<Recorder>();
    QElapsedTimer clock;
    clock.start();
    backend->start(1, req, sink);
    QTRY_COMPARE_WITH_TIMEOUT(sink->dones(), 1, 10000);
    QVERIFY(sink->error());
    QCOMPARE(sink->error()->code, ErrorCode::Timeout);
    QVERIFY2(clock.elapsed() < 5000, QByteArray::number(clock.elapsed()));
}

QTEST_GUILESS_MAIN(TstHttpBackend)
#include "tst_http_backend.moc"
