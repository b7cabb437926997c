// SPDX-License-Identifier: MIT
// SIGTERM: open streams receive a final `retry:` and are closed, and the process exits 0.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QSet>
#include <QTest>

#include <memory>

using namespace lctest;

class TstShutdown : public QObject {
    Q_OBJECT
private slots:
    void sigtermClosesStreamsWithRetry();
    void sigtermIdleServerExitsZero();
};

void TstShutdown::sigtermClosesStreamsWithRetry()
{
    // --retry-ms outside 1000–5000, so a final value in that range cannot be the first one.
    ServerProcess server({ QStringLiteral("--retry-ms=700"), QStringLiteral("--loops=1") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "shutdown");
    std::vector<std::unique_ptr<SseReader>> readers;
    for (int i = 0; i < 6; ++i) {
        readers.push_back(std::make_unique<SseReader>());
        readers.back()->open(
            server.port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    }
    for (auto& r : readers) {
        QVERIFY(r->waitForHello());
        QCOMPARE(r->retryMs(), 700);
    }
    QCOMPARE(postComment(server.baseUrl(), token, video, "last words").status, 201);
    for (auto& r : readers)
        QVERIFY(r->waitForComments(1));

    server.sendTerm();
    QSet<int> finals;
    for (auto& r : readers) {
        QVERIFY2(r->waitForDisconnected(20000), "stream not closed on SIGTERM");
        // After the hello, the body carries another `retry:` line before the close.
        const QByteArray body = r->body();
        const qsizetype hello = body.indexOf("event: hello");
        QVERIFY2(body.indexOf("retry:", hello) > hello, body.right(200));
        // docs/protocol.md "Shutdown": 1000–5000 ms in steps of 250.
        const int retry = r->retryMs();
        QVERIFY2(
            retry >= 1000 && retry <= 5000 && retry % 250 == 0, qPrintable(QString::number(retry)));
        finals.insert(retry);
        QVERIFY(r->events("comment").size() == 1);
    }
    // Spread: six streams of one loop do not all get the same value.
    QVERIFY2(finals.size() > 1, "every stream got the same final retry");
    QVERIFY(server.waitForExit(30000));
    QVERIFY(server.exitedNormally());
    QCOMPARE(server.exitCode(), 0);
    // Nothing listens any more.
    QCOMPARE(
        http("GET", endpoint(server.baseUrl(), QStringLiteral("/healthz")), {}, {}, 3000).status,
        0);
}

void TstShutdown::sigtermIdleServerExitsZero()
{
    ServerProcess server;
    QVERIFY(server.start());
    QCOMPARE(http("GET", endpoint(server.baseUrl(), QStringLiteral("/healthz"))).status, 200);
    QVERIFY(server.terminate());
    // And it starts again on the same store.
    QVERIFY(server.restart());
    QCOMPARE(http("GET", endpoint(server.baseUrl(), QStringLiteral("/healthz"))).status, 200);
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstShutdown)
#include "tst_shutdown.moc"
