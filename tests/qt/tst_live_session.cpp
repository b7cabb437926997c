// SPDX-License-Identifier: MIT
// LiveSession against the real server, for both transports: header facts, history + live in the
// model, own posts through the outbox, and the 429 countdown with a rate-limited server.
#include "livecomments/qt/live_session.h"

#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"

#include <QSignalSpy>
#include <QtTest>

using livecomments::qt::CommentModel;
using livecomments::qt::LiveSession;

class TstLiveSession : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void historyLiveAndOwnPosts_data() { kinds(); }
    void historyLiveAndOwnPosts();
    void rateLimitShowsCountdown_data() { kinds(); }
    void rateLimitShowsCountdown();
    void endedVideoShowsEndedAndStaysClosed_data() { kinds(); }
    void endedVideoShowsEndedAndStaysClosed();
    void resetMarksGapAndRefills_data() { kinds(); }
    void resetMarksGapAndRefills();
    void unknownVideoReportsNotFound_data() { kinds(); }
    void unknownVideoReportsNotFound();

private:
    void kinds();
    void setUp(LiveSession& s, const QUrl& server, qint32 video, const QString& token);
    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::ServerProcess> m_limited;
};

void TstLiveSession::kinds()
{
    QTest::addColumn<LiveSession::TransportKind>("kind");
    QTest::newRow("curl") << LiveSession::TransportKind::Curl;
    QTest::newRow("qtnetwork") << LiveSession::TransportKind::QtNetwork;
}

void TstLiveSession::initTestCase()
{
    m_server
        = std::make_unique<lctest::ServerProcess>(QStringList { QStringLiteral("--stats-ms=300") });
    QVERIFY2(m_server->start(), m_server->log().constData());
    m_limited = std::make_unique<lctest::ServerProcess>(
        QStringList { QStringLiteral("--rate-limit=2/30s") });
    QVERIFY2(m_limited->start(), m_limited->log().constData());
}

void TstLiveSession::setUp(LiveSession& s, const QUrl& server, qint32 video, const QString& token)
{
    QFETCH(LiveSession::TransportKind, kind);
    s.setTransport(kind);
    s.setServer(server);
    s.setVideoId(video);
    s.setToken(token);
    s.start();
}

void TstLiveSession::historyLiveAndOwnPosts()
{
    const QString streamer
        = m_server->token(QStringLiteral("1"), QStringLiteral("host"), QStringLiteral("streamer"));
    const qint32 video
        = lctest::createVideo(m_server->baseUrl(), streamer, QStringLiteral("Session"));
    QVERIFY(video > 0);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(
            lctest::postComment(m_server->baseUrl(), streamer, video, QStringLiteral("h%1").arg(i))
                .status,
            201);

    LiveSession s;
    const QString mine = m_server->token(QStringLiteral("5"), QStringLiteral("me"));
    setUp(s, m_server->baseUrl(), video, mine);
    QCOMPARE(s.userId(), QStringLiteral("5"));
    QCOMPARE(s.userName(), QStringLiteral("me"));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(s.title(), QStringLiteral("Session"), 10000);
    QVERIFY(s.live());
    QVERIFY(!s.ended());
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 3, 10000);
    QVERIFY(s.historyLoaded());
    QVERIFY(s.atBeginning());
    QTRY_VERIFY_WITH_TIMEOUT(s.viewers() >= 1, 10000); // `stats` every 300 ms

    QSignalSpy live(&s, &LiveSession::liveComment);
    QCOMPARE(
        lctest::postComment(m_server->baseUrl(), streamer, video, QStringLiteral("live!")).status,
        201);
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 4, 10000);
    QCOMPARE(s.comments()->at(0).text, QStringLiteral("live!")); // newest first
    QCOMPARE(live.count(), 1);
    QCOMPARE(live.at(0).at(0).toMap().value(QStringLiteral("own")).toBool(), false);

    QVERIFY(!s.post(QStringLiteral("  mine  ")).isEmpty());
    QCOMPARE(s.outbox().size(), 1);
    QCOMPARE(s.outbox().at(0).toMap().value(QStringLiteral("state")).toString(),
        QStringLiteral("pending"));
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 5, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(s.outbox().isEmpty(), 10000);
    QCOMPARE(s.comments()->at(0).text, QStringLiteral("mine"));
    QCOMPARE(s.comments()->index(0).data(int(CommentModel::Role::Own)).toBool(), true);
    QCOMPARE(s.post(QString(501, QLatin1Char('x'))), QString()); // over the limit: refused at once
    QCOMPARE(s.status(), LiveSession::Status::Ok);
}

void TstLiveSession::endedVideoShowsEndedAndStaysClosed()
{
    const QString streamer
        = m_server->token(QStringLiteral("1"), QStringLiteral("host"), QStringLiteral("streamer"));
    const qint32 video = lctest::createVideo(m_server->baseUrl(), streamer, QStringLiteral("Ends"));
    QVERIFY(video > 0);
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    LiveSession s;
    QSignalSpy endedSpy(&s, &LiveSession::videoEnded);
    setUp(s, proxy.baseUrl(), video, m_server->token(QStringLiteral("5"), QStringLiteral("me")));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(s.live(), 10000);
    QVERIFY(!s.ended());

    const auto end = lctest::http("POST",
        lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/end").arg(video)), {},
        lctest::bearer(streamer));
    QCOMPARE(end.status, 200);
    QTRY_COMPARE_WITH_TIMEOUT(endedSpy.count(), 1, 10000);
    QVERIFY(s.ended());
    QVERIFY(!s.live());
    QCOMPARE(s.status(), LiveSession::Status::Ended);
    QCOMPARE(s.state(), LiveSession::State::Live); // the server keeps the stream open

    // The dropped stream of an ended video is not reopened.
    const int accepted = proxy.acceptedConnections();
    proxy.cutAll();
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Closed, 10000);
    QCOMPARE(s.status(), LiveSession::Status::Ended);
    QVERIFY(s.ended());
    QCOMPARE(proxy.acceptedConnections(), accepted);
    QCOMPARE(endedSpy.count(), 1);
}

void TstLiveSession::rateLimitShowsCountdown()
{
    const QString streamer
        = m_limited->token(QStringLiteral("1"), QStringLiteral("host"), QStringLiteral("streamer"));
    const qint32 video
        = lctest::createVideo(m_limited->baseUrl(), streamer, QStringLiteral("Limited"));
    QVERIFY(video > 0);
    LiveSession s;
    // A fresh user per row: the bucket is per user.
    const QString user = QString::number(100 + QTest::currentDataTag()[0]);
    setUp(s, m_limited->baseUrl(), video, m_limited->token(user, QStringLiteral("chatty")));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    for (int i = 0; i < 8; ++i)
        s.post(QStringLiteral("spam %1").arg(i));
    QTRY_VERIFY_WITH_TIMEOUT(s.rateLimitedFor() > 0, 10000);
    QVERIFY(s.rateLimitedFor() <= 31);
    // Rate-limited posts stay in the outbox (retried later with the same key), never lost.
    QVERIFY(!s.outbox().isEmpty());
    for (const QVariant& entry : s.outbox())
        QCOMPARE(
            entry.toMap().value(QStringLiteral("state")).toString(), QStringLiteral("pending"));
}

void TstLiveSession::resetMarksGapAndRefills()
{
    // More comments missed than --replay-limit: the server sends `reset`; the session marks a
    // possible gap and refetches the newest page, so the missed comments still show up.
    lctest::ServerProcess server({ QStringLiteral("--replay-limit=3") });
    QVERIFY2(server.start(), server.log().constData());
    lctest::FaultProxy proxy(server.port());
    QVERIFY(proxy.start());
    const QString streamer
        = server.token(QStringLiteral("1"), QStringLiteral("host"), QStringLiteral("streamer"));
    const qint32 video = lctest::createVideo(server.baseUrl(), streamer, QStringLiteral("Gap"));
    QVERIFY(video > 0);
    LiveSession s;
    setUp(s, proxy.baseUrl(), video, server.token(QStringLiteral("5"), QStringLiteral("me")));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    QCOMPARE(
        lctest::postComment(server.baseUrl(), streamer, video, QStringLiteral("before")).status,
        201);
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 1, 10000);
    proxy.setRefusing(true);
    proxy.cutAll();
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Reconnecting, 10000);
    for (int i = 0; i < 8; ++i)
        QCOMPARE(lctest::postComment(
                     server.baseUrl(), streamer, video, QStringLiteral("missed %1").arg(i))
                     .status,
            201);
    proxy.setRefusing(false);
    s.reconnect();
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 20000);
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 9, 10000); // refilled from history
    QCOMPARE(lctest::postComment(server.baseUrl(), streamer, video, QStringLiteral("after")).status,
        201);
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 10, 10000);
    bool gap = false;
    for (int row = 0; row < s.comments()->count(); ++row)
        gap = gap || s.comments()->index(row).data(int(CommentModel::Role::GapBefore)).toBool();
    QVERIFY(gap);
}

void TstLiveSession::unknownVideoReportsNotFound()
{
    LiveSession s;
    QSignalSpy errors(&s, &LiveSession::errorOccurred);
    setUp(
        s, m_server->baseUrl(), 999999, m_server->token(QStringLiteral("5"), QStringLiteral("me")));
    QTRY_COMPARE_WITH_TIMEOUT(s.status(), LiveSession::Status::NotFound, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Closed, 10000);
    QVERIFY(!errors.isEmpty());
}

QTEST_GUILESS_MAIN(TstLiveSession)
#include "tst_live_session.moc"
