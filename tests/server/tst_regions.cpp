// SPDX-License-Identifier: MIT
// Two regions, each a single node on its own SQLite file, relaying to each other through fault
// proxies (the inter-region link): docs/operations.md "Regions", docs/protocol.md "Region relay".
#include "fault_proxy.h"
#include "http_client.h"
#include "nginx_process.h"
#include "postgres_process.h"
#include "redis_process.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QDateTime>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMessageAuthenticationCode>
#include <QProcess>
#include <QSet>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <sqlite3.h>

#include <memory>

using namespace lctest;

namespace {

constexpr char kRegionSecret[] = "regions-test-secret-0123456789";

/// One number from a SQLite file (read-only, beside the running server; WAL readers never block).
qint64 sqliteNumber(const QString& path, const QByteArray& sql, qint64 bind = 0)
{
    qint64 value = -1;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READONLY, nullptr)
        == SQLITE_OK) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db, sql.constData(), -1, &stmt, nullptr) == SQLITE_OK) {
            if (sql.contains('?'))
                sqlite3_bind_int64(stmt, 1, bind);
            if (sqlite3_step(stmt) == SQLITE_ROW)
                value = sqlite3_column_int64(stmt, 0);
        }
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return value;
}

/// One series of /metrics (name with labels), NaN when absent.
double metricOf(const QUrl& base, const QByteArray& series)
{
    return metricValue(http("GET", endpoint(base, QStringLiteral("/metrics"))).body, series);
}

QByteArray peerSeries(const char* name, const char* peer)
{
    return QByteArray(name) + "{peer=\"" + peer + "\"}";
}

/// Every page of a video's history, newest first, as the raw bodies (compared across regions).
QList<QByteArray> historyPages(const QUrl& base, qint32 videoId, int limit = 7)
{
    QList<QByteArray> pages;
    QString cursor;
    for (int guard = 0; guard < 1000; ++guard) {
        QString path = QStringLiteral("/videos/%1/comments?limit=%2").arg(videoId).arg(limit);
        if (!cursor.isEmpty())
            path += QStringLiteral("&before=") + cursor;
        const HttpReply r = http("GET", endpoint(base, path));
        if (r.status != 200)
            return { "HTTP " + QByteArray::number(r.status) };
        pages.append(r.body);
        const QJsonValue next = r.json().value(QStringLiteral("next_cursor"));
        if (!next.isString())
            break;
        cursor = next.toString();
    }
    return pages;
}

QList<quint64> historyIds(const QUrl& base, qint32 videoId)
{
    QList<quint64> ids;
    for (const QByteArray& page : historyPages(base, videoId, 200)) {
        const auto comments
            = QJsonDocument::fromJson(page).object().value(QStringLiteral("comments")).toArray();
        for (const auto& c : comments)
            ids.append(c.toObject().value(QStringLiteral("id")).toString().toULongLong());
    }
    return ids;
}

bool unique(const QList<quint64>& ids)
{
    return QSet<quint64>(ids.begin(), ids.end()).size() == ids.size();
}

/// Runs the `openssl` CLI in `dir`; false (with its output as a warning) on failure.
bool openssl(const QString& dir, const QStringList& args)
{
    QProcess p;
    p.setWorkingDirectory(dir);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral("openssl"), args);
    const bool ok
        = p.waitForFinished(60000) && p.exitStatus() == QProcess::NormalExit && p.exitCode() == 0;
    if (!ok)
        qWarning("openssl %s: %s", qPrintable(args.join(' ')), p.readAll().constData());
    return ok;
}

/// A throwaway PKI in `dir`: CAs ca.pem and other.pem, and server.pem/server.key for IP
/// 127.0.0.1 signed by ca.pem only.
bool makeTestPki(const QString& dir)
{
    const QStringList ec { QStringLiteral("-newkey"), QStringLiteral("ec"),
        QStringLiteral("-pkeyopt"), QStringLiteral("ec_paramgen_curve:prime256v1"),
        QStringLiteral("-nodes"), QStringLiteral("-days"), QStringLiteral("2") };
    for (const QString ca : { QStringLiteral("ca"), QStringLiteral("other") }) {
        if (!openssl(dir,
                QStringList { QStringLiteral("req"), QStringLiteral("-x509"),
                    QStringLiteral("-keyout"), ca + QStringLiteral(".key"), QStringLiteral("-out"),
                    ca + QStringLiteral(".pem"), QStringLiteral("-subj"),
                    QStringLiteral("/CN=LiveComments region test ") + ca }
                    + ec))
            return false;
    }
    QFile ext(dir + QStringLiteral("/server.ext"));
    if (!ext.open(QIODevice::WriteOnly))
        return false;
    ext.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
              "extendedKeyUsage=serverAuth\n");
    ext.close();
    return openssl(dir,
               QStringList { QStringLiteral("req"), QStringLiteral("-keyout"),
                   QStringLiteral("server.key"), QStringLiteral("-out"),
                   QStringLiteral("server.csr"), QStringLiteral("-subj"),
                   QStringLiteral("/CN=127.0.0.1") }
                   + ec.mid(0, 5))
        && openssl(dir,
            { QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
                QStringLiteral("server.csr"), QStringLiteral("-CA"), QStringLiteral("ca.pem"),
                QStringLiteral("-CAkey"), QStringLiteral("ca.key"),
                QStringLiteral("-CAcreateserial"), QStringLiteral("-out"),
                QStringLiteral("server.pem"), QStringLiteral("-days"), QStringLiteral("2"),
                QStringLiteral("-extfile"), QStringLiteral("server.ext") });
}

/// Replaces `to` with a copy of `from`.
bool copyOver(const QString& from, const QString& to)
{
    QFile::remove(to);
    return QFile::copy(from, to);
}

quint64 postedId(const HttpReply& reply)
{
    return reply.json().value(QStringLiteral("id")).toString().toULongLong();
}

} // namespace

class TstRegions : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void writesCrossBothWaysOnce();
    void relayKeepsOneConnection();
    void linkCutConverges();
    void queueSurvivesKill();
    void clusteredRegionDrainsOnce();
    void ingestRejects();
    void relayOverVerifiedTls();
    void deletionOvertakesItsComment();
    void peerListFromCommandLineAndConfig();
    void badRegionOptionsExit_data();
    void badRegionOptionsExit();

private:
    /// Waits until neither region has undelivered relay rows (metrics and the SQLite files).
    bool settled(int timeoutMs = 20000);
    /// Creates a video in `origin`, waits until the other region has it, opens a viewer in each
    /// region and waits for both `hello`s; the video id, or 0 on failure.
    qint32 watchedInBoth(
        ServerProcess& origin, const QString& title, SseReader& viewerA, SseReader& viewerB);
    HttpReply ingest(const QByteArray& body, const QByteArray& region = "b", qint64 timestamp = -1,
        const QByteArray& signature = {});

    /// Region "a" reaches "b" through m_toB, and "b" reaches "a" through m_toA.
    std::unique_ptr<FaultProxy> m_toA, m_toB;
    std::unique_ptr<ServerProcess> m_a, m_b;
    QString m_streamer;
};

void TstRegions::initTestCase()
{
    raiseFileLimit();
    QVERIFY2(!ServerProcess::serverBinary().isEmpty(), "LC_SERVER_BIN is not set");
    // The proxies first (their ports go into each region's --peer-region), pointed at the servers
    // once those listen.
    m_toA = std::make_unique<FaultProxy>(1);
    m_toB = std::make_unique<FaultProxy>(1);
    QVERIFY(m_toA->start());
    QVERIFY(m_toB->start());
    auto regionArgs = [](const char* self, const char* peer, const FaultProxy& link) {
        return QStringList { QStringLiteral("--region=%1").arg(self),
            QStringLiteral("--peer-region=%1=%2").arg(peer, link.baseUrl().toString()),
            QStringLiteral("--region-secret=%1").arg(kRegionSecret) };
    };
    m_a = std::make_unique<ServerProcess>(regionArgs("a", "b", *m_toB));
    m_b = std::make_unique<ServerProcess>(regionArgs("b", "a", *m_toA));
    QVERIFY(m_a->start());
    QVERIFY(m_b->start());
    m_toA->setUpstreamPort(m_a->port());
    m_toB->setUpstreamPort(m_b->port());
    // Both regions share the JWT secret (the fixture's), so one token works in either.
    m_streamer
        = m_a->token(QStringLiteral("100"), QStringLiteral("streamer"), QStringLiteral("streamer"));
}

void TstRegions::cleanupTestCase()
{
    if (m_a)
        QVERIFY(m_a->terminate());
    if (m_b)
        QVERIFY(m_b->terminate());
}

bool TstRegions::settled(int timeoutMs)
{
    return QTest::qWaitFor(
        [&] {
            return metricOf(
                       m_a->baseUrl(), peerSeries("livecomments_region_relay_queue_depth", "b"))
                == 0
                && metricOf(
                       m_b->baseUrl(), peerSeries("livecomments_region_relay_queue_depth", "a"))
                == 0
                && sqliteNumber(m_a->storePath(), "SELECT COUNT(*) FROM relay_queue") == 0
                && sqliteNumber(m_b->storePath(), "SELECT COUNT(*) FROM relay_queue") == 0;
        },
        timeoutMs);
}

qint32 TstRegions::watchedInBoth(
    ServerProcess& origin, const QString& title, SseReader& viewerA, SseReader& viewerB)
{
    const qint32 video = createVideo(origin.baseUrl(), m_streamer, title);
    const QString path = QStringLiteral("/videos/%1").arg(video);
    ServerProcess& other = &origin == m_a.get() ? *m_b : *m_a;
    if (video <= 0
        || !QTest::qWaitFor(
            [&] { return http("GET", endpoint(other.baseUrl(), path)).status == 200; }, 10000))
        return 0;
    viewerA.open(endpoint(m_a->baseUrl(), path + QStringLiteral("/subscriptions")));
    viewerB.open(endpoint(m_b->baseUrl(), path + QStringLiteral("/subscriptions")));
    return viewerA.waitForHello() && viewerB.waitForHello() ? video : 0;
}

void TstRegions::writesCrossBothWaysOnce()
{
    QVERIFY(settled());
    const QByteArray appliedSeries = "livecomments_region_ingest_events_total{result=\"applied\"}";
    const QByteArray duplicateSeries
        = "livecomments_region_ingest_events_total{result=\"duplicate\"}";
    const double appliedA = metricOf(m_a->baseUrl(), appliedSeries);
    const double appliedB = metricOf(m_b->baseUrl(), appliedSeries);
    const double sentA
        = metricOf(m_a->baseUrl(), peerSeries("livecomments_region_relay_events_total", "b"));
    const double sentB
        = metricOf(m_b->baseUrl(), peerSeries("livecomments_region_relay_events_total", "a"));

    // A video created in region a can be watched in region b.
    SseReader viewerA, viewerB;
    const qint32 video = watchedInBoth(*m_a, QStringLiteral("two regions"), viewerA, viewerB);
    QVERIFY(video > 0);
    const QString videoPath = QStringLiteral("/videos/%1").arg(video);

    const QString alice = m_a->token(QStringLiteral("1"), QStringLiteral("alice"));
    // Bob moderates: his role crosses with his comment.
    const QString bob
        = m_b->token(QStringLiteral("2"), QStringLiteral("bob"), QStringLiteral("moderator"));
    const HttpReply fromA = postComment(m_a->baseUrl(), alice, video, QStringLiteral("from a"));
    QCOMPARE(fromA.status, 201);
    QVERIFY(viewerB.waitForComments(1)); // live in the other region
    const HttpReply fromB = postComment(m_b->baseUrl(), bob, video, QStringLiteral("from b"));
    QCOMPARE(fromB.status, 201);
    QVERIFY(viewerA.waitForComments(2));
    QVERIFY(viewerB.waitForComments(2));
    const quint64 idA = postedId(fromA), idB = postedId(fromB);
    QVERIFY(idA != 0 && idB != 0 && idA != idB);
    QCOMPARE(viewerA.comments(), (QList<quint64> { idA, idB }));
    QCOMPARE(viewerB.comments(), (QList<quint64> { idA, idB }));
    // The relayed comment is the same object in both regions, under the same id, role included.
    QCOMPARE(viewerA.events("comment").last().data, viewerB.events("comment").last().data);
    QCOMPARE(viewerA.events("comment")
                 .last()
                 .json()
                 .value(QStringLiteral("user"))
                 .toObject()
                 .value(QStringLiteral("role"))
                 .toString(),
        QStringLiteral("moderator"));
    QCOMPARE(
        sqliteNumber(m_a->storePath(),
            "SELECT COUNT(*) FROM comments WHERE id = ? AND user_role = 'moderator'", qint64(idB)),
        qint64(1));
    QVERIFY(settled());
    QCOMPARE(historyPages(m_a->baseUrl(), video), historyPages(m_b->baseUrl(), video));
    QCOMPARE(historyIds(m_a->baseUrl(), video), (QList<quint64> { idB, idA }));
    // Exactly one row per comment in each store.
    for (const auto* region : { m_a.get(), m_b.get() }) {
        for (const quint64 id : { idA, idB })
            QCOMPARE(sqliteNumber(region->storePath(), "SELECT COUNT(*) FROM comments WHERE id = ?",
                         qint64(id)),
                qint64(1));
    }

    // A deletion made in b (by the author of a's comment, whose token both regions accept)
    // crosses to a, live and in history.
    const HttpReply deleted = http("DELETE",
        endpoint(m_b->baseUrl(), videoPath + QStringLiteral("/comments/%1").arg(idA)), {},
        bearer(alice));
    QCOMPARE(deleted.status, 204);
    QTRY_VERIFY_WITH_TIMEOUT(!viewerA.events("deleted").isEmpty(), 10000);
    QCOMPARE(viewerA.events("deleted").first().json().value(QStringLiteral("id")).toString(),
        QString::number(idA));
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(m_a->baseUrl(), video), (QList<quint64> { idB }), 10000);

    // `ended` made in a crosses to b.
    QCOMPARE(http("POST", endpoint(m_a->baseUrl(), videoPath + QStringLiteral("/end")), {},
                 bearer(m_streamer))
                 .status,
        200);
    QTRY_VERIFY_WITH_TIMEOUT(!viewerB.events("ended").isEmpty(), 10000);
    QTRY_COMPARE_WITH_TIMEOUT(http("GET", endpoint(m_b->baseUrl(), videoPath))
                                  .json()
                                  .value(QStringLiteral("status"))
                                  .toString(),
        QStringLiteral("ended"), 10000);

    // No echo: a sent video, comment and end (3 events); b sent a comment and a deletion (2).
    // Each region applied exactly what the other sent, nothing came back, nothing twice.
    QVERIFY(settled());
    QCOMPARE(
        metricOf(m_a->baseUrl(), peerSeries("livecomments_region_relay_events_total", "b")) - sentA,
        3.0);
    QCOMPARE(
        metricOf(m_b->baseUrl(), peerSeries("livecomments_region_relay_events_total", "a")) - sentB,
        2.0);
    QCOMPARE(metricOf(m_b->baseUrl(), appliedSeries) - appliedB, 3.0);
    QCOMPARE(metricOf(m_a->baseUrl(), appliedSeries) - appliedA, 2.0);
    QCOMPARE(metricOf(m_a->baseUrl(), duplicateSeries), 0.0);
    QCOMPARE(metricOf(m_b->baseUrl(), duplicateSeries), 0.0);
    QCOMPARE(historyPages(m_a->baseUrl(), video), historyPages(m_b->baseUrl(), video));
    QCOMPARE(http("GET", endpoint(m_a->baseUrl(), videoPath)).body,
        http("GET", endpoint(m_b->baseUrl(), videoPath)).body);
}

void TstRegions::relayKeepsOneConnection()
{
    // One keep-alive connection per peer carries batch after batch (the link, m_toB, counts the
    // connections a makes to b); a restart of the peer closes it, and the relay connects anew at
    // once, without a failed batch and with nothing lost.
    QVERIFY(settled());
    const qint32 video = createVideo(m_a->baseUrl(), m_streamer, QStringLiteral("one connection"));
    QVERIFY(video > 0);
    QTRY_COMPARE_WITH_TIMEOUT(
        http("GET", endpoint(m_b->baseUrl(), QStringLiteral("/videos/%1").arg(video))).status, 200,
        10000);
    QVERIFY(settled());
    const QByteArray batches = peerSeries("livecomments_region_relay_batches_total", "b");
    const QByteArray errors = peerSeries("livecomments_region_relay_errors_total", "b");
    const QByteArray connections = peerSeries("livecomments_region_relay_connections_total", "b");
    const double batchesBefore = metricOf(m_a->baseUrl(), batches);
    const double errorsBefore = metricOf(m_a->baseUrl(), errors);
    const double connectionsBefore = metricOf(m_a->baseUrl(), connections);
    const int acceptedBefore = m_toB->acceptedConnections();

    const QString alice = m_a->token(QStringLiteral("1"), QStringLiteral("alice"));
    QList<quint64> posted;
    auto postAndWait = [&](const QString& text) {
        const HttpReply r = postComment(m_a->baseUrl(), alice, video, text);
        if (r.status != 201)
            return false;
        posted << postedId(r);
        // Each comment its own batch: the next one is written after b stored this one.
        return QTest::qWaitFor(
            [&] { return historyIds(m_b->baseUrl(), video).size() == posted.size(); }, 10000);
    };
    constexpr int kBatches = 8;
    for (int i = 0; i < kBatches; ++i)
        QVERIFY(postAndWait(QStringLiteral("kept %1").arg(i)));
    QTRY_VERIFY_WITH_TIMEOUT(metricOf(m_a->baseUrl(), batches) - batchesBefore >= kBatches, 5000);
    // The connection of the earlier tests may have idled out: at most one new one.
    const int accepted = m_toB->acceptedConnections() - acceptedBefore;
    QVERIFY2(accepted <= 1, qPrintable(QStringLiteral("%1 connections").arg(accepted)));
    QCOMPARE(metricOf(m_a->baseUrl(), connections) - connectionsBefore, double(accepted));
    QCOMPARE(m_toB->openConnections(), 1);

    // b restarts: the proxy closes the kept connection's far side; the next batch fails on it
    // and goes again on a new connection right away (no relay error, no back-off).
    QVERIFY(m_b->restart());
    m_toB->setUpstreamPort(m_b->port());
    for (int i = 0; i < 3; ++i)
        QVERIFY(postAndWait(QStringLiteral("after restart %1").arg(i)));
    QVERIFY(settled());
    QCOMPARE(historyIds(m_b->baseUrl(), video).size(), posted.size());
    QCOMPARE(QSet<quint64>(posted.begin(), posted.end()).size(), kBatches + 3);
    QCOMPARE(historyPages(m_a->baseUrl(), video), historyPages(m_b->baseUrl(), video));
    QCOMPARE(metricOf(m_a->baseUrl(), errors), errorsBefore);
    const int reconnected = m_toB->acceptedConnections() - acceptedBefore - accepted;
    QVERIFY2(reconnected == 1, qPrintable(QStringLiteral("%1 connections").arg(reconnected)));
}

void TstRegions::linkCutConverges()
{
    QVERIFY(settled());
    SseReader viewerA, viewerB;
    const qint32 video = watchedInBoth(*m_b, QStringLiteral("cut link"), viewerA, viewerB);
    QVERIFY(video > 0);

    // Cut the link both ways: open connections reset, new ones refused.
    const double errorsA
        = metricOf(m_a->baseUrl(), peerSeries("livecomments_region_relay_errors_total", "b"));
    const double errorsB
        = metricOf(m_b->baseUrl(), peerSeries("livecomments_region_relay_errors_total", "a"));
    m_toA->setRefusing(true);
    m_toB->setRefusing(true);
    m_toA->cutAll();
    m_toB->cutAll();

    const QString alice = m_a->token(QStringLiteral("1"), QStringLiteral("alice"));
    const QString bob = m_b->token(QStringLiteral("2"), QStringLiteral("bob"));
    constexpr int kEach = 12;
    QList<quint64> posted;
    for (int i = 0; i < kEach; ++i) {
        // Interleaved, so each region's ids fall between the other's.
        const HttpReply a = postComment(m_a->baseUrl(), alice, video, QStringLiteral("a%1").arg(i));
        const HttpReply b = postComment(m_b->baseUrl(), bob, video, QStringLiteral("b%1").arg(i));
        QCOMPARE(a.status, 201);
        QCOMPARE(b.status, 201);
        posted << postedId(a) << postedId(b);
    }
    // Both relays tried and failed; the queues hold the writes and report their lag.
    QTRY_VERIFY_WITH_TIMEOUT(
        metricOf(m_a->baseUrl(), peerSeries("livecomments_region_relay_errors_total", "b"))
                > errorsA
            && metricOf(m_b->baseUrl(), peerSeries("livecomments_region_relay_errors_total", "a"))
                > errorsB,
        15000);
    QCOMPARE(
        metricOf(m_a->baseUrl(), peerSeries("livecomments_region_relay_queue_depth", "b")), 12.0);
    QCOMPARE(
        metricOf(m_b->baseUrl(), peerSeries("livecomments_region_relay_queue_depth", "a")), 12.0);
    QTRY_VERIFY_WITH_TIMEOUT(
        metricOf(m_a->baseUrl(), peerSeries("livecomments_region_relay_lag_seconds", "b")) > 0,
        5000);
    QCOMPARE(historyIds(m_a->baseUrl(), video).size(), kEach); // only its own while cut
    QCOMPARE(viewerA.comments().size(), kEach);

    // Restore the link: both queues drain, both histories become identical.
    m_toA->setRefusing(false);
    m_toB->setRefusing(false);
    QVERIFY(settled(30000));
    const QList<quint64> idsA = historyIds(m_a->baseUrl(), video);
    QCOMPARE(idsA.size(), 2 * kEach);
    QVERIFY(unique(idsA));
    QCOMPARE(QSet<quint64>(idsA.begin(), idsA.end()), QSet<quint64>(posted.begin(), posted.end()));
    QCOMPARE(historyIds(m_b->baseUrl(), video), idsA);
    QCOMPARE(historyPages(m_a->baseUrl(), video), historyPages(m_b->baseUrl(), video));
    // The live viewers (on direct connections) got every comment once: their own region's at
    // once, the other's when the link came back (older ids after newer ones).
    QVERIFY(viewerA.waitForComments(2 * kEach));
    QVERIFY(viewerB.waitForComments(2 * kEach));
    for (const SseReader* viewer : { &viewerA, &viewerB }) {
        const QList<quint64> got = viewer->comments();
        QCOMPARE(got.size(), 2 * kEach);
        QVERIFY(unique(got));
        QCOMPARE(
            QSet<quint64>(got.begin(), got.end()), QSet<quint64>(posted.begin(), posted.end()));
    }
    QCOMPARE(
        metricOf(m_a->baseUrl(), "livecomments_region_ingest_events_total{result=\"duplicate\"}"),
        0.0);
}

void TstRegions::queueSurvivesKill()
{
    // The relay queue is in the store: a region killed (SIGKILL) while its link is down still
    // delivers what it acknowledged, after its restart.
    QVERIFY(settled());
    SseReader viewerA, viewerB;
    const qint32 video = watchedInBoth(*m_a, QStringLiteral("killed region"), viewerA, viewerB);
    QVERIFY(video > 0);
    m_toB->setRefusing(true);
    m_toB->cutAll();
    const QString alice = m_a->token(QStringLiteral("1"), QStringLiteral("alice"));
    QList<quint64> posted;
    for (int i = 0; i < 5; ++i) {
        const HttpReply r = postComment(m_a->baseUrl(), alice, video, QStringLiteral("k%1").arg(i));
        QCOMPARE(r.status, 201);
        posted << postedId(r);
    }
    QCOMPARE(sqliteNumber(m_a->storePath(), "SELECT COUNT(*) FROM relay_queue"), qint64(5));
    m_a->kill9();
    QVERIFY(m_a->restart());
    m_toA->setUpstreamPort(m_a->port());
    QCOMPARE(historyIds(m_b->baseUrl(), video).size(), 0);
    m_toB->setRefusing(false);
    QVERIFY(settled(30000));
    QCOMPARE(historyIds(m_b->baseUrl(), video).size(), posted.size());
    QCOMPARE(historyPages(m_a->baseUrl(), video), historyPages(m_b->baseUrl(), video));
    QVERIFY(viewerB.waitForComments(posted.size()));
    QCOMPARE(viewerB.comments(), posted);
}

void TstRegions::clusteredRegionDrainsOnce()
{
    // Region p: two nodes on PostgreSQL and Redis; region q: one SQLite node. Every p node queues
    // relay rows in the shared store, one node drains them (the PostgreSQL relay lease), and the
    // other takes over when that one dies.
    PostgresProcess postgres;
    RedisProcess redis;
    QVERIFY2(postgres.start(), qPrintable(postgres.errorString()));
    QVERIFY(redis.start());
    const QString database = postgres.createDatabase(QStringLiteral("region_p"));
    QVERIFY2(!database.isEmpty(), qPrintable(postgres.errorString()));
    FaultProxy toP(1), toQ(1);
    QVERIFY(toP.start());
    QVERIFY(toQ.start());
    const QString secret = QStringLiteral("--region-secret=%1").arg(kRegionSecret);
    const QStringList pArgs { QStringLiteral("--region=p"),
        QStringLiteral("--peer-region=q=") + toQ.baseUrl().toString(), secret,
        QStringLiteral("--store=") + database, QStringLiteral("--bus=") + redis.url() };
    ServerProcess p1(pArgs), p2(pArgs);
    ServerProcess q({ QStringLiteral("--region=q"),
        QStringLiteral("--peer-region=p=") + toP.baseUrl().toString(), secret });
    QVERIFY(p1.start());
    QVERIFY(p2.start());
    QVERIFY(q.start());
    toP.setUpstreamPort(p1.port());
    toQ.setUpstreamPort(q.port());

    const qint32 video = createVideo(p2.baseUrl(), m_streamer, QStringLiteral("clustered"));
    QVERIFY(video > 0);
    QCOMPARE(video % 2, 0); // region p is slot 0 of {p, q}
    const QString path = QStringLiteral("/videos/%1").arg(video);
    QTRY_COMPARE_WITH_TIMEOUT(http("GET", endpoint(q.baseUrl(), path)).status, 200, 10000);
    const QString alice = p1.token(QStringLiteral("1"), QStringLiteral("alice"));
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(
            postComment(p1.baseUrl(), alice, video, QStringLiteral("p1-%1").arg(i)).status, 201);
        QCOMPARE(
            postComment(p2.baseUrl(), alice, video, QStringLiteral("p2-%1").arg(i)).status, 201);
    }
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(q.baseUrl(), video).size(), 6, 15000);
    const QByteArray depth = peerSeries("livecomments_region_relay_queue_depth", "q");
    QTRY_COMPARE_WITH_TIMEOUT(metricOf(p1.baseUrl(), depth), 0.0, 10000);
    QCOMPARE(metricOf(p2.baseUrl(), depth), 0.0); // the same shared queue
    const QByteArray sent = peerSeries("livecomments_region_relay_events_total", "q");
    const double sent1 = metricOf(p1.baseUrl(), sent), sent2 = metricOf(p2.baseUrl(), sent);
    QVERIFY2((sent1 > 0) != (sent2 > 0), qPrintable(QStringLiteral("%1 %2").arg(sent1).arg(sent2)));
    QCOMPARE(sent1 + sent2, 7.0); // the video and six comments, each once
    QCOMPARE(metricOf(q.baseUrl(), "livecomments_region_ingest_events_total{result=\"duplicate\"}"),
        0.0);

    // The draining node dies: the other one takes the lease over and relays both ways.
    ServerProcess& holder = sent1 > 0 ? p1 : p2;
    ServerProcess& survivor = sent1 > 0 ? p2 : p1;
    holder.kill9();
    toP.setUpstreamPort(survivor.port());
    QCOMPARE(postComment(survivor.baseUrl(), alice, video, QStringLiteral("after failover")).status,
        201);
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(q.baseUrl(), video).size(), 7, 15000);
    QVERIFY(metricOf(survivor.baseUrl(), sent) >= 1);
    const QString bob = q.token(QStringLiteral("2"), QStringLiteral("bob"));
    QCOMPARE(postComment(q.baseUrl(), bob, video, QStringLiteral("from q")).status, 201);
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(survivor.baseUrl(), video).size(), 8, 15000);
    QCOMPARE(historyPages(survivor.baseUrl(), video), historyPages(q.baseUrl(), video));
    QVERIFY(survivor.terminate());
    QVERIFY(q.terminate());
}

HttpReply TstRegions::ingest(
    const QByteArray& body, const QByteArray& region, qint64 timestamp, const QByteArray& signature)
{
    const QByteArray ts
        = QByteArray::number(timestamp < 0 ? QDateTime::currentSecsSinceEpoch() : timestamp);
    const QByteArray mac = signature.isEmpty() ? QMessageAuthenticationCode::hash(
                               ts + "\n" + body, kRegionSecret, QCryptographicHash::Sha256)
                                                     .toHex()
                                               : signature;
    HeaderList headers { { "Content-Type", "application/json" }, { "X-LC-Region", region },
        { "X-LC-Timestamp", ts } };
    if (signature != "-")
        headers.append({ "X-LC-Signature", mac });
    return http(
        "POST", endpoint(m_a->baseUrl(), QStringLiteral("/internal/region/ingest")), body, headers);
}

void TstRegions::ingestRejects()
{
    const QByteArray empty = R"({"region":"b","events":[]})";
    const double rejected = metricOf(m_a->baseUrl(), "livecomments_region_ingest_rejected_total");
    // The well-signed request is accepted (so the rejections below are about what they change).
    const HttpReply ok = ingest(empty);
    QCOMPARE(ok.status, 200);
    QCOMPARE(ok.json().value(QStringLiteral("received")).toInt(), 0);

    // Bad or missing signature, unknown region, stale or future timestamp: 401.
    const QByteArray wrongMac
        = QMessageAuthenticationCode::hash("0\n" + empty, kRegionSecret, QCryptographicHash::Sha256)
              .toHex();
    QCOMPARE(ingest(empty, "b", -1, wrongMac).status, 401);
    QCOMPARE(ingest(empty, "b", -1, QByteArray(64, 'a')).status, 401);
    QCOMPARE(ingest(empty, "b", -1, "-").status, 401);
    QCOMPARE(ingest(R"({"region":"c","events":[]})", "c").status, 401);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    const HttpReply stale = ingest(empty, "b", now - 400);
    QCOMPARE(stale.status, 401);
    QVERIFY2(stale.errorMessage().contains(QStringLiteral("5 minutes")), stale.body.constData());
    QCOMPARE(ingest(empty, "b", now + 400).status, 401);
    QCOMPARE(ingest(empty, "b", now - 200).status, 200); // inside the window

    // Oversized (above --max-body, 64 KiB by default), even when well signed: 413.
    const QByteArray big = R"({"region":"b","events":[],"pad":")" + QByteArray(70000, 'x') + "\"}";
    QCOMPARE(ingest(big).status, 413);

    // Malformed JSON, a wrong field, an origin that is not the sender, a body region that is not
    // the header's: 400.
    QCOMPARE(ingest(R"({"region":"b","events":[)").status, 400);
    QCOMPARE(ingest(R"({"region":"b","events":[{"type":"comment","origin":"b"}]})").status, 400);
    QCOMPARE(ingest(R"({"region":"b","events":[{"type":"ended","origin":"a","video_id":1,)"
                    R"("ended_at":1}]})")
                 .status,
        400);
    QCOMPARE(ingest(R"({"region":"a","events":[]})").status, 400);
    QCOMPARE(
        metricOf(m_a->baseUrl(), "livecomments_region_ingest_rejected_total") - rejected, 10.0);
    // A node without peer regions has no ingest route at all.
    ServerProcess plain;
    QVERIFY(plain.start());
    QCOMPARE(
        http("POST", endpoint(plain.baseUrl(), QStringLiteral("/internal/region/ingest")), empty)
            .status,
        404);
}

void TstRegions::relayOverVerifiedTls()
{
    // Region "x" relays to region "y" through an nginx that terminates TLS with a certificate of
    // a throwaway CA. x trusts exactly the CA in --region-ca-file, a file the test rewrites
    // between restarts of x: right CA, then a CA that did not sign the certificate, then the
    // right one again.
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("openssl")).isEmpty(),
        "the openssl CLI is missing (./dev.sh installs it)");
    QTemporaryDir pki;
    QVERIFY(pki.isValid());
    QVERIFY(makeTestPki(pki.path()));
    const QString caFile = pki.filePath(QStringLiteral("trusted.pem"));
    QVERIFY(copyOver(pki.filePath(QStringLiteral("ca.pem")), caFile));

    const QString secret = QStringLiteral("--region-secret=%1").arg(kRegionSecret);
    // y writes nothing in this test: its own relay to x is never used.
    ServerProcess y({ QStringLiteral("--region=y"),
        QStringLiteral("--peer-region=x=http://127.0.0.1:9"), secret });
    QVERIFY(y.start());
    NginxProcess nginx({ y.port() });
    nginx.setTls(
        pki.filePath(QStringLiteral("server.pem")), pki.filePath(QStringLiteral("server.key")));
    QVERIFY(nginx.start());
    const QString peerUrl = nginx.baseUrl().toString();
    QVERIFY(peerUrl.startsWith(QLatin1String("https://127.0.0.1:")));
    ServerProcess x({ QStringLiteral("--region=x"), QStringLiteral("--peer-region=y=") + peerUrl,
        secret, QStringLiteral("--region-ca-file=") + caFile });
    QVERIFY(x.start());
    QTRY_VERIFY2(x.log().contains("relaying to y (" + peerUrl.toUtf8() + ")"), x.log().constData());

    // Verified: the video and a comment cross.
    const qint32 video = createVideo(x.baseUrl(), m_streamer, QStringLiteral("over tls"));
    QVERIFY(video > 0);
    const QString alice = x.token(QStringLiteral("1"), QStringLiteral("alice"));
    QCOMPARE(postComment(x.baseUrl(), alice, video, QStringLiteral("encrypted")).status, 201);
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(y.baseUrl(), video).size(), 1, 15000);
    QCOMPARE(historyPages(x.baseUrl(), video), historyPages(y.baseUrl(), video));
    const QByteArray depth = peerSeries("livecomments_region_relay_queue_depth", "y");
    const QByteArray errors = peerSeries("livecomments_region_relay_errors_total", "y");
    QTRY_COMPARE_WITH_TIMEOUT(metricOf(x.baseUrl(), depth), 0.0, 10000);
    QCOMPARE(metricOf(x.baseUrl(), errors), 0.0);
    // Batch after batch over the one verified connection: one TLS handshake, not one per batch.
    constexpr int kKept = 4;
    for (int i = 0; i < kKept; ++i) {
        QCOMPARE(
            postComment(x.baseUrl(), alice, video, QStringLiteral("kept %1").arg(i)).status, 201);
        QTRY_COMPARE_WITH_TIMEOUT(historyIds(y.baseUrl(), video).size(), 2 + i, 15000);
    }
    QCOMPARE(
        metricOf(x.baseUrl(), peerSeries("livecomments_region_relay_connections_total", "y")), 1.0);
    QTRY_COMPARE_WITH_TIMEOUT(metricOf(x.baseUrl(), depth), 0.0, 10000);

    // A CA that did not sign y's certificate: nothing crosses (and nothing is sent in clear),
    // every attempt is a relay error logged with the reason, the queue keeps the rows.
    QVERIFY(x.terminate());
    QVERIFY(copyOver(pki.filePath(QStringLiteral("other.pem")), caFile));
    QVERIFY(x.restart());
    for (int i = 0; i < 3; ++i)
        QCOMPARE(
            postComment(x.baseUrl(), alice, video, QStringLiteral("held %1").arg(i)).status, 201);
    QTRY_VERIFY_WITH_TIMEOUT(metricOf(x.baseUrl(), errors) >= 2, 15000);
    QVERIFY2(x.log().contains("relay to y (" + peerUrl.toUtf8() + "): TLS: "), x.log().constData());
    QVERIFY2(x.log().contains("certificate verify failed"), x.log().constData());
    QCOMPARE(metricOf(x.baseUrl(), depth), 3.0);
    QCOMPARE(sqliteNumber(x.storePath(), "SELECT COUNT(*) FROM relay_queue"), qint64(3));
    QCOMPARE(historyIds(y.baseUrl(), video).size(), 1 + kKept);
    QCOMPARE(metricOf(y.baseUrl(), "livecomments_region_ingest_events_total{result=\"applied\"}"),
        2.0 + kKept); // the video and the first comments, nothing since

    // The configuration fixed (the right CA again): the queue drains, in order, nothing lost.
    QVERIFY(x.terminate());
    QVERIFY(copyOver(pki.filePath(QStringLiteral("ca.pem")), caFile));
    QVERIFY(x.restart());
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(y.baseUrl(), video).size(), 4 + kKept, 15000);
    QTRY_COMPARE_WITH_TIMEOUT(metricOf(x.baseUrl(), depth), 0.0, 10000);
    QCOMPARE(historyPages(x.baseUrl(), video), historyPages(y.baseUrl(), video));
    QVERIFY(x.terminate());

    // The right CA but another host name than the certificate's (IP 127.0.0.1 only): refused
    // too, also for a loopback name.
    const double applied
        = metricOf(y.baseUrl(), "livecomments_region_ingest_events_total{result=\"applied\"}");
    const QString byName = QStringLiteral("https://localhost:%1").arg(nginx.port());
    ServerProcess misnamed(
        { QStringLiteral("--region=x"), QStringLiteral("--peer-region=y=") + byName, secret,
            QStringLiteral("--region-ca-file=") + caFile });
    QVERIFY(misnamed.start());
    QVERIFY(createVideo(misnamed.baseUrl(), m_streamer, QStringLiteral("misnamed")) > 0);
    QTRY_VERIFY_WITH_TIMEOUT(metricOf(misnamed.baseUrl(), errors) >= 1, 15000);
    QVERIFY2(misnamed.log().contains("relay to y (" + byName.toUtf8() + "): TLS: "),
        misnamed.log().constData());
    QCOMPARE(metricOf(misnamed.baseUrl(), depth), 1.0);
    QCOMPARE(metricOf(y.baseUrl(), "livecomments_region_ingest_events_total{result=\"applied\"}"),
        applied);
    QVERIFY(misnamed.terminate());
    QVERIFY(y.terminate());
}

void TstRegions::deletionOvertakesItsComment()
{
    // Three regions in a full mesh. The link a→c is cut while a's comment reaches b and b's
    // deletion of it reaches c: c holds the tombstone before the comment, and refuses the comment
    // when the link returns. It never appears in c, live or in history.
    FaultProxy toA(1), toB(1), toCFromA(1), toCFromB(1);
    for (FaultProxy* proxy : { &toA, &toB, &toCFromA, &toCFromB })
        QVERIFY(proxy->start());
    const QString secret = QStringLiteral("--region-secret=%1").arg(kRegionSecret);
    auto peer = [](const char* name, const FaultProxy& link) {
        return QStringLiteral("--peer-region=%1=%2").arg(name, link.baseUrl().toString());
    };
    ServerProcess a({ QStringLiteral("--region=a"), peer("b", toB), peer("c", toCFromA), secret });
    ServerProcess b({ QStringLiteral("--region=b"), peer("a", toA), peer("c", toCFromB), secret });
    ServerProcess c({ QStringLiteral("--region=c"), peer("a", toA), peer("b", toB), secret });
    for (ServerProcess* region : { &a, &b, &c })
        QVERIFY(region->start());
    toA.setUpstreamPort(a.port());
    toB.setUpstreamPort(b.port());
    toCFromA.setUpstreamPort(c.port());
    toCFromB.setUpstreamPort(c.port());

    const qint32 video = createVideo(a.baseUrl(), m_streamer, QStringLiteral("three regions"));
    QVERIFY(video > 0);
    const QString path = QStringLiteral("/videos/%1").arg(video);
    for (ServerProcess* region : { &b, &c })
        QTRY_COMPARE_WITH_TIMEOUT(
            http("GET", endpoint(region->baseUrl(), path)).status, 200, 10000);
    SseReader viewerC;
    viewerC.open(endpoint(c.baseUrl(), path + QStringLiteral("/subscriptions")));
    QVERIFY(viewerC.waitForHello());

    toCFromA.setRefusing(true);
    toCFromA.cutAll();
    const QString alice = a.token(QStringLiteral("1"), QStringLiteral("alice"));
    const HttpReply posted = postComment(a.baseUrl(), alice, video, QStringLiteral("regretted"));
    QCOMPARE(posted.status, 201);
    const quint64 id = postedId(posted);
    QTRY_COMPARE_WITH_TIMEOUT(historyIds(b.baseUrl(), video), (QList<quint64> { id }), 10000);
    QCOMPARE(http("DELETE", endpoint(b.baseUrl(), path + QStringLiteral("/comments/%1").arg(id)),
                 {}, bearer(alice))
                 .status,
        204);
    // b's deletion reached c (b's queue to c is empty, c holds the tombstone) and a.
    const QByteArray toC = peerSeries("livecomments_region_relay_queue_depth", "c");
    QTRY_COMPARE_WITH_TIMEOUT(metricOf(b.baseUrl(), toC), 0.0, 10000);
    QTRY_COMPARE_WITH_TIMEOUT(
        sqliteNumber(c.storePath(), "SELECT COUNT(*) FROM deleted_comments WHERE comment_id = ?",
            qint64(id)),
        qint64(1), 10000);
    QTRY_VERIFY_WITH_TIMEOUT(historyIds(a.baseUrl(), video).isEmpty(), 10000);
    QCOMPARE(metricOf(a.baseUrl(), toC), 1.0); // the comment, still waiting for the link

    // The link returns: a's comment reaches c, which refuses it.
    const QByteArray duplicates = "livecomments_region_ingest_events_total{result=\"duplicate\"}";
    const double duplicatesBefore = metricOf(c.baseUrl(), duplicates);
    toCFromA.setRefusing(false);
    QTRY_COMPARE_WITH_TIMEOUT(metricOf(a.baseUrl(), toC), 0.0, 15000);
    QCOMPARE(metricOf(c.baseUrl(), duplicates) - duplicatesBefore, 1.0);
    QCOMPARE(historyIds(c.baseUrl(), video), QList<quint64> {});
    QCOMPARE(sqliteNumber(c.storePath(), "SELECT COUNT(*) FROM comments WHERE id = ?", qint64(id)),
        qint64(0));
    QCOMPARE(http("GET", endpoint(c.baseUrl(), path)).json().value(QStringLiteral("comment_count")),
        QJsonValue(0));
    // Every region serves the same (empty) history; c's viewer never saw the comment.
    QCOMPARE(historyPages(a.baseUrl(), video), historyPages(c.baseUrl(), video));
    QCOMPARE(historyPages(b.baseUrl(), video), historyPages(c.baseUrl(), video));
    QVERIFY(viewerC.comments().isEmpty());
    for (ServerProcess* region : { &a, &b, &c })
        QVERIFY(region->terminate());
}

void TstRegions::peerListFromCommandLineAndConfig()
{
    // --peer-region repeats on the command line; the config file takes a comma-separated list.
    const QByteArray expected
        = "region c (slot 2 of 3): relaying to a (http://127.0.0.1:1), b (http://127.0.0.1:2/x)";
    ServerProcess cli(
        { QStringLiteral("--region=c"), QStringLiteral("--peer-region=a=http://127.0.0.1:1"),
            QStringLiteral("--peer-region=b=http://127.0.0.1:2/x/"),
            QStringLiteral("--region-secret=%1").arg(kRegionSecret) });
    QVERIFY(cli.start());
    QTRY_VERIFY2(cli.log().contains(expected), cli.log().constData());
    QVERIFY(cli.terminate());

    ServerProcess fromFile;
    QFile config(fromFile.tempDir() + QStringLiteral("/regions.properties"));
    QVERIFY(config.open(QIODevice::WriteOnly));
    config.write(
        QByteArray("region = c\npeer-region = a=http://127.0.0.1:1,b=http://127.0.0.1:2/x\n"
                   "region-secret = ")
        + kRegionSecret + "\n");
    config.close();
    ServerProcess file({ QStringLiteral("--config=") + config.fileName() });
    QVERIFY(file.start());
    QTRY_VERIFY2(file.log().contains(expected), file.log().constData());
    // Its node id is region c's first (slot 2 of 3).
    QCOMPARE(metricOf(file.baseUrl(), "livecomments_node_id"), 2.0);
}

void TstRegions::badRegionOptionsExit_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    const QString secret = QStringLiteral("--region-secret=%1").arg(kRegionSecret);
    QTest::newRow("duplicate peer") << QStringList { QStringLiteral("--region=a"),
        QStringLiteral("--peer-region=b=http://127.0.0.1:1"),
        QStringLiteral("--peer-region=b=http://127.0.0.1:2"), secret }
                                    << QStringLiteral("given twice");
    QTest::newRow("own name") << QStringList { QStringLiteral("--region=a"),
        QStringLiteral("--peer-region=a=http://127.0.0.1:1"), secret }
                              << QStringLiteral("own name");
    QTest::newRow("malformed url") << QStringList { QStringLiteral("--region=a"),
        QStringLiteral("--peer-region=b=ftp://x"), secret }
                                   << QStringLiteral("NAME=http[s]://");
    QTest::newRow("no url") << QStringList { QStringLiteral("--region=a"),
        QStringLiteral("--peer-region=b"), secret }
                            << QStringLiteral("NAME=http[s]://");
    QTest::newRow("missing secret") << QStringList { QStringLiteral("--region=a"),
        QStringLiteral("--peer-region=b=http://127.0.0.1:1") }
                                    << QStringLiteral("--region-secret");
    QTest::newRow("no region") << QStringList { QStringLiteral("--peer-region=b=http://h:1"),
        secret } << QStringLiteral("needs --region");
    QTest::newRow("node id beyond the region's share") << QStringList {
        QStringLiteral("--region=a"), QStringLiteral("--peer-region=b=http://127.0.0.1:1"), secret,
        QStringLiteral("--node-id=512")
    } << QStringLiteral("--node-id: with 2 regions expected 0..511");
    QTest::newRow("bad name") << QStringList { QStringLiteral("--region=A B") }
                              << QStringLiteral("--region");
}

void TstRegions::badRegionOptionsExit()
{
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    QProcess process;
    process.start(ServerProcess::serverBinary(),
        args + QStringList { QStringLiteral("--dev"), QStringLiteral("--listen=127.0.0.1:0") });
    QVERIFY(process.waitForFinished(20000));
    const QString err = QString::fromUtf8(process.readAllStandardError());
    QCOMPARE(process.exitCode(), 78); // EXIT_CONFIG
    QVERIFY2(err.contains(message), qPrintable(err));
}

QTEST_GUILESS_MAIN(TstRegions)
#include "tst_regions.moc"
