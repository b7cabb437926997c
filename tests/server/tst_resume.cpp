// SPDX-License-Identifier: MIT
// Resume with Last-Event-ID: the missed comments exactly (after deduping the allowed overlap),
// then live ones, no duplicate; `reset` + hello.resumed=false past replay_limit; the same across
// a graceful restart and across kill -9 for every acknowledged comment.
#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QSet>
#include <QTest>

#include <memory>

using namespace lctest;

namespace {
QByteArray streamPath(qint32 video)
{
    return "/videos/" + QByteArray::number(video) + "/subscriptions";
}

/**
 * Checks a resumed stream: hello first with resumed=true, no duplicate on the stream, every id in
 * `missed` and `live` present, nothing newer than `lastSeen` outside missed+live, ids newer than
 * lastSeen in ascending order, and anything at or before lastSeen (the overlap window) only from
 * `known`. Returns a description of the first violation, empty when fine.
 */
QString checkResumed(const SseReader& r, quint64 lastSeen, const QList<quint64>& known,
    const QList<quint64>& missed, const QList<quint64>& live)
{
    if (r.events().isEmpty() || r.events().first().type != "hello")
        return QStringLiteral("first event is not hello");
    if (!r.hello().value(QStringLiteral("resumed")).toBool())
        return QStringLiteral("hello.resumed is not true: ")
            + QString::fromUtf8(r.events().first().data);
    if (!r.events("reset").isEmpty())
        return QStringLiteral("unexpected reset");
    const QList<quint64> got = r.comments();
    if (!allUnique(got))
        return QStringLiteral("duplicate comment on one stream");
    const QSet<quint64> knownSet(known.begin(), known.end());
    QList<quint64> newer;
    for (quint64 id : got) {
        if (id <= lastSeen) {
            if (!knownSet.contains(id))
                return QStringLiteral("overlap id %1 was never posted").arg(id);
        } else {
            newer.append(id);
        }
    }
    QList<quint64> expected = sorted(missed + live);
    if (newer != expected) {
        return QStringLiteral("after dedupe: got %1 newer ids, expected %2 (missing %3, extra %4)")
            .arg(newer.size())
            .arg(expected.size())
            .arg((QSet<quint64>(expected.begin(), expected.end())
                - QSet<quint64>(newer.begin(), newer.end()))
                     .size())
            .arg((QSet<quint64>(newer.begin(), newer.end())
                - QSet<quint64>(expected.begin(), expected.end()))
                     .size());
    }
    return {};
}
} // namespace

class TstResume : public QObject {
    Q_OBJECT
private slots:
    void resumeMissed_data();
    void resumeMissed();
    void tooManyMissedSendsReset();
    void resumeAcrossRestart();
    void resumeAfterKill9();
    void resumeAfterCutMidEvent();

private:
    /// Connects, waits for hello and the given number of comments.
    static void post(ServerProcess& s, const QString& token, qint32 video, int n,
        QList<quint64>* ids, const QString& prefix)
    {
        const QList<quint64> got
            = acknowledgedIds(postComments(s.baseUrl(), token, video, texts(prefix, n), 1));
        QCOMPARE(got.size(), n);
        *ids += got;
    }
};

void TstResume::resumeMissed_data()
{
    QTest::addColumn<bool>("queryParam");
    QTest::newRow("Last-Event-ID header") << false;
    QTest::newRow("?last_event_id=") << true;
}

void TstResume::resumeMissed()
{
    QFETCH(bool, queryParam);
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "resume");
    QVERIFY(video > 0);

    SseReader first;
    first.open(server.port(), streamPath(video));
    QVERIFY(first.waitForHello());
    QList<quint64> known;
    post(server, token, video, 5, &known, "seen");
    QVERIFY(first.waitForComments(5));
    QCOMPARE(first.comments(), known);
    const QByteArray lastSeen = first.lastEventId();
    QCOMPARE(lastSeen.toULongLong(), known.last());
    first.close();

    QList<quint64> missed;
    post(server, token, video, 20, &missed, "missed");

    SseReader second;
    if (queryParam)
        second.open(server.port(), streamPath(video) + "?last_event_id=" + lastSeen);
    else
        second.open(server.port(), streamPath(video), { { "Last-Event-ID", lastSeen } });
    QVERIFY2(second.waitForHello(), second.raw().left(400));
    QVERIFY2(second.waitForComments(20),
        qPrintable(QStringLiteral("%1 comments").arg(second.comments().size())));
    QList<quint64> live;
    post(server, token, video, 5, &live, "live");
    QTRY_VERIFY2(
        second.comments().contains(live.last()), "live comment after the replay did not arrive");
    const QString problem = checkResumed(second, lastSeen.toULongLong(), known, missed, live);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(server.terminate());
}

void TstResume::tooManyMissedSendsReset()
{
    // No overlap window here, so the replay size is exactly the number of missed comments.
    ServerProcess server({ QStringLiteral("--replay-limit=10"), QStringLiteral("--overlap-ms=0") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "reset");
    QList<quint64> known;
    post(server, token, video, 3, &known, "seen");
    QList<quint64> missed;
    post(server, token, video, 30, &missed, "missed");

    SseReader r;
    r.open(server.port(), streamPath(video),
        { { "Last-Event-ID", QByteArray::number(known.last()) } });
    QVERIFY(r.waitForHello());
    QTRY_VERIFY2(
        !r.events("reset").isEmpty(), "no reset after missing more than replay_limit comments");
    QCOMPARE(r.events().first().type, QByteArray("hello"));
    QVERIFY2(r.hello().value("resumed").isBool() && !r.hello().value("resumed").toBool(),
        r.events().first().data);
    QCOMPARE(r.events("reset").first().json().value("reason").toString(),
        QStringLiteral("gap_too_large"));
    // Live comments still flow after the reset; the missed ones are not replayed (reset replaces
    // the replay), apart from none at all.
    QList<quint64> live;
    post(server, token, video, 3, &live, "live");
    QVERIFY(r.waitForComments(3));
    QTRY_COMPARE(r.comments().size(), 3);
    QCOMPARE(r.comments(), live);

    // Within the limit on the same server, a resume is complete.
    SseReader ok;
    ok.open(server.port(), streamPath(video),
        { { "Last-Event-ID", QByteArray::number(missed.at(25)) } });
    QVERIFY(ok.waitForHello());
    QVERIFY(ok.hello().value("resumed").toBool());
    QVERIFY(ok.waitForComments(7));
    QVERIFY(server.terminate());
}

void TstResume::resumeAcrossRestart()
{
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "restart");
    SseReader first;
    first.open(server.port(), streamPath(video));
    QVERIFY(first.waitForHello());
    QList<quint64> known;
    post(server, token, video, 5, &known, "seen");
    QVERIFY(first.waitForComments(5));
    first.close();
    QList<quint64> missedBefore;
    post(server, token, video, 10, &missedBefore, "missed before restart");

    QVERIFY(server.terminate());
    QVERIFY(server.restart());
    QList<quint64> missedAfter;
    post(server, token, video, 10, &missedAfter, "missed after restart");

    SseReader second;
    second.open(server.port(), streamPath(video),
        { { "Last-Event-ID", QByteArray::number(known.last()) } });
    QVERIFY(second.waitForHello());
    QVERIFY(second.waitForComments(20));
    QList<quint64> live;
    post(server, token, video, 3, &live, "live");
    QTRY_VERIFY(second.comments().contains(live.last()));
    const QString problem
        = checkResumed(second, known.last(), known, missedBefore + missedAfter, live);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    // Ids stay time-ordered across the restart.
    QVERIFY(missedAfter.first() > missedBefore.last());
    QVERIFY(server.terminate());
}

void TstResume::resumeAfterKill9()
{
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 video = createVideo(server.baseUrl(), token, "kill -9");
    QList<quint64> known;
    post(server, token, video, 2, &known, "seen");

    // Kill mid-burst: every comment acknowledged with 201 must survive.
    BurstPoster poster(server.baseUrl(), token, { video }, 6);
    poster.start();
    QTRY_VERIFY_WITH_TIMEOUT(poster.acknowledgedCount() >= 60, 30000);
    server.kill9();
    poster.stop();
    const QList<quint64> acked = poster.acknowledged().value(video);
    QVERIFY(acked.size() >= 60);

    QVERIFY(server.restart());
    SseReader r;
    r.open(server.port(), streamPath(video),
        { { "Last-Event-ID", QByteArray::number(known.last()) } });
    QVERIFY(r.waitForHello());
    QVERIFY2(r.hello().value("resumed").toBool(), r.events().first().data);
    QVERIFY2(r.waitForComments(int(acked.size()), 20000),
        qPrintable(QStringLiteral("%1 of %2").arg(r.comments().size()).arg(acked.size())));
    QList<quint64> live;
    post(server, token, video, 1, &live, "live");
    QTRY_VERIFY(r.comments().contains(live.last()));
    const QList<quint64> received = r.comments();
    const QSet<quint64> got(received.begin(), received.end());
    for (quint64 id : acked)
        QVERIFY2(got.contains(id),
            qPrintable(QStringLiteral("acknowledged comment %1 lost by kill -9").arg(id)));
    QVERIFY(allUnique(r.comments()));
    QVERIFY(strictlyOrdered(r.comments()));
    QVERIFY(server.terminate());
}

void TstResume::resumeAfterCutMidEvent()
{
    // The connection dies in the middle of a comment frame (FaultProxy cuts after N bytes); the
    // client resumes from the last COMPLETE event it saw and gets everything after it.
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "cut");
    QList<quint64> ids;
    post(server, token, video, 3, &ids, "before");

    FaultProxy proxy(server.port());
    QVERIFY(proxy.start());
    SseReader probe; // learn how long the head + hello + first replayed comment are
    probe.open(
        server.port(), streamPath(video), { { "Last-Event-ID", QByteArray::number(ids.first()) } });
    QVERIFY(probe.waitForComments(2));
    const QByteArray raw = probe.raw();
    const qsizetype secondComment = raw.indexOf("\n\nid: " + QByteArray::number(ids.at(2)));
    QVERIFY(secondComment > 0);
    probe.close();
    // Cut inside the frame of ids[2]: ids[1] complete, ids[2] truncated.
    proxy.setCutAfterBytes(secondComment + 20);
    SseReader cut;
    cut.open(
        proxy.port(), streamPath(video), { { "Last-Event-ID", QByteArray::number(ids.first()) } });
    QVERIFY(cut.waitForDisconnected());
    QVERIFY(cut.comments().contains(ids.at(1)));
    QVERIFY(!cut.comments().contains(ids.at(2)));
    QCOMPARE(cut.lastEventId(), QByteArray::number(ids.at(1)));

    proxy.setCutAfterBytes(0);
    QList<quint64> more;
    post(server, token, video, 2, &more, "after the cut");
    SseReader resumed;
    resumed.open(proxy.port(), streamPath(video), { { "Last-Event-ID", cut.lastEventId() } });
    QVERIFY(resumed.waitForHello());
    QTRY_VERIFY(resumed.comments().contains(more.last()));
    const QString problem = checkResumed(resumed, ids.at(1), ids, { ids.at(2) }, more);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstResume)
#include "tst_resume.moc"
