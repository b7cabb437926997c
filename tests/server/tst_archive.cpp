// SPDX-License-Identifier: MIT
// Archived videos through the real server: an ended video's history pages, ETags and resume
// replay are byte for byte the same after its comments were packed into archive blocks
// (--archive-after), and deleting an archived comment works. The same store (a SQLite file, or a
// database of a throwaway PostgreSQL server) is served first by a server that never archives,
// then by one that archives at once.
#include "http_client.h"
#include "postgres_process.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QJsonObject>
#include <QTest>

#include <sqlite3.h>

#include <memory>

using namespace lctest;

namespace {

constexpr int kComments = 600; // three blocks: 256 + 256 + 88
constexpr int kElevated = 3; // of them by a moderator, and as many by the streamer

/// videos.archived_at of `video` in the SQLite file (0 = not archived; -1 = unreadable).
qint64 sqliteArchivedAt(const QString& path, qint32 video)
{
    sqlite3* db = nullptr;
    qint64 at = -1;
    if (sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READONLY, nullptr)
        == SQLITE_OK) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(
                db, "SELECT archived_at FROM videos WHERE id = ?", -1, &stmt, nullptr)
            == SQLITE_OK) {
            sqlite3_bind_int64(stmt, 1, video);
            if (sqlite3_step(stmt) == SQLITE_ROW)
                at = sqlite3_column_int64(stmt, 0);
        }
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return at;
}

/// One history request and what came back.
struct Page {
    QString query;
    QByteArray body;
    QByteArray etag;
    int status = 0;
};

QList<Page> fetchPages(const QUrl& base, qint32 video, const QList<quint64>& ids)
{
    QStringList queries { QStringLiteral("/videos/%1/comments").arg(video) };
    const QList<quint64> cursors { ids.at(0), ids.at(1), ids.at(255), ids.at(256), ids.at(300),
        ids.at(511), ids.at(512), ids.at(kComments - 2), ids.last(), ids.last() + 1 };
    for (const int limit : { 1, 50, 100 }) {
        queries << QStringLiteral("/videos/%1/comments?limit=%2").arg(video).arg(limit);
        for (const quint64 cursor : cursors) {
            queries << QStringLiteral("/videos/%1/comments?before=%2&limit=%3")
                           .arg(video)
                           .arg(cursor)
                           .arg(limit);
            queries << QStringLiteral("/videos/%1/comments?after=%2&limit=%3")
                           .arg(video)
                           .arg(cursor)
                           .arg(limit);
        }
    }
    QList<Page> out;
    for (const QString& q : queries) {
        const HttpReply r = http("GET", endpoint(base, q));
        out.append({ q, r.body, r.header("etag"), r.status });
    }
    return out;
}

/// GET /videos/{id} without `viewers` (a stream just closed may still be counted).
QJsonObject withoutViewers(const QUrl& base, qint32 video)
{
    QJsonObject o = http("GET", endpoint(base, QStringLiteral("/videos/%1").arg(video))).json();
    o.remove(QStringLiteral("viewers"));
    return o;
}

/// The events of a stream resumed after `lastSeen`, up to and including the replay.
QList<SseEvent> resumeEvents(quint16 port, qint32 video, quint64 lastSeen, int expected)
{
    SseReader reader;
    reader.open(port, "/videos/" + QByteArray::number(video) + "/subscriptions",
        { { "Last-Event-ID", QByteArray::number(lastSeen) } });
    if (!reader.waitForHello() || !reader.waitForComments(expected))
        return {};
    QList<SseEvent> out;
    for (const SseEvent& e : reader.events()) {
        if (e.type == "comment")
            out.append(e);
    }
    return out;
}

} // namespace

class TstArchive : public QObject {
    Q_OBJECT
private slots:
    void initTestCase_data();
    void archivedVideoServesTheSameBytes();

private:
    /// videos.archived_at of `video` in the row's store (0 = not archived; -1 = unreadable).
    qint64 archivedAt(qint32 video);

    std::unique_ptr<PostgresProcess> m_postgres; // started by the first postgresql row
    QString m_storeArg; // --store=… of the current row
    QString m_sqlitePath;
    QString m_database;
};

void TstArchive::initTestCase_data()
{
    QTest::addColumn<QString>("engine");
    QTest::newRow("sqlite") << QStringLiteral("sqlite");
    QTest::newRow("postgresql") << QStringLiteral("postgresql");
}

qint64 TstArchive::archivedAt(qint32 video)
{
    if (!m_sqlitePath.isEmpty())
        return sqliteArchivedAt(m_sqlitePath, video);
    const QString out = m_postgres->query(
        m_database, QStringLiteral("SELECT archived_at FROM videos WHERE id = %1").arg(video));
    bool ok = false;
    const qint64 at = out.toLongLong(&ok);
    return ok ? at : -1;
}

void TstArchive::archivedVideoServesTheSameBytes()
{
    QFETCH_GLOBAL(QString, engine);
    QStringList storeArgs;
    m_sqlitePath.clear();
    if (engine == QLatin1String("postgresql")) {
        if (!m_postgres) {
            m_postgres = std::make_unique<PostgresProcess>();
            QVERIFY2(m_postgres->start(), qPrintable(m_postgres->errorString()));
        }
        m_database = QStringLiteral("archive");
        const QString url = m_postgres->createDatabase(m_database);
        QVERIFY2(!url.isEmpty(), qPrintable(m_postgres->errorString()));
        storeArgs << QStringLiteral("--store=") + url;
    }
    auto before = std::make_unique<ServerProcess>(
        storeArgs + QStringList { QStringLiteral("--archive-after=off") });
    QVERIFY(before->start());
    const QString streamer = before->token("1", "streamer", "streamer");
    const QString viewer = before->token("2", "bob");
    const qint32 video = createVideo(before->baseUrl(), streamer, "archive");
    QVERIFY(video > 0);
    QList<quint64> ids = acknowledgedIds(postComments(before->baseUrl(), viewer, video,
        texts(QStringLiteral("archived \"comment\" caf\u00e9"), kComments - 2 * kElevated), 6));
    // The author's role is archived too (the block's role column).
    const QString moderator = before->token("4", "mod", "moderator");
    for (int i = 0; i < kElevated; ++i) {
        for (const QString& token : { moderator, streamer })
            ids += acknowledgedIds({ postComment(before->baseUrl(), token, video, "elevated") });
    }
    ids = sorted(ids);
    QCOMPARE(ids.size(), kComments);
    QCOMPARE(http("POST", endpoint(before->baseUrl(), QStringLiteral("/videos/%1/end").arg(video)),
                 {}, bearer(streamer))
                 .status,
        200);
    const QList<Page> pages = fetchPages(before->baseUrl(), video, ids);
    QVERIFY(pages.first().body.contains("\"role\":\"moderator\""));
    QVERIFY(pages.first().body.contains("\"role\":\"streamer\""));
    QVERIFY(pages.first().body.contains("\"role\":\"viewer\""));
    const QList<SseEvent> replay = resumeEvents(before->port(), video, ids.at(200), 399);
    QVERIFY(!replay.isEmpty());
    const QJsonObject videoJson = withoutViewers(before->baseUrl(), video);
    if (storeArgs.isEmpty()) {
        m_sqlitePath = before->storePath();
        storeArgs << QStringLiteral("--store=sqlite:") + m_sqlitePath;
    }
    QVERIFY(before->terminate());
    QCOMPARE(archivedAt(video), qint64(0));

    // The same store, served by a server that archives ended videos at once.
    ServerProcess after(storeArgs + QStringList { QStringLiteral("--archive-after=0") });
    QVERIFY(after.start());
    QTRY_VERIFY_WITH_TIMEOUT(archivedAt(video) > 0, 20000);

    const QList<Page> again = fetchPages(after.baseUrl(), video, ids);
    QCOMPARE(again.size(), pages.size());
    for (int i = 0; i < pages.size(); ++i) {
        QCOMPARE(again[i].query, pages[i].query);
        QCOMPARE(again[i].status, 200);
        QVERIFY2(again[i].body == pages[i].body, qPrintable(pages[i].query));
        QVERIFY2(again[i].etag == pages[i].etag, qPrintable(pages[i].query));
        if (!pages[i].etag.isEmpty()) {
            // A client's cached page stays valid across the archiving.
            const HttpReply cached = http("GET", endpoint(after.baseUrl(), pages[i].query), {},
                { { "If-None-Match", pages[i].etag } });
            QVERIFY2(cached.status == 304, qPrintable(pages[i].query));
        }
    }
    QCOMPARE(withoutViewers(after.baseUrl(), video), videoJson);

    // Resume (Last-Event-ID) reads the same comments from the blocks.
    const QList<SseEvent> replayAgain = resumeEvents(after.port(), video, ids.at(200), 399);
    QCOMPARE(replayAgain.size(), replay.size());
    for (int i = 0; i < replay.size(); ++i) {
        QCOMPARE(replayAgain[i].id, replay[i].id);
        QCOMPARE(replayAgain[i].data, replay[i].data);
    }

    // Deleting an archived comment: 403 for others, 204 for its author, then gone everywhere.
    SseReader watcher; // a viewer still on the ended video's page gets the `deleted` event
    watcher.open(after.port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    QVERIFY(watcher.waitForHello());
    const QString path = QStringLiteral("/videos/%1/comments/%2").arg(video).arg(ids.at(300));
    QVERIFY(checkError(
        http("DELETE", endpoint(after.baseUrl(), path), {}, bearer(after.token("3", "eve"))), 403)
                .isEmpty());
    QCOMPARE(
        http("DELETE", endpoint(after.baseUrl(), path), {}, bearer(after.token("2", "bob"))).status,
        204);
    QVERIFY(checkError(
        http("DELETE", endpoint(after.baseUrl(), path), {}, bearer(after.token("2", "bob"))), 404)
                .isEmpty());
    QTRY_VERIFY(!watcher.events("deleted").isEmpty());
    QCOMPARE(watcher.events("deleted").first().json().value(QStringLiteral("id")).toString(),
        QString::number(ids.at(300)));
    bool ok = false;
    QString error;
    QList<quint64> expected = ids;
    expected.removeAll(ids.at(300));
    QCOMPARE(walkBefore(after.baseUrl(), video, 100, &ok, &error), sorted(expected, true));
    QVERIFY2(ok, qPrintable(error));
    const QString around
        = QStringLiteral("/videos/%1/comments?before=%2&limit=10").arg(video).arg(ids.at(305));
    const HistoryPage changed = getHistoryPage(after.baseUrl(), around);
    QVERIFY(!changed.ids.contains(ids.at(300)));
    QCOMPARE(changed.ids.size(), 10);
    const HttpReply v
        = http("GET", endpoint(after.baseUrl(), QStringLiteral("/videos/%1").arg(video)));
    QCOMPARE(v.json().value(QStringLiteral("comment_count")).toInt(), kComments - 1);
    QVERIFY(after.terminate());
}

QTEST_GUILESS_MAIN(TstArchive)
#include "tst_archive.moc"
