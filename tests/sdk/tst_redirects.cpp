// SPDX-License-Identifier: MIT
// Redirects (301/302/303/307/308) are followed by the core for requests and streams, and so by
// `livecomments events`: at most 5 hops, Last-Event-ID kept on every hop, Authorization dropped
// once a hop leaves the origin, 303 (and 301/302 after POST) turned into GET. A small in-test
// redirecting server sits in front of the real server (through the fault proxy, to cut streams).
// Every case but the CLI's runs for both HTTP backends (libcurl, and Qt Network when the Qt
// binding is built): the backends never follow a redirect themselves, the core does.
#include "fault_proxy.h"
#include "http_client.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#ifdef LC_TEST_QT_BACKEND
#include "livecomments/qt/qt_network_backend.h"
#endif

#include <QProcess>
#include <QTcpServer>
#include <QTcpSocket>
#include <QtTest>

#include <mutex>
#include <optional>

using namespace livecomments;

namespace {

/// One request as the redirector saw it.
struct SeenRequest {
    QByteArray method;
    QByteArray path;
    QByteArray host;
    QMap<QByteArray, QByteArray> headers; ///< names lower-cased
    QByteArray body;
};

/// Answers every request with a redirect, by path:
///   /hop/<code>/<n>/<rest>  → <code>, Location /hop/<code>/<n-1>/<rest> (same origin), and
///                             for n == 1 the target's absolute URL + /<rest>
///   /x/<code>/<rest>        → <code>, Location http://localhost:<own port>/hop/<code>/1/<rest>
///                             (another origin: the host differs)
///   /loop/<rest>            → 302 to itself (never ends)
class Redirector : public QObject {
public:
    explicit Redirector(QUrl target)
        : m_target(std::move(target))
    {
        m_server.listen(QHostAddress::LocalHost, 0);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = m_server.nextPendingConnection()) {
                connect(s, &QTcpSocket::readyRead, s, [this, s] { onData(s); });
                connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            }
        });
    }
    QString base(const QString& prefix) const
    {
        return QStringLiteral("http://127.0.0.1:%1%2").arg(m_server.serverPort()).arg(prefix);
    }
    void setTarget(QUrl target) { m_target = std::move(target); }
    QList<SeenRequest> seen;

private:
    void onData(QTcpSocket* s)
    {
        QByteArray& buf = m_buffers[s];
        buf += s->readAll();
        const int end = buf.indexOf("\r\n\r\n");
        if (end < 0)
            return;
        SeenRequest r;
        const QList<QByteArray> lines = buf.left(end).split('\n');
        const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
        r.method = first.value(0);
        r.path = first.value(1);
        for (int i = 1; i < lines.size(); ++i) {
            const int colon = lines[i].indexOf(':');
            if (colon > 0)
                r.headers[lines[i].left(colon).trimmed().toLower()]
                    = lines[i].mid(colon + 1).trimmed();
        }
        const int length = r.headers.value("content-length").toInt();
        if (buf.size() < end + 4 + length)
            return; // wait for the body
        r.body = buf.mid(end + 4, length);
        r.host = r.headers.value("host");
        m_buffers.remove(s);
        seen.append(r);

        const QList<QByteArray> parts = r.path.split('/'); // "", kind, ...
        QByteArray code = "302";
        QByteArray location;
        if (parts.value(1) == "hop" && parts.size() >= 4) {
            code = parts[2];
            const int n = parts[3].toInt();
            const QByteArray rest = parts.mid(4).join('/');
            location = n > 1 ? "/hop/" + code + "/" + QByteArray::number(n - 1) + "/" + rest
                             : m_target.toString(QUrl::StripTrailingSlash).toUtf8() + "/" + rest;
        } else if (parts.value(1) == "x" && parts.size() >= 3) {
            code = parts[2];
            location = "http://localhost:" + QByteArray::number(m_server.serverPort()) + "/hop/"
                + code + "/1/" + parts.mid(3).join('/');
        } else {
            location = r.path;
        }
        s->write("HTTP/1.1 " + code + " Moved\r\nLocation: " + location
            + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        s->disconnectFromHost();
    }

    QTcpServer m_server;
    QUrl m_target;
    QHash<QTcpSocket*, QByteArray> m_buffers;
};

} // namespace

class TstRedirects : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void requestsFollow_data();
    void requestsFollow();
    void postKeptBy307DroppedToGetBy303_data() { backends(); }
    void postKeptBy307DroppedToGetBy303();
    void authorizationDroppedAcrossOrigins_data() { backends(); }
    void authorizationDroppedAcrossOrigins();
    void tooManyRedirectsFail_data() { backends(); }
    void tooManyRedirectsFail();
    void streamFollowsAndKeepsLastEventId_data();
    void streamFollowsAndKeepsLastEventId();
    void logHookTellsWhatHappens_data() { backends(); }
    void logHookTellsWhatHappens();
    void cliEventsFollows_data();
    void cliEventsFollows();

private:
    /// The HTTP backends under test: "curl", and "qtnetwork" when the Qt binding is built.
    static QStringList backendNames();
    /// The "backend" column with one row per backend.
    static void backends();
    /// A test config whose base URL is the redirector's @p prefix, on the row's backend.
    ClientConfig config(const QString& prefix, const QString& token = {}) const;

    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::FaultProxy> m_proxy;
    std::unique_ptr<Redirector> m_redirector;
    QString m_token;
    qint32 m_video = 0;
};

QStringList TstRedirects::backendNames()
{
    QStringList names { QStringLiteral("curl") };
#ifdef LC_TEST_QT_BACKEND
    names << QStringLiteral("qtnetwork");
#endif
    return names;
}

void TstRedirects::backends()
{
    QTest::addColumn<QString>("backend");
    for (const auto& b : backendNames())
        QTest::newRow(qPrintable(b)) << b;
}

ClientConfig TstRedirects::config(const QString& prefix, const QString& token) const
{
    QFETCH(QString, backend);
    auto cfg = sdktest::testConfig(QUrl(m_redirector->base(prefix)), token);
#ifdef LC_TEST_QT_BACKEND
    if (backend == QLatin1String("qtnetwork"))
        cfg.httpBackend = std::make_shared<qt::QtNetworkBackend>();
#else
    Q_UNUSED(backend);
#endif
    return cfg;
}

void TstRedirects::init()
{
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_proxy = std::make_unique<lctest::FaultProxy>(m_server->port());
    QVERIFY(m_proxy->start());
    m_redirector = std::make_unique<Redirector>(m_proxy->baseUrl());
    m_token = m_server->token("7", "alice", "streamer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "redirects");
    QVERIFY(m_video > 0);
}

void TstRedirects::cleanup()
{
    m_redirector.reset();
    m_proxy.reset();
    m_server.reset();
}

void TstRedirects::requestsFollow_data()
{
    QTest::addColumn<QString>("backend");
    QTest::addColumn<QString>("prefix");
    QTest::addColumn<int>("hops");
    for (const auto& b : backendNames()) {
        for (const char* code : { "301", "302", "303", "307", "308" })
            QTest::addRow("%s/%s", qPrintable(b), code)
                << b << QStringLiteral("/hop/%1/5").arg(code) << 5;
    }
}

void TstRedirects::requestsFollow()
{
    QFETCH(QString, prefix);
    QFETCH(int, hops);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "hello").status, 201);
    auto client = Client::create(config(prefix));
    QVERIFY(client);
    std::optional<Result<Video>> video;
    (*client)->fetchVideo(m_video, [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(video.has_value(), 10000);
    QVERIFY2(*video, video->has_value() ? "" : video->error().message.c_str());
    QCOMPARE((*video)->id, m_video);
    std::optional<Result<HistoryPage>> page;
    (*client)->fetchHistory(m_video, {}, [&](Result<HistoryPage> r) { page = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(page.has_value(), 10000);
    QVERIFY(*page);
    QCOMPARE((*page)->comments.size(), std::size_t(1));
    QCOMPARE(m_redirector->seen.size(), 2 * hops); // every hop of both requests
    QCOMPARE((*client)->requestCount(), std::int64_t(2 * (hops + 1)));
}

void TstRedirects::postKeptBy307DroppedToGetBy303()
{
    // A same-origin 307 chain keeps POST, body and Authorization on every hop; the last hop
    // leaves the origin (to the real server), so it loses Authorization and the server says 401.
    auto cfg = config(QStringLiteral("/hop/307/2"), m_token);
    auto client = Client::create(cfg);
    QVERIFY(client);
    std::optional<OutboxEntry> done;
    QVERIFY((*client)->post(m_video, "through 307", [&](const OutboxEntry& e) {
        if (e.state != PostState::Pending)
            done = e;
    }));
    QTRY_VERIFY_WITH_TIMEOUT(done.has_value(), 10000);
    QCOMPARE(m_redirector->seen.size(), 2);
    for (const auto& r : m_redirector->seen) {
        QCOMPARE(r.method, QByteArray("POST"));
        QCOMPARE(r.body, QByteArray("{\"text\":\"through 307\"}"));
        QCOMPARE(r.headers.value("authorization"), ("Bearer " + m_token).toUtf8());
        QVERIFY(!r.headers.value("idempotency-key").isEmpty());
    }
    QCOMPARE(done->state, PostState::Failed);
    QCOMPARE(done->error->code, ErrorCode::Unauthorized);

    // 303: the next hop is a GET without body (and so no comment is created).
    m_redirector->seen.clear();
    std::optional<Result<Video>> created;
    auto client2 = Client::create(config(QStringLiteral("/hop/303/2"), m_token));
    QVERIFY(client2);
    (*client2)->createVideo("see other", [&](Result<Video> r) { created = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(created.has_value(), 10000);
    QCOMPARE(m_redirector->seen.size(), 2);
    QCOMPARE(m_redirector->seen[0].method, QByteArray("POST"));
    QCOMPARE(m_redirector->seen[1].method, QByteArray("GET"));
    QVERIFY(m_redirector->seen[1].body.isEmpty());
    QVERIFY(!m_redirector->seen[1].headers.contains("content-type"));
}

void TstRedirects::authorizationDroppedAcrossOrigins()
{
    // 127.0.0.1 → localhost (another origin) → localhost (same origin as the previous hop).
    auto client = Client::create(config(QStringLiteral("/x/308"), m_token));
    QVERIFY(client);
    std::optional<Result<Video>> video;
    (*client)->fetchVideo(m_video, [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(video.has_value(), 10000);
    QVERIFY(*video); // public read: works without the token at the end
    QCOMPARE(m_redirector->seen.size(), 2);
    QVERIFY(m_redirector->seen[0].host.startsWith("127.0.0.1:"));
    QCOMPARE(m_redirector->seen[0].headers.value("authorization"), ("Bearer " + m_token).toUtf8());
    QVERIFY(m_redirector->seen[1].host.startsWith("localhost:"));
    QVERIFY(!m_redirector->seen[1].headers.contains("authorization"));
}

void TstRedirects::tooManyRedirectsFail()
{
    auto client = Client::create(config(QStringLiteral("/loop")));
    QVERIFY(client);
    std::optional<Result<Video>> video;
    (*client)->fetchVideo(m_video, [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(video.has_value(), 10000);
    QVERIFY(!*video);
    QCOMPARE(video->error().code, ErrorCode::HttpError);
    QCOMPARE(m_redirector->seen.size(), 6); // the request and 5 hops

    // A stream gives up the same way, for good.
    m_redirector->seen.clear();
    QList<StreamStatus> states;
    SubscriptionCallbacks cbs;
    cbs.onStatus = [&](const StreamStatus& s) { states.append(s); };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(
        !states.isEmpty() && states.last().state == StreamState::Closed, 10000);
    QCOMPARE(states.last().error->code, ErrorCode::HttpError);
    QCOMPARE(m_redirector->seen.size(), 6);
}

void TstRedirects::streamFollowsAndKeepsLastEventId_data()
{
    QTest::addColumn<QString>("backend");
    QTest::addColumn<QString>("prefix");
    for (const auto& b : backendNames()) {
        QTest::addRow("%s/301", qPrintable(b)) << b << QStringLiteral("/hop/301/2");
        QTest::addRow("%s/307", qPrintable(b)) << b << QStringLiteral("/hop/307/2");
    }
}

void TstRedirects::streamFollowsAndKeepsLastEventId()
{
    QFETCH(QString, prefix);
    auto client = Client::create(config(prefix));
    QVERIFY(client);
    QList<Comment> comments;
    QList<Hello> hellos;
    SubscriptionCallbacks cbs;
    cbs.onComment = [&](const Comment& c) { comments.append(c); };
    cbs.onHello = [&](const Hello& h) { hellos.append(h); };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_COMPARE_WITH_TIMEOUT(hellos.size(), 1, 10000);
    QCOMPARE((*sub)->status().state, StreamState::Live);
    QCOMPARE(m_redirector->seen.size(), 2);
    const auto first = lctest::postComment(m_server->baseUrl(), m_token, m_video, "one");
    QTRY_COMPARE_WITH_TIMEOUT(comments.size(), 1, 10000);
    const QByteArray lastId = first.json().value("id").toString().toUtf8();

    // Cut the stream; the reconnect goes through both hops again carrying Last-Event-ID, and
    // what was posted meanwhile arrives once.
    m_redirector->seen.clear();
    m_proxy->setRefusing(true);
    m_proxy->cutAll();
    QTRY_VERIFY((*sub)->status().state == StreamState::Reconnecting);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "two").status, 201);
    m_proxy->setRefusing(false);
    QTRY_COMPARE_WITH_TIMEOUT(comments.size(), 2, 15000);
    QCOMPARE(comments[1].text, std::string("two"));
    QTRY_VERIFY(hellos.size() >= 2);
    QVERIFY(hellos.last().resumed);
    QVERIFY(m_redirector->seen.size() >= 2);
    const auto& last = m_redirector->seen.mid(m_redirector->seen.size() - 2);
    for (const auto& r : last)
        QCOMPARE(r.headers.value("last-event-id"), lastId);
    QCOMPARE(comments.size(), 2);
}

void TstRedirects::logHookTellsWhatHappens()
{
    std::mutex mutex;
    QStringList lines; // "level: message", filled on the I/O thread
    auto cfg = config(QStringLiteral("/hop/301/1"));
    cfg.onLog = [&](LogLevel level, const std::string& message) {
        std::lock_guard<std::mutex> lock(mutex);
        lines << QString::fromLatin1(logLevelName(level)) + ": " + QString::fromStdString(message);
    };
    auto has = [&](const QString& level, const QString& part) {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto& l : lines) {
            if (l.startsWith(level + ": ") && l.contains(part))
                return true;
        }
        return false;
    };
    auto client = Client::create(cfg);
    QVERIFY(client);
    std::optional<Result<Video>> video;
    (*client)->fetchVideo(m_video, [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(video.has_value(), 10000);
    QVERIFY(has("debug", "HTTP 301 redirect: GET " + m_redirector->base("/hop/301/1")));
    auto sub = (*client)->subscribe(m_video, {});
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(has("info", "stream live"), 10000);
    QVERIFY(has("debug", "stream redirect 301"));
    m_proxy->cutAll();
    QTRY_VERIFY_WITH_TIMEOUT(has("warning", "reconnecting in"), 10000);
}

void TstRedirects::cliEventsFollows_data()
{
    QTest::addColumn<QString>("code");
    QTest::newRow("301") << QStringLiteral("301");
    QTest::newRow("307") << QStringLiteral("307");
}

void TstRedirects::cliEventsFollows()
{
    QFETCH(QString, code);
    const QString cli = qEnvironmentVariable("LC_CLI_BIN");
    QVERIFY2(!cli.isEmpty(), "LC_CLI_BIN is not set");
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "before").status, 201);
    const auto c = lctest::postComment(m_server->baseUrl(), m_token, m_video, "replayed");
    QCOMPARE(c.status, 201);
    QProcess p;
    // Resume from id 1: the replay brings both comments, after hello.
    p.start(cli,
        { "events",
            m_redirector->base(
                QStringLiteral("/hop/%1/3/videos/%2/subscriptions").arg(code).arg(m_video)),
            "--last-event-id=1", "--max-events=3", "--timeout-ms=20000" });
    QVERIFY(p.waitForStarted(10000));
    QTRY_VERIFY_WITH_TIMEOUT(p.state() == QProcess::NotRunning, 30000);
    const QByteArray err = p.readAllStandardError();
    QVERIFY2(p.exitCode() == 0, err.constData());
    const QList<QByteArray> lines = p.readAllStandardOutput().trimmed().split('\n');
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].contains("\"type\":\"hello\""));
    QVERIFY(lines[1].contains("before"));
    QVERIFY(lines[2].contains("replayed"));
    QCOMPARE(m_redirector->seen.size(), 3);
    for (const auto& r : m_redirector->seen)
        QCOMPARE(r.headers.value("last-event-id"), QByteArray("1"));
}

QTEST_GUILESS_MAIN(TstRedirects)
#include "tst_redirects.moc"
