// SPDX-License-Identifier: MIT
// kill -9 and restart of the server (same store) twice while 500 comments are posted through the
// SDK's outbox and a subscriber and a timeline watch the stream: every comment is stored once,
// delivered once, and the timeline ends with exactly the 500 in id order.
#include "fault_proxy.h"
#include "http_client.h"
#include "sdk_recorder.h"
#include "server_process.h"
#include "test_support.h"

#include <QtTest>

using namespace livecomments;

class TstSdkRestart : public QObject {
    Q_OBJECT
private slots:
    void killAndRestartMidStream();
};

void TstSdkRestart::killAndRestartMidStream()
{
    lctest::ServerProcess server({ "--heartbeat-ms=300", "--retry-ms=100" });
    QVERIFY(server.start());
    lctest::FaultProxy proxy(server.port()); // keeps the clients' URL across port changes
    QVERIFY(proxy.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 video = lctest::createVideo(server.baseUrl(), token, "restart");
    QVERIFY(video > 0);

    auto watcher = Client::create(sdktest::testConfig(proxy.baseUrl(), token));
    QVERIFY(watcher);
    sdktest::SubscriptionRecorder rec;
    auto sub = (*watcher)->subscribe(video, rec.callbacks());
    QVERIFY(sub);
    auto timeline = (*watcher)->openTimeline(video, {});
    QVERIFY(timeline);
    QTRY_COMPARE(rec.hellos.size(), 1);

    QTemporaryDir dir;
    auto cfg = sdktest::testConfig(proxy.baseUrl(), token);
    cfg.cache.path = dir.filePath("poster.db").toStdString();
    QList<quint64> sent;
    int failed = 0;
    cfg.onOutbox = [&](const OutboxEntry& e) {
        if (e.state == PostState::Sent)
            sent.append(e.comment ? e.comment->id : 0);
        failed += e.state == PostState::Failed;
    };
    auto poster = Client::create(cfg);
    QVERIFY(poster);
    for (int i = 0; i < 500; ++i)
        QVERIFY((*poster)->post(video, "restart " + std::to_string(i)));

    for (int threshold : { 150, 350 }) {
        QTRY_VERIFY_WITH_TIMEOUT(sent.size() >= threshold, 60000);
        server.kill9();
        QVERIFY(server.restart());
        proxy.setUpstreamPort(server.port());
    }
    QTRY_VERIFY_WITH_TIMEOUT(sent.size() >= 500, 120000);
    QCOMPARE(failed, 0);
    QCOMPARE(sent.size(), 500);
    QVERIFY(!sent.contains(0));
    const QList<quint64> expected = lctest::sorted(sent);
    QVERIFY(lctest::allUnique(expected));

    // Stored exactly once each (no duplicate from a retried post).
    bool ok = false;
    QString error;
    const auto stored
        = lctest::sorted(lctest::walkBefore(server.baseUrl(), video, 200, &ok, &error));
    QVERIFY2(ok, qPrintable(error));
    QVERIFY2(sdktest::diffIds(stored, expected).isEmpty(),
        qPrintable(sdktest::diffIds(stored, expected)));

    // Delivered exactly once each to the subscriber.
    QTRY_VERIFY_WITH_TIMEOUT(rec.ids.size() >= 500, 60000);
    QVERIFY2(sdktest::diffIds(lctest::sorted(rec.ids), expected).isEmpty(),
        qPrintable(sdktest::diffIds(rec.ids, expected)));
    QVERIFY(!rec.hasDuplicates());
    QVERIFY(rec.hellos.size() >= 3); // reconnected after each kill

    // The timeline holds exactly the 500, in id order.
    auto timelineIds = [&] {
        QList<quint64> out;
        for (const auto& c : (*timeline)->snapshot())
            out.append(c.id);
        return out;
    };
    QTRY_VERIFY_WITH_TIMEOUT(
        timelineIds().size() >= 500 && !(*timeline)->status().fillingGap, 30000);
    QVERIFY2(sdktest::diffIds(timelineIds(), expected).isEmpty(),
        qPrintable(sdktest::diffIds(timelineIds(), expected)));
}

QTEST_GUILESS_MAIN(TstSdkRestart)
#include "tst_sdk_restart.moc"
