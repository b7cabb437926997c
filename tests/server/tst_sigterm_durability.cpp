// SPDX-License-Identifier: MIT
// SIGTERM in the middle of a posting burst: every comment acknowledged with 201 is in the store
// after a restart (read back through history).
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QSet>
#include <QTest>

#include <memory>

using namespace lctest;

class TstSigtermDurability : public QObject {
    Q_OBJECT
private slots:
    void acknowledgedCommentsSurviveSigterm();
};

void TstSigtermDurability::acknowledgedCommentsSurviveSigterm()
{
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 v1 = createVideo(server.baseUrl(), token, "durable 1");
    const qint32 v2 = createVideo(server.baseUrl(), token, "durable 2");
    QVERIFY(v1 > 0 && v2 > 0);

    BurstPoster poster(server.baseUrl(), token, { v1, v2 }, 8);
    poster.start();
    QTRY_VERIFY_WITH_TIMEOUT(poster.acknowledgedCount() >= 200, 60000);
    server.sendTerm();
    QVERIFY(server.waitForExit(30000));
    poster.stop();
    QCOMPARE(server.exitCode(), 0);
    QVERIFY(server.exitedNormally());
    qInfo() << "acknowledged" << poster.acknowledgedCount() << "other statuses"
            << poster.otherStatuses();
    // Answers other than 201 during shutdown: 503 or a closed connection (0), nothing else.
    for (auto it = poster.otherStatuses().cbegin(); it != poster.otherStatuses().cend(); ++it)
        QVERIFY2(it.key() == 0 || it.key() == 503,
            qPrintable(QStringLiteral("status %1 during shutdown").arg(it.key())));

    QVERIFY(server.restart(false));
    for (const qint32 video : { v1, v2 }) {
        bool ok = false;
        QString error;
        const QList<quint64> stored = walkBefore(server.baseUrl(), video, 200, &ok, &error);
        QVERIFY2(ok, qPrintable(error));
        QVERIFY(allUnique(stored));
        const QSet<quint64> storedSet(stored.begin(), stored.end());
        const QList<quint64> acked = poster.acknowledged().value(video);
        QVERIFY(!acked.isEmpty());
        int lost = 0;
        for (quint64 id : acked)
            lost += storedSet.contains(id) ? 0 : 1;
        QVERIFY2(lost == 0,
            qPrintable(QStringLiteral("%1 of %2 acknowledged comments on video %3 lost")
                           .arg(lost)
                           .arg(acked.size())
                           .arg(video)));
    }
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstSigtermDurability)
#include "tst_sigterm_durability.moc"
