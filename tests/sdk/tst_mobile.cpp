// SPDX-License-Identifier: MIT
// The mobile life cycle against the real server: suspend() closes the streams and pauses the
// outbox while keeping their state, resume() picks up with Last-Event-ID, networkChanged() and
// reconnectNow() skip the backoff wait. Nothing is lost and nothing is delivered twice.
#include "sdk_server_fixture.h"
#include "sdk_test_util.h"

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
    /// Waits until every command queued on the client's loop so far has run.
    void drain(Client& client);

    sdktest::ServerFixture m_fx;
};

void TstMobile::init()
{
    QVERIFY(m_fx.start("mobile"));
}

void TstMobile::cleanup()
{
    m_fx.stop();
}

void TstMobile::drain(Client& client)
{
    // A request is queued behind every earlier command; its answer means they all ran.
    bool done = false;
    client.fetchVideo(m_fx.video, [&](Result<Video>) { done = true; });
    QTRY_VERIFY_WITH_TIMEOUT(done, 10000);
}

void TstMobile::suspendResumeLosesAndDoublesNothing()
{
    auto client = Client::create(sdktest::testConfig(m_fx.proxy->baseUrl(), m_fx.token));
    QVERIFY(client);
    Live live;
    auto sub = (*client)->subscribe(m_fx.video, live.callbacks());
    QVERIFY(sub);
    std::vector<Comment> timelineSeq;
    TimelineCallbacks tcb;
    auto timeline = (*client)->openTimeline(m_fx.video, tcb);
    QVERIFY(timeline);
    QTRY_COMPARE_WITH_TIMEOUT(live.hellos.size(), 1, 10000);
    // The subscription and the timeline share one stream: the server sees one viewer.
    QTRY_COMPARE_WITH_TIMEOUT(m_fx.viewers(), 1, 10000);
    QCOMPARE(
        lctest::postComment(m_fx.server->baseUrl(), m_fx.token, m_fx.video, "before").status, 201);
    QTRY_COMPARE_WITH_TIMEOUT(live.texts(), QStringList { "before" }, 10000);
    QTRY_COMPARE_WITH_TIMEOUT((*timeline)->size(), std::size_t(1), 10000);

    (*client)->suspend();
    QTRY_VERIFY(!live.states.isEmpty() && live.states.last().suspended);
    QCOMPARE(live.states.last().state, StreamState::Reconnecting);
    // The shared stream closed: the server counts no viewer (the pooled keep-alive connection of
    // the history requests may stay open, so the proxy's connection count proves nothing).
    QTRY_COMPARE_WITH_TIMEOUT(m_fx.viewers(), 0, 10000);
    const int attempts = (*sub)->connectionAttempts();

    // While suspended: our own post waits, somebody else's lands on the server.
    std::vector<OutboxEntry> updates;
    QVERIFY((*client)->post(
        m_fx.video, "mine while away", [&](const OutboxEntry& e) { updates.push_back(e); }));
    QCOMPARE(
        lctest::postComment(m_fx.server->baseUrl(), m_fx.token, m_fx.video, "theirs while away")
            .status,
        201);
    drain(**client);
    QCOMPARE((*client)->pendingPosts().size(), std::size_t(1));
    QCOMPARE((*client)->pendingPosts().front().attempts, 0);
    QCOMPARE(m_fx.history(), (QStringList { "before", "theirs while away" }));
    QCOMPARE((*sub)->connectionAttempts(), attempts); // no reconnect by itself
    QCOMPARE(m_fx.viewers(), 0);
    (*client)->suspend(); // idempotent

    (*client)->resume();
    QTRY_COMPARE_WITH_TIMEOUT(
        live.texts(), (QStringList { "before", "theirs while away", "mine while away" }), 15000);
    QTRY_VERIFY((*client)->pendingPosts().empty());
    QCOMPARE(updates.back().state, PostState::Sent);
    QVERIFY(live.hellos.size() >= 2);
    QVERIFY(live.hellos[1].resumed); // resumed with Last-Event-ID, not a fresh start
    QVERIFY(live.resets.isEmpty());
    QCOMPARE(m_fx.history(), (QStringList { "before", "theirs while away", "mine while away" }));
    // The timeline kept its sequence and got the rest once.
    QTRY_COMPARE_WITH_TIMEOUT((*timeline)->size(), std::size_t(3), 10000);
    QStringList seq;
    for (const auto& c : (*timeline)->snapshot())
        seq << QString::fromStdString(c.text);
    QCOMPARE(seq, (QStringList { "before", "theirs while away", "mine while away" }));
    // Nothing more trickles in afterwards.
    QCOMPARE(
        lctest::postComment(m_fx.server->baseUrl(), m_fx.token, m_fx.video, "after").status, 201);
    QTRY_COMPARE(live.comments.size(), 4);
    QCOMPARE(live.texts().last(), QStringLiteral("after"));
}

void TstMobile::networkChangedReconnectsAtOnce()
{
    auto cfg = sdktest::testConfig(m_fx.proxy->baseUrl(), m_fx.token);
    // A backoff far beyond the test's patience: only networkChanged() can bring it back in time.
    cfg.backoff.initial = cfg.backoff.minimum = cfg.backoff.cap = std::chrono::minutes(5);
    auto client = Client::create(cfg);
    QVERIFY(client);
    Live live;
    auto sub = (*client)->subscribe(m_fx.video, live.callbacks());
    QVERIFY(sub);
    QTRY_COMPARE_WITH_TIMEOUT(live.hellos.size(), 1, 10000);

    // A live stream is restarted too (its socket may belong to the old network).
    const int attempts = (*sub)->connectionAttempts();
    (*client)->networkChanged();
    QTRY_COMPARE_WITH_TIMEOUT(live.hellos.size(), 2, 10000);
    QCOMPARE((*sub)->connectionAttempts(), attempts + 1);

    // Down, waiting minutes: networkChanged() skips the wait; what was missed arrives once.
    m_fx.proxy->setRefusing(true);
    m_fx.proxy->cutAll();
    QTRY_VERIFY(!live.states.isEmpty() && live.states.last().state == StreamState::Reconnecting);
    QVERIFY(live.states.last().delay >= std::chrono::minutes(5));
    QCOMPARE(
        lctest::postComment(m_fx.server->baseUrl(), m_fx.token, m_fx.video, "missed").status, 201);
    m_fx.proxy->setRefusing(false);
    (*client)->networkChanged();
    QTRY_COMPARE_WITH_TIMEOUT(live.texts(), QStringList { "missed" }, 5000);
    QCOMPARE((*sub)->status().state, StreamState::Live);
    QCOMPARE(
        lctest::postComment(m_fx.server->baseUrl(), m_fx.token, m_fx.video, "live").status, 201);
    QTRY_COMPARE(live.texts(), (QStringList { "missed", "live" }));
}

void TstMobile::reconnectNowSkipsTheBackoffWait()
{
    auto cfg = sdktest::testConfig(m_fx.proxy->baseUrl(), m_fx.token);
    cfg.backoff.initial = cfg.backoff.minimum = cfg.backoff.cap = std::chrono::minutes(5);
    auto client = Client::create(cfg);
    QVERIFY(client);
    // The outbox waits minutes after a failure, too.
    m_fx.proxy->setRefusing(true);
    std::vector<OutboxEntry> updates;
    QVERIFY((*client)->post(
        m_fx.video, "retry me", [&](const OutboxEntry& e) { updates.push_back(e); }));
    QTRY_VERIFY_WITH_TIMEOUT(
        !updates.empty() && updates.back().attempts == 1 && updates.back().error, 10000);
    m_fx.proxy->setRefusing(false);
    (*client)->reconnectNow();
    QTRY_VERIFY_WITH_TIMEOUT(updates.back().state == PostState::Sent, 5000);
    QCOMPARE(updates.back().attempts, 2);
    QCOMPARE(m_fx.history(), QStringList { "retry me" });
}

QTEST_GUILESS_MAIN(TstMobile)
#include "tst_mobile.moc"
