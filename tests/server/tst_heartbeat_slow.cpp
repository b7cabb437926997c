// SPDX-License-Identifier: MIT
// Heartbeats on an idle stream, and the slow-subscriber cap: a client that stops reading is
// closed while another subscriber keeps receiving everything; the slow-disconnect counter rises.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QTest>

#include <cmath>
#include <memory>

using namespace lctest;

namespace {
constexpr int kHeartbeatMs = 300;
// Small enough to trip quickly once the kernel buffers are full, large enough that a healthy
// reader in a busy test process (2 shared cores) never lags that far behind.
constexpr int kQueueCap = 256 * 1024;

double slowDisconnects(const ServerProcess& s)
{
    const HttpReply m = http("GET", endpoint(s.baseUrl(), QStringLiteral("/metrics")));
    return metricValue(m.body, "livecomments_slow_disconnects_total");
}
} // namespace

class TstHeartbeatSlow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void heartbeatOnIdleStream();
    void slowSubscriberIsClosed();

private:
    std::unique_ptr<ServerProcess> m_server;
    QString m_token;
};

void TstHeartbeatSlow::initTestCase()
{
    m_server = std::make_unique<ServerProcess>(
        QStringList { QStringLiteral("--heartbeat-ms=%1").arg(kHeartbeatMs),
            QStringLiteral("--queue-cap=%1").arg(kQueueCap) });
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
}

void TstHeartbeatSlow::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

void TstHeartbeatSlow::heartbeatOnIdleStream()
{
    const qint32 video = createVideo(m_server->baseUrl(), m_token, "idle");
    SseReader r;
    r.open(m_server->port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    QVERIFY(r.waitForHello());
    QCOMPARE(r.hello().value("heartbeat_ms").toInt(), kHeartbeatMs);
    // Several heartbeats on a stream that carries nothing else; the stream stays open.
    QTRY_VERIFY_WITH_TIMEOUT(r.heartbeats() >= 3, 10 * kHeartbeatMs + 5000);
    QVERIFY(r.isConnected());
    QVERIFY(r.comments().isEmpty());
    const QByteArray body = r.body();
    QVERIFY2(body.contains("\n:") || body.startsWith(":"), body.left(300));
    const HttpReply m = http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/metrics")));
    QVERIFY(metricValue(m.body, "livecomments_heartbeats_total") >= 3);
}

void TstHeartbeatSlow::slowSubscriberIsClosed()
{
    const qint32 video = createVideo(m_server->baseUrl(), m_token, "slow");
    const QByteArray path = "/videos/" + QByteArray::number(video) + "/subscriptions";
    SseReader slow;
    slow.setReceiveBufferSize(4096);
    slow.open(m_server->port(), path);
    SseReader fast;
    fast.open(m_server->port(), path);
    QVERIFY(slow.waitForHello());
    QVERIFY(fast.waitForHello());
    slow.setPaused(true);
    const double before = slowDisconnects(*m_server);
    QVERIFY2(!std::isnan(before), "no livecomments_slow_disconnects_total in /metrics");

    // Big comments (500 four-byte characters ≈ 2 KiB per frame) until the server gives up on the
    // paused reader; kernel socket buffers absorb some first, so the count is not fixed.
    const QString big = QString::fromUtf8("\xF0\x9F\x8E\xA5").repeated(500);
    QList<quint64> posted;
    for (int round = 0; round < 100 && !(slowDisconnects(*m_server) > before); ++round) {
        QStringList batch;
        for (int i = 0; i < 20; ++i)
            batch << big.left(big.size() - 2 * (i % 5)); // distinct texts
        const QList<HttpReply> replies
            = postComments(m_server->baseUrl(), m_token, video, batch, 4);
        const QList<quint64> ids = acknowledgedIds(replies);
        QCOMPARE(ids.size(), batch.size());
        posted += ids;
    }
    QTRY_VERIFY2_WITH_TIMEOUT(slowDisconnects(*m_server) > before,
        qPrintable(
            QStringLiteral("slow counter did not rise after %1 comments").arg(posted.size())),
        10000);

    qInfo("slow disconnect after %d comments", int(posted.size()));
    // The healthy subscriber got every comment exactly once, in order.
    QVERIFY2(fast.waitForComments(int(posted.size()), 30000),
        qPrintable(
            QStringLiteral("%1 of %2%3")
                .arg(fast.comments().size())
                .arg(posted.size())
                .arg(fast.wasDisconnected() ? ", the healthy reader was disconnected" : "")));
    QCOMPARE(fast.comments(), sorted(posted));
    QVERIFY(fast.isConnected());

    // The paused one, once it reads again, finds its stream closed short of the end.
    slow.setPaused(false);
    QVERIFY2(slow.waitForDisconnected(20000), "slow subscriber was not disconnected");
    QVERIFY(slow.comments().size() < posted.size());
    QVERIFY(allUnique(slow.comments()));
}

QTEST_GUILESS_MAIN(TstHeartbeatSlow)
#include "tst_heartbeat_slow.moc"
