// SPDX-License-Identifier: MIT
// Regression tests for the defects a first-time app developer hit: (a) outbox entries and cached
// pages cross users and servers, (b) a hidden request before Connecting, (c) pendingPosts() right
// after create() misses restored posts, (d) no calls to end a video, delete a comment or list
// videos. Real server (and the fault proxy in front of it so the base URL survives a restart).
#include "fault_proxy.h"
#include "http_client.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#include <QTcpServer>
#include <QTcpSocket>
#include <QtTest>

#include <optional>

using namespace livecomments;

class TstSdkDefects : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void outboxBoundToUser();
    void cachedPagesBoundToServer();
    void connectingAtOnceWithoutProbe();
    void helloLastIdIsTheResumePoint();
    void endDeleteAndListVideos();

private:
    ClientConfig config(const QString& token);
    /// Texts of the video's comments on @p server as "user:text", oldest first.
    QStringList history(const lctest::ServerProcess& server, qint32 video);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::FaultProxy> m_proxy;
    QString m_alice; ///< user 7, streamer
    QString m_bob; ///< user 8
    qint32 m_video = 0;
};

void TstSdkDefects::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_proxy = std::make_unique<lctest::FaultProxy>(m_server->port());
    QVERIFY(m_proxy->start());
    m_alice = m_server->token("7", "alice", "streamer");
    m_bob = m_server->token("8", "bob", "viewer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_alice, "defects");
    QVERIFY(m_video > 0);
}

void TstSdkDefects::cleanup()
{
    m_proxy.reset();
    m_server.reset();
}

ClientConfig TstSdkDefects::config(const QString& token)
{
    auto cfg = sdktest::testConfig(m_proxy->baseUrl(), token);
    cfg.cache.path = m_dir->filePath("cache.db").toStdString();
    return cfg;
}

QStringList TstSdkDefects::history(const lctest::ServerProcess& server, qint32 video)
{
    QStringList out;
    auto page = lctest::getHistoryPage(
        server.baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(video));
    for (const auto& c : page.reply.json().value("comments").toArray()) {
        const auto o = c.toObject();
        out.prepend(
            o.value("user").toObject().value("id").toString() + ":" + o.value("text").toString());
    }
    return out;
}

void TstSdkDefects::outboxBoundToUser()
{
    QVERIFY(m_server->terminate());
    {
        auto alice = Client::create(config(m_alice));
        QVERIFY(alice);
        QVERIFY((*alice)->post(m_video, "written by alice"));
        QCOMPARE((*alice)->pendingPosts().size(), std::size_t(1));
    } // alice's comment stays queued in the cache

    QVERIFY(m_server->restart());
    m_proxy->setUpstreamPort(m_server->port());

    // Bob on the same cache file: alice's post is not his to see or to send.
    auto bob = Client::create(config(m_bob));
    QVERIFY(bob);
    QVERIFY((*bob)->pendingPosts().empty());
    std::optional<OutboxEntry> bobsPost;
    QVERIFY((*bob)->post(m_video, "written by bob", [&](const OutboxEntry& e) {
        if (e.state != PostState::Pending)
            bobsPost = e;
    }));
    // The outbox is first in, first out: had alice's entry been restored it would go first.
    QTRY_VERIFY_WITH_TIMEOUT(bobsPost.has_value(), 15000);
    QCOMPARE(bobsPost->state, PostState::Sent);
    QCOMPARE(history(*m_server, m_video), QStringList { "8:written by bob" });
    bob = Error {};

    // Alice again: her entry is listed at once (defect c) and goes out as hers, once.
    std::size_t restored = 99;
    std::vector<OutboxEntry> sent;
    auto cfg = config(m_alice);
    cfg.onOutbox = [&](const OutboxEntry& e) {
        if (e.state == PostState::Sent)
            sent.push_back(e);
    };
    auto alice = Client::create(cfg);
    QVERIFY(alice);
    const auto pending = (*alice)->pendingPosts();
    QCOMPARE(pending.size(), std::size_t(1));
    QCOMPARE(pending.front().text, std::string("written by alice"));
    restored = pending.size();
    QTRY_COMPARE_WITH_TIMEOUT(sent.size(), std::size_t(1), 15000);
    QCOMPARE(restored, std::size_t(1));
    QCOMPARE(sent.front().comment->user.id, std::string("7"));
    QCOMPARE(
        history(*m_server, m_video), (QStringList { "8:written by bob", "7:written by alice" }));
}

void TstSdkDefects::cachedPagesBoundToServer()
{
    for (const auto& text : lctest::texts("first server", 3))
        QCOMPARE(lctest::postComment(m_server->baseUrl(), m_alice, m_video, text).status, 201);
    {
        auto client = Client::create(config(m_alice));
        QVERIFY(client);
        auto timeline = (*client)->openTimeline(m_video, {});
        QVERIFY(timeline);
        QTRY_COMPARE_WITH_TIMEOUT((*timeline)->size(), std::size_t(3), 15000);
    } // the three comments are in the cache now

    // A second server whose video has the same id but other comments.
    lctest::ServerProcess other;
    QVERIFY(other.start());
    const QString otherToken = other.token("7", "alice", "streamer");
    QCOMPARE(lctest::createVideo(other.baseUrl(), otherToken, "other"), m_video);
    QCOMPARE(
        lctest::postComment(other.baseUrl(), otherToken, m_video, "second server").status, 201);

    std::vector<Error> errors;
    auto cfg = sdktest::testConfig(other.baseUrl(), otherToken);
    cfg.cache.path = m_dir->filePath("cache.db").toStdString();
    cfg.onError = [&](const Error& e) { errors.push_back(e); };
    auto client = Client::create(cfg);
    QVERIFY(client);
    std::vector<Comment> seen;
    TimelineCallbacks cbs;
    cbs.onChange = [&](const TimelineChange& c) {
        seen.insert(seen.end(), c.comments.begin(), c.comments.end());
    };
    auto timeline = (*client)->openTimeline(m_video, cbs);
    QVERIFY(timeline);
    QTRY_COMPARE_WITH_TIMEOUT((*timeline)->size(), std::size_t(1), 15000);
    QTRY_VERIFY(!(*timeline)->status().fillingGap);
    // Not even for a moment did the first server's comments show.
    for (const auto& c : seen)
        QCOMPARE(c.text, std::string("second server"));
    QCOMPARE((*timeline)->snapshot().front().text, std::string("second server"));
    QTRY_COMPARE(errors.size(), std::size_t(1));
    QCOMPARE(errors.front().code, ErrorCode::Cache); // the dropped pages are reported
}

void TstSdkDefects::connectingAtOnceWithoutProbe()
{
    // A server that accepts and then never answers.
    QTcpServer silent;
    QVERIFY(silent.listen(QHostAddress::LocalHost, 0));
    QList<QTcpSocket*> sockets;
    QByteArray firstRequest;
    connect(&silent, &QTcpServer::newConnection, this, [&] {
        while (auto* s = silent.nextPendingConnection()) {
            sockets.append(s);
            connect(s, &QTcpSocket::readyRead, this, [&, s] { firstRequest += s->readAll(); });
        }
    });
    auto cfg
        = sdktest::testConfig(QUrl(QStringLiteral("http://127.0.0.1:%1").arg(silent.serverPort())));
    cfg.requestTimeout = std::chrono::milliseconds(30000);
    auto client = Client::create(cfg);
    QVERIFY(client);
    QList<StreamState> states;
    SubscriptionCallbacks cbs;
    cbs.onStatus = [&](const StreamStatus& s) { states.append(s.state); };
    QElapsedTimer timer;
    timer.start();
    auto sub = (*client)->subscribe(42, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(!states.isEmpty(), 1000);
    QCOMPARE(states.front(), StreamState::Connecting);
    QVERIFY2(timer.elapsed() < 1000, QByteArray::number(timer.elapsed()));
    // The one request is the stream itself, not a history probe.
    QTRY_VERIFY(firstRequest.contains("\r\n\r\n"));
    QVERIFY2(firstRequest.startsWith("GET /videos/42/subscriptions "), firstRequest.constData());
    QCOMPARE(sockets.size(), 1);
    QCOMPARE((*client)->requestCount(), std::int64_t(1));
}

void TstSdkDefects::helloLastIdIsTheResumePoint()
{
    const auto before = lctest::postComment(m_server->baseUrl(), m_alice, m_video, "old");
    QCOMPARE(before.status, 201);
    const quint64 oldId = before.json().value("id").toString().toULongLong();
    auto client = Client::create(config(m_alice));
    QVERIFY(client);
    QList<Hello> hellos;
    QList<Comment> comments;
    QStringList resets;
    SubscriptionCallbacks cbs;
    cbs.onHello = [&](const Hello& h) { hellos.append(h); };
    cbs.onComment = [&](const Comment& c) { comments.append(c); };
    cbs.onReset = [&](const std::string& r) { resets.append(QString::fromStdString(r)); };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_COMPARE_WITH_TIMEOUT(hellos.size(), 1, 10000);
    QVERIFY(hellos.front().lastIdKnown);
    QCOMPARE(hellos.front().lastId, CommentId(oldId));
    QCOMPARE((*client)->requestCount(), std::int64_t(1)); // the stream only
    QCOMPARE((*sub)->connectionAttempts(), 1);

    // An outage before the first live comment: the comment written meanwhile still arrives,
    // once, and the old one never does.
    m_proxy->setRefusing(true);
    m_proxy->cutAll();
    QTRY_VERIFY((*sub)->status().state == StreamState::Reconnecting);
    QCOMPARE(
        lctest::postComment(m_server->baseUrl(), m_alice, m_video, "during outage").status, 201);
    m_proxy->setRefusing(false);
    QTRY_COMPARE_WITH_TIMEOUT(comments.size(), 1, 15000);
    QCOMPARE(comments.front().text, std::string("during outage"));
    QTRY_VERIFY(hellos.size() >= 2);
    QVERIFY(hellos.back().resumed);
    QVERIFY(resets.isEmpty());
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_alice, m_video, "live").status, 201);
    QTRY_COMPARE(comments.size(), 2);
    QCOMPARE(comments.back().text, std::string("live"));
}

void TstSdkDefects::endDeleteAndListVideos()
{
    auto client = Client::create(config(m_alice));
    QVERIFY(client);
    QList<CommentId> deleted;
    QList<VideoId> ended;
    QList<Comment> comments;
    bool live = false;
    SubscriptionCallbacks cbs;
    cbs.onHello = [&](const Hello&) { live = true; };
    cbs.onComment = [&](const Comment& c) { comments.append(c); };
    cbs.onDeleted = [&](CommentId id) { deleted.append(id); };
    cbs.onEnded = [&](VideoId v) { ended.append(v); };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(live, 10000);

    std::optional<Result<std::vector<Video>>> listed;
    (*client)->listVideos({}, [&](Result<std::vector<Video>> r) { listed = std::move(r); });
    QTRY_VERIFY(listed.has_value());
    QVERIFY(*listed);
    QCOMPARE((*listed)->size(), std::size_t(1));
    QCOMPARE((*listed)->front().id, m_video);
    QCOMPARE((*listed)->front().status, std::string("live"));

    QVERIFY((*client)->post(m_video, "to be deleted"));
    QTRY_COMPARE_WITH_TIMEOUT(comments.size(), 1, 10000);
    const CommentId id = comments.front().id;

    // Somebody else may not delete it.
    auto bobCfg = config(m_bob);
    bobCfg.cache.path.clear();
    auto bob = Client::create(bobCfg);
    QVERIFY(bob);
    std::optional<Result<void>> bobDeleted;
    (*bob)->deleteComment(m_video, id, [&](Result<void> r) { bobDeleted = r; });
    QTRY_VERIFY(bobDeleted.has_value());
    QVERIFY(!*bobDeleted);
    QCOMPARE(bobDeleted->error().code, ErrorCode::Forbidden);

    std::optional<Result<void>> removed;
    (*client)->deleteComment(m_video, id, [&](Result<void> r) { removed = r; });
    QTRY_VERIFY(removed.has_value());
    QVERIFY2(*removed, removed->has_value() ? "" : removed->error().message.c_str());
    QTRY_COMPARE(deleted, QList<CommentId> { id });
    QVERIFY(history(*m_server, m_video).isEmpty());

    std::optional<Result<Video>> end;
    (*client)->endVideo(m_video, [&](Result<Video> r) { end = std::move(r); });
    QTRY_VERIFY(end.has_value());
    QVERIFY(*end);
    QCOMPARE((*end)->status, std::string("ended"));
    QTRY_COMPARE(ended, QList<VideoId> { m_video });
    QVERIFY((*sub)->ended());

    listed.reset();
    (*client)->listVideos({ "ended", 5 }, [&](Result<std::vector<Video>> r) { listed = r; });
    QTRY_VERIFY(listed.has_value());
    QVERIFY(*listed);
    QCOMPARE((*listed)->size(), std::size_t(1));
    QCOMPARE((*listed)->front().status, std::string("ended"));
    listed.reset();
    (*client)->listVideos({ "live", 5 }, [&](Result<std::vector<Video>> r) { listed = r; });
    QTRY_VERIFY(listed.has_value());
    QVERIFY(*listed);
    QVERIFY((*listed)->empty());

    // Bad arguments fail through the callback, never inline.
    std::optional<Result<std::vector<Video>>> bad;
    (*client)->listVideos({ "soon", 5 }, [&](Result<std::vector<Video>> r) { bad = r; });
    QVERIFY(!bad.has_value());
    QTRY_VERIFY(bad.has_value());
    QCOMPARE(bad->error().code, ErrorCode::InvalidArgument);
}

QTEST_GUILESS_MAIN(TstSdkDefects)
#include "tst_sdk_defects.moc"
