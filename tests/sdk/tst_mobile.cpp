// SPDX-License-Identifier: MIT
// The mobile life cycle against the real server: suspend() closes the streams and pauses the
// outbox while keeping their state, resume() picks up with Last-Event-ID, networkChanged() and
// reconnectNow() skip the backoff wait. Nothing is lost and nothing is delivered twice.
#include "fault_proxy.h"
#include "http_client.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#include <QtTest>

#include <optional>

using namespace livecomments;

namespace {
struct Live {
    QList<Comment> comments;
    QList<Hello> hellos;
    QList<StreamStatus> states;
    QStringList resets;
    QStringList texts() const
    {
        QStringList out;
        for (const auto& c : comments)
            out << QString::fromStdString(c.text);
        return out;
    }
    SubscriptionCallbacks callbacks()
    {
        SubscriptionCallbacks cbs;
        cbs.onComment = [this](const Comment& c) { comments.append(c); };
        cbs.onHello = [this](const Hello& h) { hellos.append(h); };
        cbs.onStatus = [this](const StreamStatus& s) { states.append(s); };
        cbs.onReset = [this](const std::string& r) { resets << QString::fromStdString(r); };
        return cbs;
    }
};
} // namespace

class TstMobile : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void suspendResumeLosesAndDoublesNothing();
    void networkChangedReconnectsAtOnce();
    void reconnectNowSkipsTheBackoffWait();

private:
    /// Texts of the video's comments on the server, oldest first.
    QStringList history();
    /// The server's count of open streams of the video.
    int viewers();
    /// Waits until every command queued on the client's loop so far has run.
    void drain(Client& client);

    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::FaultProxy> m_proxy;
    QString m_token;
    qint32 m_video = 0;
};

void TstMobile::init()
{
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_proxy = std::make_unique<lctest::FaultProxy>(m_server->port());
    QVERIFY(m_proxy->start());
    m_token = m_server->token("7", "alice", "streamer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "mobile");
    QVERIFY(m_video > 0);
}

void TstMobile::cleanup()
{
    m_proxy.reset();
    m_server.reset();
}

QStringList TstMobile::history()
{
    QStringList texts;
    auto page = lctest::getHistoryPage(
        m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(m_video));
    for (const auto& c : page.reply.json().value("comments").toArray())
        texts.prepend(c.toObject().value("text").toString());
    return texts;
}

int TstMobile::viewers()
{
    const auto reply = lctest::http(
        "GET", lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1").arg(m_video)));
    return reply.json().value("viewers").toInt(-1);
}

void TstMobile::drain(Client& client)
{
    // A request is queued behind every earlier command; its answer means they all ran.
    bool done = false;
    client.fetchVideo(m_video, [&](Result<Video>) { done = true; });
    QTRY_VERIFY_WITH_TIMEOUT(done, 10000);
}

void TstMobile::suspendResumeLosesAndDoublesNothing()
{
    auto client = Client::create(sdktest::testConfig(m_proxy->baseUrl(), m_token));
    QVERIFY(client);
    Live live;
    auto sub = (*client)->subscribe(m_video, live.callbacks());
    QVERIFY(sub);
    std::vector<Comment> timelineSeq;
    TimelineCallbacks tcb;
    auto timeline = (*client)->openTimeline(m_video, tcb);
    QVERIFY(timeline);
    QTRY_COMPARE_WITH_TIMEOUT(live.hellos.size(), 1, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(viewers(), 2, 10000); // the subscription's and the timeline's
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "before").status, 201);
    QTRY_COMPARE_WITH_TIMEOUT(live.texts(), QStringList { "before" }, 10000);
    QTRY_COMPARE_WITH_TIMEOUT((*timeline)->size(), std::size_t(1), 10000);

    (*client)->suspend();
    QTRY_VERIFY(!live.states.isEmpty() && live.states.last().suspended);
    QCOMPARE(live.states.last().state, StreamState::Reconnecting);
    // Both streams closed: the server counts no viewer (the pooled keep-alive connection of the
    // history requests may stay open, so the proxy's connection count proves nothing).
    QTRY_COMPARE_WITH_TIMEOUT(viewers(), 0, 10000);
    const int attempts = (*sub)->connectionAttempts();

    // While suspended: our own post waits, somebody else's lands on the server.
    std::vector<OutboxEntry> updates;
    QVERIFY((*client)->post(
        m_video, "mine while away", [&](const OutboxEntry& e) { updates.push_back(e); }));
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "theirs while away").status,
        201);
    drain(**client);
    QCOMPARE((*client)->pendingPosts().size(), std::size_t(1));
    QCOMPARE((*client)->pendingPosts().front().attempts, 0);
    QCOMPARE(history(), (QStringList { "before", "theirs while away" }));
    QCOMPARE((*sub)->connectionAttempts(), attempts); // no reconnect by itself
    QCOMPARE(viewers(), 0);
    (*client)->suspend(); // idempotent

    (*client)->resume();
    QTRY_COMPARE_WITH_TIMEOUT(
        live.texts(), (QStringList { "before", "theirs while away", "mine while away" }), 15000);
    QTRY_VERIFY((*client)->pendingPosts().empty());
    QCOMPARE(updates.back().state, PostState::Sent);
    QVERIFY(live.hellos.size() >= 2);
    QVERIFY(live.hellos[1].resumed); // resumed with Last-Event-ID, not a fresh start
    QVERIFY(live.resets.isEmpty());
    QCOMPARE(history(), (QStringList { "before", "theirs while away", "mine while away" }));
    // The timeline kept its sequence and got the rest once.
    QTRY_COMPARE_WITH_TIMEOUT((*timeline)->size(), std::size_t(3), 10000);
    QStringList seq;
    for (const auto& c : (*timeline)->snapshot())
        seq << QString::fromStdString(c.text);
    QCOMPARE(seq, (QStringList { "before", "theirs while away", "mine while away" }));
    // Nothing more trickles in afterwards.
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "after").status, 201);
    QTRY_COMPARE(live.comments.size(), 4);
    QCOMPARE(live.texts().last(), QStringLiteral("after"));
}

void TstMobile::networkChangedReconnectsAtOnce()
{
    auto cfg = sdktest::testConfig(m_proxy->baseUrl(), m_token);
    // A backoff far beyond the test's patience: only networkChanged() can bring it back in time.
    cfg.backoff.initial = cfg.backoff.minimum = cfg.backoff.cap = std::chrono::minutes(5);
    auto client = Client::create(cfg);
    QVERIFY(client);
    Live live;
    auto sub = (*client)->subscribe(m_video, live.callbacks());
    QVERIFY(sub);
    QTRY_COMPARE_WITH_TIMEOUT(live.hellos.size(), 1, 10000);

    // A live stream is restarted too (its socket may belong to the old network).
    const int attempts = (*sub)->connectionAttempts();
    (*client)->networkChanged();
    QTRY_COMPARE_WITH_TIMEOUT(live.hellos.size(), 2, 10000);
    QCOMPARE((*sub)->connectionAttempts(), attempts + 1);

    // Down, waiting minutes: networkChanged() skips the wait; what was missed arrives once.
    m_proxy->setRefusing(true);
    m_proxy->cutAll();
    QTRY_VERIFY(!live.states.isEmpty() && live.states.last().state == StreamState::Reconnecting);
    QVERIFY(live.states.last().delay >= std::chrono::minutes(5));
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "missed").status, 201);
    m_proxy->setRefusing(false);
    (*client)->networkChanged();
    QTRY_COMPARE_WITH_TIMEOUT(live.texts(), QStringList { "missed" }, 5000);
    QCOMPARE((*sub)->status().state, StreamState::Live);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "live").status, 201);
    QTRY_COMPARE(live.texts(), (QStringList { "missed", "live" }));
}

void TstMobile::reconnectNowSkipsTheBackoffWait()
{
    auto cfg = sdktest::testConfig(m_proxy->baseUrl(), m_token);
    cfg.backoff.initial = cfg.backoff.minimum = cfg.backoff.cap = std::chrono::minutes(5);
    auto client = Client::create(cfg);
    QVERIFY(client);
    // The outbox waits minutes after a failure, too.
    m_proxy->setRefusing(true);
    std::vector<OutboxEntry> updates;
    QVERIFY(
        (*client)->post(m_video, "retry me", [&](const OutboxEntry& e) { updates.push_back(e); }));
    QTRY_VERIFY_WITH_TIMEOUT(
        !updates.empty() && updates.back().attempts == 1 && updates.back().error, 10000);
    m_proxy->setRefusing(false);
    (*client)->reconnectNow();
    QTRY_VERIFY_WITH_TIMEOUT(updates.back().state == PostState::Sent, 5000);
    QCOMPARE(updates.back().attempts, 2);
    QCOMPARE(history(), QStringList { "retry me" });
}

QTEST_GUILESS_MAIN(TstMobile)
#include "tst_mobile.moc"
