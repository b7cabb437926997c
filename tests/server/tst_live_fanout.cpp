// SPDX-License-Identifier: MIT
// Live fan-out: every subscriber of a video receives each comment once, in id order, and no
// subscriber of another video receives it.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QTest>

#include <memory>

using namespace lctest;

class TstLiveFanout : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void threeSubscribersOneVideo_data();
    void threeSubscribersOneVideo();
    void deletedEventOnlyToThatVideo();
    void statsEventsCountViewers();

private:
    std::unique_ptr<ServerProcess> m_server;
    QString m_token;
};

void TstLiveFanout::initTestCase()
{
    m_server = std::make_unique<ServerProcess>();
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
}

void TstLiveFanout::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

void TstLiveFanout::threeSubscribersOneVideo_data()
{
    QTest::addColumn<int>("parallel");
    QTest::addColumn<int>("count");
    QTest::newRow("sequential posts") << 1 << 30;
    QTest::newRow("6 concurrent posters") << 6 << 120;
}

void TstLiveFanout::threeSubscribersOneVideo()
{
    QFETCH(int, parallel);
    QFETCH(int, count);
    const qint32 videoA = createVideo(m_server->baseUrl(), m_token, "A");
    const qint32 videoB = createVideo(m_server->baseUrl(), m_token, "B");
    QVERIFY(videoA > 0 && videoB > 0);
    const QByteArray pathA = "/videos/" + QByteArray::number(videoA) + "/subscriptions";
    const QByteArray pathB = "/videos/" + QByteArray::number(videoB) + "/subscriptions";

    SseReader a1, a2, a3, b1;
    a1.open(m_server->port(), pathA);
    a2.open(m_server->port(), pathA, {}, "PUT");
    a3.open(m_server->port(), "/videos/" + QByteArray::number(videoA) + "/subscribe", {}, "PUT");
    b1.open(m_server->port(), pathB);
    for (SseReader* r : { &a1, &a2, &a3, &b1 })
        QVERIFY2(r->waitForHello(), r->raw().left(400));

    const QList<HttpReply> replies
        = postComments(m_server->baseUrl(), m_token, videoA, texts("fanout", count), parallel);
    const QList<quint64> posted = acknowledgedIds(replies);
    QCOMPARE(posted.size(), count);
    // A marker on B, then one more on A: when they arrived, everything before them had its chance.
    const HttpReply markerB = postComment(m_server->baseUrl(), m_token, videoB, "marker B");
    const HttpReply markerA = postComment(m_server->baseUrl(), m_token, videoA, "marker A");
    QCOMPARE(markerB.status, 201);
    QCOMPARE(markerA.status, 201);
    const quint64 idB = markerB.json().value("id").toString().toULongLong();
    const quint64 idA = markerA.json().value("id").toString().toULongLong();

    QList<quint64> expectedA = sorted(posted);
    expectedA.append(idA);
    for (SseReader* r : { &a1, &a2, &a3 }) {
        QVERIFY2(r->waitForComments(count + 1, 20000),
            qPrintable(
                QStringLiteral("%1 of %2 comments").arg(r->comments().size()).arg(count + 1)));
        const QList<quint64> got = r->comments();
        QVERIFY2(allUnique(got), "a comment was delivered twice");
        QVERIFY2(strictlyOrdered(got), "comments were not delivered in id order");
        QCOMPARE(got, expectedA);
        QVERIFY(!got.contains(idB));
        // The event data is the comment object the POST returned.
        const QList<SseEvent> events = r->events("comment");
        QCOMPARE(events.last().json(), markerA.json());
    }
    QVERIFY(b1.waitForComments(1));
    QCOMPARE(b1.comments(), QList<quint64> { idB });
    QVERIFY(b1.isConnected());
}

void TstLiveFanout::deletedEventOnlyToThatVideo()
{
    const qint32 videoA = createVideo(m_server->baseUrl(), m_token, "A");
    const qint32 videoB = createVideo(m_server->baseUrl(), m_token, "B");
    SseReader a1, a2, b1;
    a1.open(m_server->port(), "/videos/" + QByteArray::number(videoA) + "/subscriptions");
    a2.open(m_server->port(), "/videos/" + QByteArray::number(videoA) + "/subscriptions");
    b1.open(m_server->port(), "/videos/" + QByteArray::number(videoB) + "/subscriptions");
    for (SseReader* r : { &a1, &a2, &b1 })
        QVERIFY(r->waitForHello());
    const HttpReply c = postComment(m_server->baseUrl(), m_token, videoA, "soon gone");
    QCOMPARE(c.status, 201);
    const QString id = c.json().value("id").toString();
    QCOMPARE(http("DELETE",
                 endpoint(m_server->baseUrl(),
                     QStringLiteral("/videos/%1/comments/%2").arg(videoA).arg(id)),
                 {}, bearer(m_token))
                 .status,
        204);
    const HttpReply markerB = postComment(m_server->baseUrl(), m_token, videoB, "marker");
    QCOMPARE(markerB.status, 201);
    for (SseReader* r : { &a1, &a2 }) {
        QTRY_COMPARE(r->events("deleted").size(), 1);
        QCOMPARE(r->events("deleted").first().json().value("id").toString(), id);
    }
    QVERIFY(b1.waitForComments(1));
    QVERIFY(b1.events("deleted").isEmpty());
}

void TstLiveFanout::statsEventsCountViewers()
{
    ServerProcess server({ QStringLiteral("--stats-ms=200") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "stats");
    const qint32 other = createVideo(server.baseUrl(), token, "other");
    SseReader a, b, c;
    a.open(server.port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    b.open(server.port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    c.open(server.port(), "/videos/" + QByteArray::number(other) + "/subscriptions");
    for (SseReader* r : { &a, &b, &c })
        QVERIFY(r->waitForHello());
    // Occasional `stats` {"viewers":N}: two watch `video`, one watches `other`.
    auto lastViewers = [](const SseReader& r) {
        const QList<SseEvent> stats = r.events("stats");
        return stats.isEmpty() ? -1 : stats.last().json().value("viewers").toInt(-1);
    };
    QTRY_COMPARE_WITH_TIMEOUT(lastViewers(a), 2, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(lastViewers(b), 2, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(lastViewers(c), 1, 10000);
    QVERIFY(a.comments().isEmpty());
    b.close();
    QTRY_COMPARE_WITH_TIMEOUT(lastViewers(a), 1, 10000);
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstLiveFanout)
#include "tst_live_fanout.moc"
