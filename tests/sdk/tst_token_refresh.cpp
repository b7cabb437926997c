// SPDX-License-Identifier: MIT
// ClientConfig::tokenRefresher: a 401 to a request or stream that carried a token asks the app
// for a new token (asynchronously, answered later from the main thread), retries once with it,
// and a second 401 (or no new token) is final. Real server; the stale token is an expired JWT.
#include "http_client.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#include <QTimer>
#include <QtTest>

#include <atomic>
#include <optional>

using namespace livecomments;

class TstTokenRefresh : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void postRetriedOnceWithTheNewToken();
    void streamRetriedOnceWithTheNewToken();
    void noNewTokenIsFinal();

private:
    /// A config whose token has expired and whose refresher answers @p fresh after 50 ms
    /// (from the main thread), counting its calls in @p calls.
    ClientConfig config(const QString& fresh, std::atomic<int>& calls);

    std::unique_ptr<lctest::ServerProcess> m_server;
    QString m_valid;
    QString m_expired;
    qint32 m_video = 0;
};

void TstTokenRefresh::init()
{
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_valid = m_server->token("7", "alice", "streamer");
    m_expired = m_server->token("7", "alice", "streamer", -60);
    m_video = lctest::createVideo(m_server->baseUrl(), m_valid, "refresh");
    QVERIFY(m_video > 0);
}

void TstTokenRefresh::cleanup()
{
    m_server.reset();
}

ClientConfig TstTokenRefresh::config(const QString& fresh, std::atomic<int>& calls)
{
    auto cfg = sdktest::testConfig(m_server->baseUrl(), m_expired);
    const std::string token = fresh.toStdString();
    cfg.tokenRefresher = [token, &calls](std::function<void(std::string)> done) {
        ++calls;
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [token, done] { QTimer::singleShot(50, [token, done] { done(token); }); },
            Qt::QueuedConnection);
    };
    return cfg;
}

void TstTokenRefresh::postRetriedOnceWithTheNewToken()
{
    std::atomic<int> calls { 0 };
    auto client = Client::create(config(m_valid, calls));
    QVERIFY(client);
    std::optional<OutboxEntry> done;
    QVERIFY((*client)->post(m_video, "with a fresh token", [&](const OutboxEntry& e) {
        if (e.state != PostState::Pending)
            done = e;
    }));
    QTRY_VERIFY_WITH_TIMEOUT(done.has_value(), 10000);
    QCOMPARE(done->state, PostState::Sent);
    QCOMPARE(done->attempts, 1); // one outbox attempt: the retry is inside it
    QCOMPARE(calls.load(), 1);
    // Later requests use the new token at once: no second refresh.
    std::optional<Result<Video>> video;
    (*client)->createVideo("second", [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(video.has_value(), 10000);
    QVERIFY(*video);
    QCOMPARE(calls.load(), 1);
}

void TstTokenRefresh::streamRetriedOnceWithTheNewToken()
{
    std::atomic<int> calls { 0 };
    auto client = Client::create(config(m_valid, calls));
    QVERIFY(client);
    QList<StreamStatus> states;
    QList<Comment> comments;
    SubscriptionCallbacks cbs;
    cbs.onStatus = [&](const StreamStatus& s) { states.append(s); };
    cbs.onComment = [&](const Comment& c) { comments.append(c); };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(!states.isEmpty() && states.last().state == StreamState::Live, 10000);
    QCOMPARE(calls.load(), 1);
    QCOMPARE((*sub)->connectionAttempts(), 2);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_valid, m_video, "seen").status, 201);
    QTRY_COMPARE(comments.size(), 1);
}

void TstTokenRefresh::noNewTokenIsFinal()
{
    // The refresher hands over another expired token: the retry gets 401 again, which is final.
    std::atomic<int> calls { 0 };
    auto client = Client::create(config(m_expired, calls));
    QVERIFY(client);
    std::optional<Result<Video>> video;
    (*client)->createVideo("nope", [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(video.has_value(), 10000);
    QVERIFY(!*video);
    QCOMPARE(video->error().code, ErrorCode::Unauthorized);
    QCOMPARE(calls.load(), 1);
    QList<StreamStatus> states;
    SubscriptionCallbacks cbs;
    cbs.onStatus = [&](const StreamStatus& s) { states.append(s); };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(
        !states.isEmpty() && states.last().state == StreamState::Closed, 10000);
    QCOMPARE(states.last().error->code, ErrorCode::Unauthorized);
    QCOMPARE(calls.load(), 2);
    QCOMPARE((*sub)->connectionAttempts(), 2);
}

QTEST_GUILESS_MAIN(TstTokenRefresh)
#include "tst_token_refresh.moc"
