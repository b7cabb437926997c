// SPDX-License-Identifier: MIT
// The persistent outbox: comments posted while the server is down are delivered exactly once
// when it is back — also across a client restart on the same cache file, and when a response
// is lost after the server stored the comment (Idempotency-Key). 4xx other than 429 = failed.
#include "fault_proxy.h"
#include "http_client.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#include <QtTest>

#include <optional>

using namespace livecomments;

namespace {
struct OutboxRecorder {
    QList<OutboxEntry> updates;
    QMap<QString, OutboxEntry> last; ///< by key
    std::optional<std::size_t> restored; ///< set by ClientConfig::onOutboxLoaded
    void add(const OutboxEntry& e)
    {
        updates.append(e);
        last[QString::fromStdString(e.key)] = e;
    }
    int count(PostState s) const
    {
        int n = 0;
        for (const auto& e : last)
            n += e.state == s;
        return n;
    }
};
} // namespace

class TstOutbox : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void postsWhileDownDeliveredOnce();
    void survivesClientRestart();
    void lostResponseIsNotDuplicated();
    void finalFailures();

private:
    /// Texts of all comments of the video, from the server's history (oldest first).
    QStringList historyTexts(qint32 video);
    ClientConfig config(OutboxRecorder& rec, const QString& token = {});

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::FaultProxy> m_proxy;
    QString m_token;
    qint32 m_video = 0;
};

void TstOutbox::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_proxy = std::make_unique<lctest::FaultProxy>(m_server->port());
    QVERIFY(m_proxy->start());
    m_token = m_server->token("7", "alice", "streamer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "outbox");
    QVERIFY(m_video > 0);
}

void TstOutbox::cleanup()
{
    m_proxy.reset();
    m_server.reset();
}

ClientConfig TstOutbox::config(OutboxRecorder& rec, const QString& token)
{
    auto cfg = sdktest::testConfig(m_proxy->baseUrl(), token.isEmpty() ? m_token : token);
    cfg.cache.path = m_dir->filePath("cache.db").toStdString();
    cfg.onOutbox = [&rec](const OutboxEntry& e) { rec.add(e); };
    cfg.onOutboxLoaded = [&rec](std::size_t n) { rec.restored = n; };
    return cfg;
}

QStringList TstOutbox::historyTexts(qint32 video)
{
    QStringList texts;
    auto page = lctest::getHistoryPage(
        m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(video));
    const auto comments = page.reply.json().value("comments").toArray();
    for (const auto& c : comments)
        texts.prepend(c.toObject().value("text").toString());
    return texts;
}

void TstOutbox::postsWhileDownDeliveredOnce()
{
    QVERIFY(m_server->terminate());
    OutboxRecorder rec;
    auto client = Client::create(config(rec));
    QVERIFY(client);
    QStringList texts;
    for (int i = 0; i < 5; ++i) {
        texts << QStringLiteral("offline %1").arg(i);
        QVERIFY((*client)->post(m_video, texts.last().toStdString()));
    }
    // Each is reported pending, and the first is retried with a network error recorded.
    QTRY_COMPARE(rec.last.size(), 5);
    QTRY_VERIFY_WITH_TIMEOUT(std::any_of(rec.updates.begin(), rec.updates.end(),
                                 [](const OutboxEntry& e) {
                                     return e.state == PostState::Pending && e.error
                                         && e.error->code == ErrorCode::Network && e.attempts >= 2;
                                 }),
        10000);
    QCOMPARE(rec.count(PostState::Sent), 0);
    QCOMPARE((*client)->pendingPosts().size(), std::size_t(5));

    QVERIFY(m_server->restart());
    m_proxy->setUpstreamPort(m_server->port());
    QTRY_VERIFY_WITH_TIMEOUT(rec.count(PostState::Sent) == 5, 30000);
    QCOMPARE(rec.count(PostState::Failed), 0);
    QVERIFY((*client)->pendingPosts().empty());
    for (const auto& e : rec.last) {
        QVERIFY(e.comment.has_value());
        QCOMPARE(e.comment->text, e.text);
        QCOMPARE(e.comment->videoId, m_video);
    }
    QCOMPARE(historyTexts(m_video), texts); // once each, in posting order
}

void TstOutbox::survivesClientRestart()
{
    QVERIFY(m_server->terminate());
    QStringList texts;
    QSet<QString> keys;
    {
        OutboxRecorder rec;
        auto client = Client::create(config(rec));
        QVERIFY(client);
        for (int i = 0; i < 5; ++i) {
            texts << QStringLiteral("before restart %1").arg(i);
            auto key = (*client)->post(m_video, texts.last().toStdString());
            QVERIFY(key);
            keys.insert(QString::fromStdString(*key));
        }
        QTRY_COMPARE(rec.last.size(), 5);
    } // the client goes away with all five pending

    OutboxRecorder rec;
    auto client = Client::create(config(rec));
    QVERIFY(client);
    // Restored from the cache, with the same keys, reported at start.
    QTRY_VERIFY(rec.restored.has_value());
    QCOMPARE(*rec.restored, std::size_t(5));
    QCOMPARE(rec.last.size(), 5); // each reported before the load was announced
    QCOMPARE((*client)->pendingPosts().size(), std::size_t(5));
    QSet<QString> restored;
    for (const auto& e : (*client)->pendingPosts())
        restored.insert(QString::fromStdString(e.key));
    QCOMPARE(restored, keys);
    QTRY_COMPARE(rec.last.size(), 5);

    QVERIFY(m_server->restart());
    m_proxy->setUpstreamPort(m_server->port());
    QTRY_VERIFY_WITH_TIMEOUT(rec.count(PostState::Sent) == 5, 30000);
    QCOMPARE(historyTexts(m_video), texts);

    // A third client on the same cache has nothing left to send.
    client = Error {};
    OutboxRecorder rec3;
    auto client3 = Client::create(config(rec3));
    QVERIFY(client3);
    QTRY_VERIFY(rec3.restored.has_value()); // the outbox is loaded: nothing came back
    QCOMPARE(*rec3.restored, std::size_t(0));
    QVERIFY((*client3)->pendingPosts().empty());
    QVERIFY(rec3.updates.isEmpty());
    QCOMPARE(historyTexts(m_video), texts);
}

void TstOutbox::lostResponseIsNotDuplicated()
{
    // The server stores the comment but the answer is cut on its way back: the SDK retries with
    // the same Idempotency-Key and must not create a second comment.
    m_proxy->setCutAfterBytes(1);
    OutboxRecorder rec;
    auto client = Client::create(config(rec));
    QVERIFY(client);
    QVERIFY((*client)->post(m_video, "exactly once"));
    QTRY_VERIFY_WITH_TIMEOUT(
        std::any_of(rec.updates.begin(), rec.updates.end(),
            [](const OutboxEntry& e) { return e.state == PostState::Pending && e.error; }),
        10000);
    QTRY_COMPARE(historyTexts(m_video), QStringList { "exactly once" }); // it did reach the server
    m_proxy->setCutAfterBytes(0);
    QTRY_VERIFY_WITH_TIMEOUT(rec.count(PostState::Sent) == 1, 15000);
    QVERIFY(rec.last.first().attempts >= 2);
    QCOMPARE(historyTexts(m_video), QStringList { "exactly once" });
    const auto page = lctest::getHistoryPage(
        m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=10").arg(m_video));
    QCOMPARE(page.ids.size(), 1);
    QCOMPARE(quint64(rec.last.first().comment->id), page.ids[0]);
}

void TstOutbox::finalFailures()
{
    OutboxRecorder rec;
    auto client = Client::create(config(rec));
    QVERIFY(client);
    auto missing = (*client)->post(987654, "to a video that does not exist");
    QVERIFY(missing);
    auto tooLong = (*client)->post(m_video, std::string(501, 'x'));
    QVERIFY(tooLong);
    QTRY_VERIFY_WITH_TIMEOUT(rec.count(PostState::Failed) == 2, 15000);
    const auto m = rec.last.value(QString::fromStdString(*missing));
    QCOMPARE(m.state, PostState::Failed);
    QCOMPARE(m.error->code, ErrorCode::NotFound);
    QCOMPARE(m.attempts, 1); // no retry of a 404
    const auto t = rec.last.value(QString::fromStdString(*tooLong));
    QCOMPARE(t.state, PostState::Failed);
    QCOMPARE(t.error->httpStatus, 400);
    QVERIFY(!t.error->isRecoverable());

    OutboxRecorder rec2;
    auto bad = Client::create(config(rec2, QStringLiteral("not-a-jwt")));
    QVERIFY(bad);
    QTRY_VERIFY(rec2.last.isEmpty()); // (previous client's failures were removed from the cache)
    auto key = (*bad)->post(m_video, "with a bad token");
    QVERIFY(key);
    QTRY_VERIFY_WITH_TIMEOUT(rec2.count(PostState::Failed) == 1, 15000);
    QCOMPARE(rec2.last.first().error->code, ErrorCode::Unauthorized);
    QVERIFY((*bad)->pendingPosts().empty());
    QVERIFY(historyTexts(m_video).isEmpty());
}

QTEST_GUILESS_MAIN(TstOutbox)
#include "tst_outbox.moc"
