// SPDX-License-Identifier: MIT
// LiveSession against the real server, for both HTTP backends: header facts, history + live in the
// model, own posts through the outbox, the 429 countdown with a rate-limited server, and the
// offline start: cached history at once, gap filled, deletions revalidated, the persistent outbox.
#include "livecomments/qt/live_session.h"

#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

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
    void offlineStartShowsCacheThenCatchesUp_data() { kinds(); }
    void offlineStartShowsCacheThenCatchesUp();
    void cacheDefaultsToAppDataLocation();
    void ownPostIsPendingRowThenStoredInPlace_data() { kinds(); }
    void ownPostIsPendingRowThenStoredInPlace();
    void offlinePostIsPendingRowThenSentOnce_data() { kinds(); }
    void offlinePostIsPendingRowThenSentOnce();
    void failedPostStaysAsRowUntilRetriedOrDiscarded_data() { kinds(); }
    void failedPostStaysAsRowUntilRetriedOrDiscarded();

private:
    void kinds();
    void setUp(LiveSession& s, const QUrl& server, qint32 video, const QString& token);
    /// The comment texts of @p s, newest first.
    static QStringList texts(const LiveSession& s);
    /// A new video of user 1 ("host", streamer) with @p history comments "h0", "h1", ...; 0 when
    /// the server refused.
    static qint32 videoWithHistory(
        lctest::ServerProcess& server, const QString& title, int history, QString* streamer);
    /// How many comments of @p video the server holds with @p text (-1: the request failed).
    static int copiesOnServer(const QUrl& server, qint32 video, const QString& text);
    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::ServerProcess> m_limited;
    QTemporaryDir m_dir;
    int m_caches = 0;
};

void TstLiveSession::kinds()
{
    QTest::addColumn<LiveSession::TransportKind>("kind");
    QTest::newRow("curl") << LiveSession::TransportKind::Curl;
    QTest::newRow("qtnetwork") << LiveSession::TransportKind::QtNetwork;
}

void TstLiveSession::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QVERIFY(m_dir.isValid());
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
    // A cache of its own per session unless the test chose one (sessions must not see each
    // other's history).
    if (s.cachePath() == LiveSession::defaultCachePath())
        s.setCachePath(m_dir.filePath(QStringLiteral("cache-%1.sqlite").arg(++m_caches)));
    s.setServer(server);
    s.setVideoId(video);
    s.setToken(token);
    s.start();
}

void TstLiveSession::historyLiveAndOwnPosts()
{
    QString streamer;
    const qint32 video = videoWithHistory(*m_server, QStringLiteral("Session"), 3, &streamer);
    QVERIFY(video > 0);

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

    // The dropped stream of an ended video is not reopened. Counted once no history request is
    // in flight: Qt Network may send a GET cut before its answer again on a new connection,
    // which is no reopened stream (one connection more, once in about 15 runs under TSan).
    QTRY_VERIFY_WITH_TIMEOUT(
        s.timeline() && !s.timeline()->status().fillingGap && !s.timeline()->status().loadingOlder,
        10000);
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
    // More comments missed than --replay-limit: the server sends `reset`; the Timeline fetches
    // what was missed with `after=`, so the missed comments still show up, each once.
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
    // The core Timeline refills exactly (`after=` from its newest id): every comment once, in
    // order.
    QStringList expected { QStringLiteral("after") };
    for (int i = 7; i >= 0; --i)
        expected.append(QStringLiteral("missed %1").arg(i));
    expected.append(QStringLiteral("before"));
    QCOMPARE(texts(s), expected);
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

qint32 TstLiveSession::videoWithHistory(
    lctest::ServerProcess& server, const QString& title, int history, QString* streamer)
{
    *streamer
        = server.token(QStringLiteral("1"), QStringLiteral("host"), QStringLiteral("streamer"));
    const qint32 video = lctest::createVideo(server.baseUrl(), *streamer, title);
    for (int i = 0; video > 0 && i < history; ++i) {
        if (lctest::postComment(server.baseUrl(), *streamer, video, QStringLiteral("h%1").arg(i))
                .status
            != 201)
            return 0;
    }
    return video;
}

int TstLiveSession::copiesOnServer(const QUrl& server, qint32 video, const QString& text)
{
    const auto stored = lctest::http("GET",
        lctest::endpoint(server, QStringLiteral("/videos/%1/comments?limit=200").arg(video)));
    int copies = 0;
    for (const QJsonValue& c : stored.json().value(QStringLiteral("comments")).toArray())
        copies += c.toObject().value(QStringLiteral("text")).toString() == text;
    return stored.status == 200 ? copies : -1;
}

QStringList TstLiveSession::texts(const LiveSession& s)
{
    QStringList out;
    for (int row = 0; row < s.comments()->count(); ++row)
        out.append(s.comments()->at(row).text);
    return out;
}

void TstLiveSession::offlineStartShowsCacheThenCatchesUp()
{
    lctest::ServerProcess server({ QStringLiteral("--retry-ms=200") });
    QVERIFY2(server.start(), server.log().constData());
    const QString streamer
        = server.token(QStringLiteral("1"), QStringLiteral("host"), QStringLiteral("streamer"));
    const QString viewer = server.token(QStringLiteral("5"), QStringLiteral("me"));
    const qint32 video = lctest::createVideo(server.baseUrl(), streamer, QStringLiteral("Offline"));
    QVERIFY(video > 0);
    QStringList ids;
    for (const QString& text :
        { QStringLiteral("h0"), QStringLiteral("h1"), QStringLiteral("h2") }) {
        const auto r = lctest::postComment(server.baseUrl(), streamer, video, text);
        QCOMPARE(r.status, 201);
        ids.append(r.json().value(QStringLiteral("id")).toString());
    }
    const QString cache = m_dir.filePath(QStringLiteral("offline-%1.sqlite").arg(++m_caches));

    {
        // First visit: the video is watched once, so its history is in the cache.
        LiveSession first;
        first.setCachePath(cache);
        setUp(first, server.baseUrl(), video, viewer);
        QTRY_COMPARE_WITH_TIMEOUT(first.state(), LiveSession::State::Live, 10000);
        QTRY_COMPARE_WITH_TIMEOUT(texts(first), QStringList({ "h2", "h1", "h0" }), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(first.timeline() && !first.timeline()->status().fillingGap
                && !first.timeline()->status().loadingOlder,
            10000);
    }
    // While the viewer is away: two new comments, and h1 is deleted.
    QCOMPARE(
        lctest::postComment(server.baseUrl(), streamer, video, QStringLiteral("m0")).status, 201);
    QCOMPARE(
        lctest::postComment(server.baseUrl(), streamer, video, QStringLiteral("m1")).status, 201);
    const auto del = lctest::http("DELETE",
        lctest::endpoint(
            server.baseUrl(), QStringLiteral("/videos/%1/comments/%2").arg(video).arg(ids[1])),
        {}, lctest::bearer(streamer));
    QCOMPARE(del.status, 204);
    QVERIFY(server.terminate());

    {
        // Reopened with the server down: the cached history at once, offline status, and a
        // comment typed now is kept as pending — then the app quits.
        LiveSession offline;
        offline.setCachePath(cache);
        QElapsedTimer clock;
        clock.start();
        setUp(offline, server.baseUrl(), video, viewer);
        QTRY_COMPARE_WITH_TIMEOUT(texts(offline), QStringList({ "h2", "h1", "h0" }), 5000);
        QVERIFY2(clock.elapsed() < 3000, QByteArray::number(clock.elapsed()));
        QTRY_COMPARE_WITH_TIMEOUT(offline.state(), LiveSession::State::Reconnecting, 10000);
        QVERIFY2(offline.statusText().startsWith(QStringLiteral("Offline — reconnecting")),
            qPrintable(offline.statusText()));
        QVERIFY(!offline.post(QStringLiteral("typed offline")).isEmpty());
        QCOMPARE(offline.outbox().size(), 1);
        QCOMPARE(offline.outbox().at(0).toMap().value(QStringLiteral("state")).toString(),
            QStringLiteral("pending"));
    }

    // Started again, still offline: the typed comment is back from the cache, as a pending row
    // after the cached history.
    LiveSession s;
    s.setCachePath(cache);
    setUp(s, server.baseUrl(), video, viewer);
    QTRY_COMPARE_WITH_TIMEOUT(s.outbox().size(), 1, 5000);
    QCOMPARE(s.outbox().at(0).toMap().value(QStringLiteral("text")).toString(),
        QStringLiteral("typed offline"));
    QTRY_COMPARE_WITH_TIMEOUT(texts(s), QStringList({ "typed offline", "h2", "h1", "h0" }), 5000);
    QCOMPARE(s.comments()->index(0).data(int(CommentModel::Role::Pending)).toBool(), true);

    // The server comes back (same store, same port): the gap fills, h1 disappears after
    // revalidation, the queued comment goes out once and shows once.
    QVERIFY2(server.restart(), server.log().constData());
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 40000);
    QTRY_COMPARE_WITH_TIMEOUT(
        texts(s), QStringList({ "typed offline", "m1", "m0", "h2", "h0" }), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(s.outbox().isEmpty(), 10000);
    QCOMPARE(copiesOnServer(server.baseUrl(), video, QStringLiteral("typed offline")), 1);
    QCOMPARE(s.comments()->count(), 5); // no duplicate rows either

    // Reopened with nothing changed: the cached page is revalidated with its stored ETag and the
    // server answers 304. A visit stores the ETag of the page it starts from when the answer to
    // its revalidation arrives — best effort, not when the visit is closed first (seen under
    // TSan) — so visits repeat, each given time for that answer, until one is answered 304.
    auto notModified = [&server] {
        const auto m = lctest::http("GET", lctest::endpoint(server.baseUrl(), "/metrics"));
        const double v = lctest::metricValue(m.body,
            "livecomments_http_requests_total{route=\"/videos/{id}/comments\",status=\"304\"}");
        return std::isnan(v) ? 0.0 : v;
    };
    const double before = notModified();
    for (int visit = 0; visit < 5 && notModified() <= before; ++visit) {
        LiveSession again;
        again.setCachePath(cache);
        setUp(again, server.baseUrl(), video, viewer);
        QTRY_COMPARE_WITH_TIMEOUT(again.state(), LiveSession::State::Live, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(again.timeline() && !again.timeline()->status().fillingGap, 10000);
        (void)QTest::qWaitFor([&] { return notModified() > before; }, 3000);
        QCOMPARE(texts(again), texts(s));
    }
    QVERIFY(notModified() > before);
}

void TstLiveSession::cacheDefaultsToAppDataLocation()
{
    LiveSession s;
    const QString expected = QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation))
                                 .filePath(QStringLiteral("livecomments-cache.sqlite"));
    QCOMPARE(s.cachePath(), expected);
    QCOMPARE(LiveSession::defaultCachePath(), expected);
    s.setCachePath(m_dir.filePath(QStringLiteral("elsewhere.sqlite")));
    QCOMPARE(s.cachePath(), m_dir.filePath(QStringLiteral("elsewhere.sqlite")));
}

void TstLiveSession::ownPostIsPendingRowThenStoredInPlace()
{
    QString streamer;
    const qint32 video = videoWithHistory(*m_server, QStringLiteral("Own rows"), 2, &streamer);
    QVERIFY(video > 0);
    LiveSession s;
    setUp(
        s, m_server->baseUrl(), video, m_server->token(QStringLiteral("5"), QStringLiteral("me")));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(s.comments()->count(), 2, 10000);
    QTRY_VERIFY_WITH_TIMEOUT(!s.timeline()->status().fillingGap, 10000);

    CommentModel* model = s.comments();
    QSignalSpy inserted(model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy live(&s, &LiveSession::liveComment);
    const QString key = s.post(QStringLiteral("  mine  "));
    QVERIFY(!key.isEmpty());
    // A row at once, in the post() call, before any answer can have arrived: pending, newest.
    QCOMPARE(model->count(), 3);
    QCOMPARE(inserted.count(), 1);
    const QPersistentModelIndex row(model->index(0));
    QCOMPARE(row.data(int(CommentModel::Role::Pending)).toBool(), true);
    QCOMPARE(row.data(int(CommentModel::Role::LocalId)).toString(), key);
    QCOMPARE(row.data(int(CommentModel::Role::Id)).toString(), QStringLiteral("0"));
    QCOMPARE(row.data(int(CommentModel::Role::Text)).toString(), QStringLiteral("mine"));
    QCOMPARE(row.data(int(CommentModel::Role::Own)).toBool(), true);
    QCOMPARE(row.data(int(CommentModel::Role::UserName)).toString(), QStringLiteral("me"));
    QCOMPARE(live.count(), 0); // the overlay waits for the stored comment

    // Acknowledged: the same row becomes the stored comment (no removal, no second insertion).
    QTRY_VERIFY_WITH_TIMEOUT(!row.data(int(CommentModel::Role::Pending)).toBool(), 10000);
    QVERIFY(row.isValid());
    QCOMPARE(row.row(), 0);
    QCOMPARE(row.data(int(CommentModel::Role::Failed)).toBool(), false);
    QCOMPARE(row.data(int(CommentModel::Role::LocalId)).toString(), QString());
    const QString id = row.data(int(CommentModel::Role::Id)).toString();
    QVERIFY(id != QStringLiteral("0"));
    QCOMPARE(removed.count(), 0);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(model->count(), 3);
    QCOMPARE(model->ownCount(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(live.count(), 1, 10000);
    QCOMPARE(live.at(0).at(0).toMap().value(QStringLiteral("commentId")).toString(), id);
    QCOMPARE(live.at(0).at(0).toMap().value(QStringLiteral("own")).toBool(), true);

    // The id is the server's, and the echo of the live stream added nothing: a later comment
    // of the stream (which follows the echo on the same stream) is the only new row.
    const auto stored = lctest::http("GET",
        lctest::endpoint(
            m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=10").arg(video)));
    QCOMPARE(stored.status, 200);
    const QJsonArray comments = stored.json().value(QStringLiteral("comments")).toArray();
    QCOMPARE(comments.first().toObject().value(QStringLiteral("id")).toString(), id);
    QCOMPARE(
        lctest::postComment(m_server->baseUrl(), streamer, video, QStringLiteral("later")).status,
        201);
    QTRY_COMPARE_WITH_TIMEOUT(model->count(), 4, 10000);
    QCOMPARE(texts(s), QStringList({ "later", "mine", "h1", "h0" }));
    QCOMPARE(removed.count(), 0);
    QCOMPARE(live.count(), 2);
}

void TstLiveSession::offlinePostIsPendingRowThenSentOnce()
{
    lctest::ServerProcess server({ QStringLiteral("--retry-ms=200") });
    QVERIFY2(server.start(), server.log().constData());
    lctest::FaultProxy proxy(server.port());
    QVERIFY(proxy.start());
    QString streamer;
    const qint32 video = videoWithHistory(server, QStringLiteral("Away"), 1, &streamer);
    QVERIFY(video > 0);
    LiveSession s;
    setUp(s, proxy.baseUrl(), video, server.token(QStringLiteral("5"), QStringLiteral("me")));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(texts(s), QStringList({ "h0" }), 10000);

    // The network goes away; a post typed now is a pending row at once and stays one.
    proxy.setRefusing(true);
    proxy.cutAll();
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Reconnecting, 10000);
    CommentModel* model = s.comments();
    const QString key = s.post(QStringLiteral("typed offline"));
    QVERIFY(!key.isEmpty());
    QCOMPARE(texts(s), QStringList({ "typed offline", "h0" }));
    const QPersistentModelIndex row(model->index(0));
    QCOMPARE(row.data(int(CommentModel::Role::Pending)).toBool(), true);
    QCOMPARE(row.data(int(CommentModel::Role::LocalId)).toString(), key);
    // At least one send attempt fails on the refused network; the row is still pending then.
    QTRY_VERIFY_WITH_TIMEOUT(!s.outbox().isEmpty()
            && s.outbox().at(0).toMap().value(QStringLiteral("attempts")).toInt() >= 1,
        10000);
    QCOMPARE(row.data(int(CommentModel::Role::Pending)).toBool(), true);
    QCOMPARE(row.data(int(CommentModel::Role::Failed)).toBool(), false);
    QCOMPARE(model->count(), 2);

    // The network returns: the post is sent, once, and its row becomes the stored comment.
    proxy.setRefusing(false);
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 40000);
    QTRY_VERIFY_WITH_TIMEOUT(!row.data(int(CommentModel::Role::Pending)).toBool(), 40000);
    QTRY_VERIFY_WITH_TIMEOUT(s.outbox().isEmpty(), 10000);
    QCOMPARE(texts(s), QStringList({ "typed offline", "h0" }));
    QVERIFY(row.data(int(CommentModel::Role::Id)).toString() != QStringLiteral("0"));
    QCOMPARE(model->ownCount(), 0);
    // A comment after it arrives live: by then the echo of ours is in, and added no row.
    QCOMPARE(lctest::postComment(server.baseUrl(), streamer, video, QStringLiteral("after")).status,
        201);
    QTRY_COMPARE_WITH_TIMEOUT(texts(s), QStringList({ "after", "typed offline", "h0" }), 10000);
    QCOMPARE(copiesOnServer(server.baseUrl(), video, QStringLiteral("typed offline")), 1);
}

void TstLiveSession::failedPostStaysAsRowUntilRetriedOrDiscarded()
{
    QString streamer;
    const qint32 video = videoWithHistory(*m_server, QStringLiteral("Refused"), 1, &streamer);
    QVERIFY(video > 0);
    LiveSession s;
    setUp(
        s, m_server->baseUrl(), video, m_server->token(QStringLiteral("5"), QStringLiteral("me")));
    QTRY_COMPARE_WITH_TIMEOUT(s.state(), LiveSession::State::Live, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(texts(s), QStringList({ "h0" }), 10000);
    // The streamer ends the video behind the viewer's back: a post now is refused for good (409).
    const auto end = lctest::http("POST",
        lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/end").arg(video)), {},
        lctest::bearer(streamer));
    QCOMPARE(end.status, 200);
    CommentModel* model = s.comments();
    const QString key = s.post(QStringLiteral("too late"));
    QVERIFY(!key.isEmpty());
    const QPersistentModelIndex row(model->index(0));
    QCOMPARE(row.data(int(CommentModel::Role::LocalId)).toString(), key);
    QTRY_VERIFY_WITH_TIMEOUT(row.data(int(CommentModel::Role::Failed)).toBool(), 10000);
    QCOMPARE(row.data(int(CommentModel::Role::Pending)).toBool(), false);
    QVERIFY(!row.data(int(CommentModel::Role::Error)).toString().isEmpty());
    QCOMPARE(row.row(), 0);
    QCOMPARE(texts(s), QStringList({ "too late", "h0" }));
    QCOMPARE(copiesOnServer(m_server->baseUrl(), video, QStringLiteral("too late")), 0);

    // Retry: the failed row goes, a new pending row (new key) takes its place; refused again.
    s.retry(key);
    QCOMPARE(model->rowOfOwn(key), -1);
    QCOMPARE(model->ownCount(), 1);
    const QString again = model->index(0).data(int(CommentModel::Role::LocalId)).toString();
    QVERIFY(!again.isEmpty() && again != key);
    QCOMPARE(model->index(0).data(int(CommentModel::Role::Pending)).toBool(), true);
    QTRY_VERIFY_WITH_TIMEOUT(model->index(0).data(int(CommentModel::Role::Failed)).toBool(), 10000);
    // Discard: the row goes for good (the Timeline still knows it; the chat does not show it).
    s.dismiss(again);
    QCOMPARE(texts(s), QStringList({ "h0" }));
    QCOMPARE(model->ownCount(), 0);
    QVERIFY(s.outbox().isEmpty());
}

QTEST_GUILESS_MAIN(TstLiveSession)
#include "tst_live_session.moc"
