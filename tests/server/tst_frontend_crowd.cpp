// SPDX-License-Identifier: MIT
// Acceptance of the front end: with 10,000 idle keep-alive + 1,000 slowloris + 20 non-reading
// connections held against one node (from 40 loopback addresses), a normal client posts (201)
// and a subscriber receives the comment — and the crowd is still connected, i.e. it was held,
// not shed. Label `heavy` (about 11,000 sockets on each side).
#include "crowd.h"
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"

#include <QElapsedTimer>
#include <QTest>

using namespace lctest;
using livecomments::bench::Crowd;
using livecomments::bench::CrowdOptions;

class TstFrontendCrowd : public QObject {
    Q_OBJECT
private slots:
    void postAndReceiveUnderCrowd();
};

void TstFrontendCrowd::postAndReceiveUnderCrowd()
{
    const auto nofile = livecomments::bench::raiseNoFileLimit();
    QVERIFY2(nofile >= 12000, qPrintable(QStringLiteral("nofile %1").arg(nofile)));
    // Head and keep-alive deadlines are raised above the test's length so that the whole crowd
    // is still held when the normal client posts (at the defaults the slowloris connections get
    // 408 after 10 s — tst_limits checks that); the connection limits stay at their defaults.
    ServerProcess server({ QStringLiteral("--header-timeout-ms=600000"),
        QStringLiteral("--keepalive-timeout-ms=600000"),
        QStringLiteral("--send-timeout-ms=600000") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 video = createVideo(server.baseUrl(), token, "crowd");
    QVERIFY(video > 0);
    QCOMPARE(
        postComments(server.baseUrl(), token, video, QStringList(200, QString(300, 'x')), 6).size(),
        200);

    CrowdOptions options;
    options.port = server.port();
    options.nonReaderPath = "/videos/" + std::to_string(video) + "/comments?limit=200";
    Crowd crowd;
    std::string error;
    QVERIFY2(crowd.open(options, error), error.c_str());

    SseReader subscriber;
    subscriber.open(server.port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    QVERIFY(subscriber.waitForHello(20000));
    QElapsedTimer timer;
    timer.start();
    const HttpReply posted = postComment(server.baseUrl(), token, video, "heard over the crowd");
    const qint64 postMs = timer.elapsed();
    QCOMPARE(posted.status, 201);
    // Generous for a shared 2-core machine; a thread-per-connection server takes seconds here.
    QVERIFY2(postMs < 3000, qPrintable(QString::number(postMs)));
    QVERIFY(subscriber.waitForComments(1, 20000));
    bool heard = false;
    for (const auto& e : subscriber.events("comment"))
        heard = heard || e.data.contains("heard over the crowd");
    QVERIFY(heard);
    qInfo("normal client: POST answered in %lld ms with the crowd held", postMs);

    const auto alive = crowd.alive();
    QCOMPARE(alive.idle, options.idle);
    QCOMPARE(alive.slowloris, options.slowloris);
    QCOMPARE(alive.nonReaders, options.nonReaders);
}

QTEST_GUILESS_MAIN(TstFrontendCrowd)
#include "tst_frontend_crowd.moc"
