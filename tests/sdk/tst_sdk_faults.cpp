// SPDX-License-Identifier: MIT
// The SDK's live stream through a fault-injecting proxy in front of the real server (heartbeats
// every 300 ms): cuts mid-event, stalls (heartbeat watchdog), refused connections (backoff grows,
// then resets), 503/429/401 answers, and a random fault script while 500 comments are posted.
#include "fault_proxy.h"
#include "http_client.h"
#include "sdk_recorder.h"
#include "server_process.h"
#include "test_support.h"

#include <QRandomGenerator>
#include <QtTest>

#include <atomic>
#include <thread>

using namespace livecomments;
using sdktest::SubscriptionRecorder;

class TstSdkFaults : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();
    void cutMidEvent();
    void cutInsideResponseHead();
    void stallFiresHeartbeatWatchdog();
    void refusedConnectionsBackOffThenReset();
    void httpErrorAnswers();
    void outageBeforeFirstCommentLosesNothing();
    void endedVideoStopsReconnecting();
    void randomFaultsWhilePosting500();

private:
    /// A client with a live subscription to m_video through the proxy.
    struct Live {
        std::unique_ptr<Client> client;
        SubscriptionRecorder rec;
        std::unique_ptr<Subscription> sub;
    };
    /// Opens @p live and waits for the first hello (check QTest::currentTestFailed() after).
    void openLive(Live& live, std::optional<ClientConfig> config = {});
    QList<quint64> postMany(qint32 video, int count, const QString& prefix);

    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::FaultProxy> m_proxy;
    QString m_token;
    qint32 m_video = 0;
};

void TstSdkFaults::initTestCase()
{
    // retry: 50 ms so the client's backoff base is small and its growth visible.
    m_server = std::make_unique<lctest::ServerProcess>(
        QStringList { "--heartbeat-ms=300", "--retry-ms=50" });
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
}

void TstSdkFaults::init()
{
    m_proxy = std::make_unique<lctest::FaultProxy>(m_server->port());
    QVERIFY(m_proxy->start());
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "faults");
    QVERIFY(m_video > 0);
}

void TstSdkFaults::cleanup()
{
    m_proxy.reset();
}

void TstSdkFaults::openLive(Live& live, std::optional<ClientConfig> config)
{
    auto client
        = Client::create(config ? *config : sdktest::testConfig(m_proxy->baseUrl(), m_token));
    QVERIFY(client);
    live.client = std::move(*client);
    auto sub = live.client->subscribe(m_video, live.rec.callbacks());
    QVERIFY(sub);
    live.sub = std::move(*sub);
    QTRY_COMPARE(live.rec.hellos.size(), 1);
}

QList<quint64> TstSdkFaults::postMany(qint32 video, int count, const QString& prefix)
{
    QStringList texts;
    for (int i = 0; i < count; ++i)
        texts << prefix + QString::number(i);
    // Posts go straight to the server: only the subscriber's path has faults.
    return lctest::sorted(lctest::acknowledgedIds(
        lctest::postComments(m_server->baseUrl(), m_token, video, texts, 4)));
}

void TstSdkFaults::endedVideoStopsReconnecting()
{
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    const QList<quint64> ids = postMany(m_video, 2, "before end ");
    QTRY_COMPARE(rec.ids.size(), 2);
    QVERIFY(!live->sub->ended());

    // The streamer ends the video on the real server.
    const auto end = lctest::http("POST",
        lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/end").arg(m_video)), {},
        lctest::bearer(m_token));
    QCOMPARE(end.status, 200);
    QTRY_COMPARE(rec.ended, QList<VideoId> { m_video });
    QVERIFY(live->sub->ended());
    QCOMPARE(live->sub->status().state, StreamState::Live); // the server keeps the stream open

    // Deletions still arrive on it.
    const auto del = lctest::http("DELETE",
        lctest::endpoint(m_server->baseUrl(),
            QStringLiteral("/videos/%1/comments/%2").arg(m_video).arg(ids.first())),
        {}, lctest::bearer(m_token));
    QCOMPARE(del.status, 204);
    QTRY_COMPARE(rec.deleted, QList<quint64> { ids.first() });

    // When it drops, nothing is resumed: Closed without error, no reconnect attempt.
    const int attempts = live->sub->connectionAttempts();
    const int from = rec.states.size();
    m_proxy->cutAll();
    QTRY_COMPARE(rec.state(), StreamState::Closed);
    QVERIFY(!rec.states.last().error.has_value());
    QCOMPARE(rec.countState(StreamState::Reconnecting, {}, from), 0);
    QCOMPARE(live->sub->connectionAttempts(), attempts);
    QCOMPARE(live->sub->status().state, StreamState::Closed);
    QCOMPARE(rec.ended.size(), 1);
}

void TstSdkFaults::cutMidEvent()
{
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    auto& sub = live->sub;
    QList<quint64> expected = postMany(m_video, 10, "a");
    QTRY_COMPARE(rec.ids.size(), 10);
    m_proxy->cutAll();
    expected += postMany(m_video, 10, "b");
    // Every connection is now cut after 700 bytes: hello plus about two comments, so the cut
    // lands inside an event. (While it lasts the stream cannot progress far: each resume replays
    // the server's overlap window first.) Then the cuts stop and everything must arrive.
    m_proxy->setCutAfterBytes(700);
    const int from = rec.states.size();
    m_proxy->cutAll();
    expected += postMany(m_video, 20, "c");
    QTRY_VERIFY_WITH_TIMEOUT(
        rec.countState(StreamState::Reconnecting, ErrorCode::Network, from) >= 3, 15000);
    m_proxy->setCutAfterBytes(0);
    QTRY_VERIFY_WITH_TIMEOUT(rec.ids.size() >= expected.size(), 30000);
    QVERIFY2(sdktest::diffIds(lctest::sorted(rec.ids), expected).isEmpty(),
        qPrintable(sdktest::diffIds(rec.ids, expected)));
    QVERIFY(!rec.hasDuplicates());
    QVERIFY(rec.countState(StreamState::Reconnecting, ErrorCode::Network) >= 2);
    QVERIFY(sub->connectionAttempts() >= 3);
    QCOMPARE(sub->lastCommentId(), lctest::sorted(expected).last());
}

void TstSdkFaults::cutInsideResponseHead()
{
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    QList<quint64> expected = postMany(m_video, 3, "before");
    QTRY_COMPARE(rec.ids.size(), 3);
    // Every connection ends right after "HTTP/1.1 200 OK\r\n": a 200 without its Content-Type
    // is a cut connection (retried), not a wrong answer (which would close the stream for good).
    m_proxy->setCutAfterBytes(17);
    const int from = rec.states.size();
    m_proxy->cutAll();
    expected += postMany(m_video, 3, "during");
    QTRY_VERIFY_WITH_TIMEOUT(
        rec.countState(StreamState::Reconnecting, ErrorCode::Network, from) >= 3, 15000);
    QCOMPARE(rec.countState(StreamState::Closed), 0);
    QCOMPARE(rec.countState(StreamState::Live, {}, from), 0);
    m_proxy->setCutAfterBytes(0);
    QTRY_VERIFY_WITH_TIMEOUT(rec.ids.size() >= expected.size(), 15000);
    QCOMPARE(lctest::sorted(rec.ids), lctest::sorted(expected));
    QVERIFY(!rec.hasDuplicates());
}

void TstSdkFaults::stallFiresHeartbeatWatchdog()
{
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    QCOMPARE(rec.hellos[0].heartbeatMs, 300);
    const int before = rec.states.size();
    m_proxy->setStalled(true);
    // 2.5 × 300 ms of silence: the watchdog declares the stream dead and a reconnect follows.
    QTRY_VERIFY_WITH_TIMEOUT(
        rec.countState(StreamState::Reconnecting, ErrorCode::Timeout, before) >= 1, 10000);
    QVERIFY(rec.states.last().state != StreamState::Closed);
    // Cut while still stalled, then resume: the stalled reconnect attempt is dropped with the
    // bytes the proxy held for it, and the next attempt goes through. (The other order let the
    // held response reach the client in the moment between resume and cut: a second `hello`
    // followed by one more reconnect, which this test then caught mid-way under load.)
    m_proxy->cutAll();
    m_proxy->setStalled(false);
    QTRY_VERIFY_WITH_TIMEOUT(rec.hellos.size() >= 2, 15000);
    QCOMPARE(rec.state(), StreamState::Live);
    const auto expected = postMany(m_video, 3, "after stall");
    QTRY_COMPARE(rec.ids, expected);
}

void TstSdkFaults::refusedConnectionsBackOffThenReset()
{
    auto cfg = sdktest::testConfig(m_proxy->baseUrl(), m_token);
    cfg.backoff.initial = std::chrono::milliseconds(50);
    cfg.backoff.cap = std::chrono::milliseconds(400);
    cfg.backoff.resetAfter = std::chrono::milliseconds(600);
    auto live = std::make_unique<Live>();
    openLive(*live, cfg);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    m_proxy->setRefusing(true);
    m_proxy->cutAll();
    const int from = rec.states.size();
    QTRY_VERIFY_WITH_TIMEOUT(rec.countState(StreamState::Reconnecting, {}, from) >= 6, 20000);
    // Attempts count up while the failures go on; each delay stays within the growing bound
    // min(cap, base · 2^attempt) (full jitter) and the bound reaches the cap.
    int expectedAttempt = 1;
    for (int i = from; i < rec.states.size(); ++i) {
        const auto& s = rec.states[i];
        if (s.state != StreamState::Reconnecting)
            continue;
        QCOMPARE(s.attempt, expectedAttempt++);
        // base = the server's retry: 50 ms; floor = minimum (20 ms).
        const qint64 bound
            = std::max<qint64>(20, std::min<qint64>(400, 50LL << std::min(s.attempt - 1, 20)));
        QVERIFY2(s.delay.count() <= bound, qPrintable(QString::number(s.delay.count())));
    }
    m_proxy->setRefusing(false);
    QTRY_VERIFY_WITH_TIMEOUT(rec.hellos.size() >= 2, 15000);
    // A stable connection (longer than resetAfter) resets the attempt counter. Watch heartbeats
    // tick by instead of sleeping blindly: stay connected until resetAfter has passed.
    QElapsedTimer up;
    up.start();
    QTRY_VERIFY_WITH_TIMEOUT(up.elapsed() > 800 && rec.state() == StreamState::Live, 5000);
    const int from2 = rec.states.size();
    m_proxy->cutAll();
    QTRY_VERIFY(rec.countState(StreamState::Reconnecting, {}, from2) >= 1);
    for (int i = from2; i < rec.states.size(); ++i) {
        if (rec.states[i].state == StreamState::Reconnecting) {
            QCOMPARE(rec.states[i].attempt, 1);
            break;
        }
    }
}

void TstSdkFaults::httpErrorAnswers()
{
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    auto& sub = live->sub;

    // 503: recoverable, retried.
    m_proxy->setHttpError(503);
    int from = rec.states.size();
    m_proxy->cutAll();
    QTRY_VERIFY_WITH_TIMEOUT(
        rec.countState(StreamState::Reconnecting, ErrorCode::ServerError, from) >= 2, 15000);
    for (int i = from; i < rec.states.size(); ++i) {
        if (rec.states[i].error && rec.states[i].error->code == ErrorCode::ServerError)
            QCOMPARE(rec.states[i].error->httpStatus, 503);
    }

    // 429 with Retry-After: 1 → the next attempt waits at least one second.
    m_proxy->setHttpError(429, "Retry-After: 1\r\n");
    from = rec.states.size();
    QTRY_VERIFY_WITH_TIMEOUT(
        rec.countState(StreamState::Reconnecting, ErrorCode::RateLimited, from) >= 1, 15000);
    for (int i = from; i < rec.states.size(); ++i) {
        const auto& s = rec.states[i];
        if (s.error && s.error->code == ErrorCode::RateLimited) {
            QCOMPARE(s.error->retryAfterMs, 1000LL);
            QVERIFY(s.delay.count() >= 1000);
            break;
        }
    }

    // Back to normal: live again, and comments flow.
    m_proxy->setHttpError(0);
    QTRY_VERIFY_WITH_TIMEOUT(rec.hellos.size() >= 2, 15000);
    const auto expected = postMany(m_video, 2, "after errors");
    QTRY_COMPARE(rec.ids, expected);

    // 401: closed for good, no more attempts.
    m_proxy->setHttpError(401);
    m_proxy->cutAll();
    QTRY_VERIFY_WITH_TIMEOUT(rec.state() == StreamState::Closed, 15000);
    QVERIFY(rec.states.last().error.has_value());
    QCOMPARE(rec.states.last().error->code, ErrorCode::Unauthorized);
    QCOMPARE(rec.states.last().error->httpStatus, 401);
    const int attempts = sub->connectionAttempts();
    const int accepted = m_proxy->acceptedConnections();
    QTest::qWait(500); // a wrong reconnect would show up within the 100 ms initial backoff
    QCOMPARE(sub->connectionAttempts(), attempts);
    QCOMPARE(m_proxy->acceptedConnections(), accepted);
    QCOMPARE(sub->status().state, StreamState::Closed);
}

void TstSdkFaults::outageBeforeFirstCommentLosesNothing()
{
    // hello carries no id: a stream that has not seen a comment yet must still resume after an
    // outage, and a timeline that is still empty must still catch up.
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    QList<StreamStatus> streamStates;
    TimelineCallbacks tcb;
    tcb.onStreamStatus = [&](const StreamStatus& st) { streamStates.append(st); };
    auto timeline = live->client->openTimeline(m_video, tcb);
    QVERIFY(timeline);
    QTRY_VERIFY((*timeline)->status().atBeginning && !streamStates.isEmpty()
        && streamStates.last().state == StreamState::Live);
    QCOMPARE((*timeline)->size(), std::size_t(0));

    const int from = rec.states.size();
    m_proxy->setRefusing(true);
    m_proxy->cutAll();
    QTRY_VERIFY(rec.countState(StreamState::Reconnecting, {}, from) >= 1);
    const auto expected = postMany(m_video, 5, "during outage");
    m_proxy->setRefusing(false);
    QTRY_VERIFY_WITH_TIMEOUT(rec.ids.size() >= expected.size(), 15000);
    QCOMPARE(lctest::sorted(rec.ids), expected);
    QVERIFY(!rec.hasDuplicates());
    QTRY_VERIFY_WITH_TIMEOUT(
        (*timeline)->size() >= std::size_t(expected.size()) && !(*timeline)->status().fillingGap,
        15000);
    QList<quint64> timelineIds;
    for (const auto& c : (*timeline)->snapshot())
        timelineIds.append(c.id);
    QCOMPARE(timelineIds, expected);
}

void TstSdkFaults::randomFaultsWhilePosting500()
{
    auto live = std::make_unique<Live>();
    openLive(*live);
    if (QTest::currentTestFailed())
        return;
    auto& rec = live->rec;
    // A timeline on the same stream must end with the same sequence (history + live merged).
    // Applying the delivered changes in order must reproduce the timeline's sequence.
    QList<quint64> replay;
    bool badIndex = false;
    QList<StreamStatus> streamStates;
    TimelineCallbacks tcb;
    tcb.onStreamStatus = [&](const StreamStatus& st) { streamStates.append(st); };
    tcb.onChange = [&](const TimelineChange& c) {
        if (c.index > std::size_t(replay.size())) {
            badIndex = true;
            return;
        }
        if (c.kind == TimelineChange::Kind::Inserted) {
            for (std::size_t k = 0; k < c.comments.size(); ++k)
                replay.insert(qsizetype(c.index + k), c.comments[k].id);
        } else if (c.kind == TimelineChange::Kind::Removed) {
            replay.remove(qsizetype(c.index), qsizetype(c.count));
        }
    };
    auto timeline = live->client->openTimeline(m_video, tcb);
    QVERIFY(timeline);
    // The timeline's first page must be in place before posting starts: comments posted before
    // it are older history (reached by scrolling back), not part of what the timeline shows.
    QTRY_VERIFY_WITH_TIMEOUT((*timeline)->status().atBeginning, 15000);

    // LC_FAULT_SEED replays a failed run's script (the timing still differs from run to run).
    bool seeded = false;
    const quint32 envSeed = qEnvironmentVariable("LC_FAULT_SEED").toUInt(&seeded);
    const quint32 seed = seeded ? envSeed : QRandomGenerator::global()->generate();
    qInfo("fault script seed %u", seed);
    QRandomGenerator rng(seed);
    // The fault script runs in its own thread (FaultProxy is thread-safe), so faults keep coming
    // while the main thread blocks in the posting helper.
    std::atomic<int> faults { 0 };
    std::atomic<bool> stop { false };
    std::thread script([&] {
        while (!stop) {
            // Undo the previous fault, then maybe start a new one.
            m_proxy->setStalled(false);
            m_proxy->setRefusing(false);
            m_proxy->setHttpError(0);
            m_proxy->setCutAfterBytes(0);
            switch (rng.bounded(8)) {
            case 0:
                m_proxy->cutAll();
                ++faults;
                break;
            case 1:
                m_proxy->setStalled(true);
                ++faults;
                break;
            case 2:
                m_proxy->setRefusing(true);
                m_proxy->cutAll();
                ++faults;
                break;
            case 3:
                m_proxy->setCutAfterBytes(200 + rng.bounded(3000));
                ++faults;
                break;
            case 4:
                m_proxy->setHttpError(503);
                m_proxy->cutAll();
                ++faults;
                break;
            default:
                break; // quiet period
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng.bounded(80)));
        }
    });
    // A failed check returns early: the script must still stop before `script` is destroyed.
    struct StopScript {
        std::atomic<bool>& stop;
        std::thread& thread;
        ~StopScript()
        {
            stop = true;
            if (thread.joinable())
                thread.join();
        }
    } stopScript { stop, script };
    auto lastState = [&] {
        if (rec.states.isEmpty())
            return QString();
        const auto& st = rec.states.last();
        return QStringLiteral("%1 attempt %2 delay %3 %4")
            .arg(QString::fromLatin1(streamStateName(st.state)))
            .arg(st.attempt)
            .arg(st.delay.count())
            .arg(st.error ? sdktest::describe(*st.error) : QString());
    };
    QList<quint64> expected;
    for (int batch = 0; batch < 10; ++batch) {
        // At least one new fault between batches, however fast the posting is.
        const int before = faults;
        QTRY_VERIFY(faults > before);
        expected += postMany(m_video, 50, QStringLiteral("r%1-").arg(batch));
        if (batch % 3 == 2) {
            // The random script may hit the stream only while it is already reconnecting: cut
            // it for sure a few times so the reconnect path is exercised at least 3 times.
            const int reconnects = rec.countState(StreamState::Reconnecting);
            m_proxy->cutAll();
            QTRY_VERIFY2_WITH_TIMEOUT(rec.countState(StreamState::Reconnecting) > reconnects,
                qPrintable(QStringLiteral("batch %1: %2 reconnects, proxy open %3, state %4")
                               .arg(batch)
                               .arg(reconnects)
                               .arg(m_proxy->openConnections())
                               .arg(lastState())),
                15000);
        }
    }
    stop = true;
    script.join();
    m_proxy->setStalled(false);
    m_proxy->setRefusing(false);
    m_proxy->setHttpError(0);
    m_proxy->setCutAfterBytes(0);
    QCOMPARE(expected.size(), 500);
    expected = lctest::sorted(expected);
    QVERIFY(faults >= 10);
    QTRY_VERIFY2_WITH_TIMEOUT(rec.ids.size() >= 500,
        qPrintable(QStringLiteral("%1 ids, %2 hellos, proxy open %3, state %4")
                       .arg(rec.ids.size())
                       .arg(rec.hellos.size())
                       .arg(m_proxy->openConnections())
                       .arg(lastState())),
        60000);
    // The Subscription delivers each comment exactly once, in arrival order. (The server may
    // publish concurrent posts slightly out of id order; the merged, id-ordered view is the
    // Timeline, checked below.)
    QVERIFY2(sdktest::diffIds(lctest::sorted(rec.ids), expected).isEmpty(),
        qPrintable(sdktest::diffIds(rec.ids, expected)));
    QVERIFY(!rec.hasDuplicates());
    QVERIFY(rec.countState(StreamState::Reconnecting) >= 3);
    QVERIFY(rec.countState(StreamState::Closed) == 0);

    // The timeline converges on exactly the same ids.
    auto timelineIds = [&] {
        QList<quint64> out;
        for (const auto& c : (*timeline)->snapshot())
            out.append(c.id);
        return out;
    };
    QTRY_VERIFY2_WITH_TIMEOUT(timelineIds().size() >= 500 && !(*timeline)->status().fillingGap,
        qPrintable(
            QStringLiteral("timeline: %1 comments, filling %2, loading %3, error %4, stream %5")
                .arg(timelineIds().size())
                .arg((*timeline)->status().fillingGap)
                .arg((*timeline)->status().loadingOlder)
                .arg((*timeline)->status().lastError
                        ? sdktest::describe(*(*timeline)->status().lastError)
                        : QString())
                .arg(streamStates.isEmpty()
                        ? QString()
                        : QString::fromLatin1(streamStateName(streamStates.last().state)))),
        30000);
    QVERIFY2(sdktest::diffIds(timelineIds(), expected).isEmpty(),
        qPrintable(sdktest::diffIds(timelineIds(), expected)));
    QTRY_COMPARE(replay, expected);
    QVERIFY(!badIndex);
}

QTEST_GUILESS_MAIN(TstSdkFaults)
#include "tst_sdk_faults.moc"
