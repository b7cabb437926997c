// SPDX-License-Identifier: MIT
// The SQLite cache: recreation of corrupt/foreign/outdated files, segments, eviction, outbox.
#include "cache/cache.h"
#include "livecomments/client.h"
#include "sdk_test_util.h"

#include <QtTest>

#include <sqlite3.h>

using namespace livecomments;
using livecomments::detail::Cache;

namespace {

Comment makeComment(VideoId video, CommentId id, std::size_t textBytes = 20)
{
    Comment c;
    c.id = id;
    c.videoId = video;
    c.user = { "7", "alice" };
    c.text = std::string(textBytes, 'x') + std::to_string(id);
    c.createdAt = "2026-11-23T10:15:30.123Z";
    return c;
}

std::vector<Comment> range(VideoId video, CommentId from, CommentId to, std::size_t textBytes = 20)
{
    std::vector<Comment> out;
    for (CommentId id = from; id <= to; ++id)
        out.push_back(makeComment(video, id, textBytes));
    return out;
}

void writeFile(const QString& path, const QByteArray& bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(bytes);
}

std::unique_ptr<Cache> openCache(
    const QString& path, std::string* note = nullptr, std::int64_t maxBytes = 64ll * 1024 * 1024)
{
    Error error;
    return Cache::open(path.toStdString(), maxBytes, note, &error);
}

} // namespace

class TstCache : public QObject {
    Q_OBJECT
private slots:
    void init();
    void freshFileWorks();
    void corruptFileIsRecreated_data();
    void corruptFileIsRecreated();
    void unusablePathFails();
    void segmentsServeOnlyCompleteRanges();
    void segmentsMerge();
    void removeComment();
    void evictsLeastRecentlyViewed();
    void outboxPersists();
    void pagesBoundToServer();
    void clientSurvivesCorruptCache();
    void roleSurvivesReopen();
    void schema2FileIsMigrated();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    QString path() const { return m_dir->filePath("cache.db"); }
};

void TstCache::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TstCache::freshFileWorks()
{
    std::string note;
    auto cache = openCache(path(), &note);
    QVERIFY(cache);
    QVERIFY2(note.empty(), note.c_str());
    QVERIFY(cache->storeComments(1, range(1, 10, 20)));
    QVERIFY(cache->addSegment(1, 10, 20));
    cache.reset();
    // Reopening keeps the data (no recreation).
    cache = openCache(path(), &note);
    QVERIFY(cache);
    QVERIFY2(note.empty(), note.c_str());
    auto slice = cache->newest(1, 5);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(5));
    QCOMPARE(slice->comments.front().id, CommentId(20));
    QCOMPARE(slice->comments.back().id, CommentId(16));
    QCOMPARE(slice->comments.front().text, makeComment(1, 20).text);
    QVERIFY(!slice->reachesBeginning);
}

void TstCache::corruptFileIsRecreated_data()
{
    QTest::addColumn<QString>("kind");
    QTest::newRow("garbage") << "garbage";
    QTest::newRow("truncated sqlite header") << "truncated";
    QTest::newRow("foreign sqlite db") << "foreign";
    QTest::newRow("future schema version") << "version";
    QTest::newRow("damaged pages") << "damaged";
}

void TstCache::corruptFileIsRecreated()
{
    QFETCH(QString, kind);
    if (kind == "garbage") {
        QByteArray junk;
        for (int i = 0; i < 100000; ++i)
            junk.append(static_cast<char>((i * 7919) & 0xFF));
        writeFile(path(), junk);
    } else if (kind == "truncated") {
        writeFile(path(), QByteArray("SQLite format 3\0", 16) + QByteArray(50, '\x01'));
    } else if (kind == "foreign") {
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path().toUtf8().constData(), &db), SQLITE_OK);
        QCOMPARE(sqlite3_exec(db, "CREATE TABLE other(x); INSERT INTO other VALUES(1);", nullptr,
                     nullptr, nullptr),
            SQLITE_OK);
        sqlite3_close(db);
    } else if (kind == "version" || kind == "damaged") {
        {
            auto cache = openCache(path());
            QVERIFY(cache);
            QVERIFY(cache->storeComments(1, range(1, 1, 3000, 200)));
        }
        if (kind == "version") {
            sqlite3* db = nullptr;
            QCOMPARE(sqlite3_open(path().toUtf8().constData(), &db), SQLITE_OK);
            QCOMPARE(
                sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
            sqlite3_close(db);
        } else {
            // Overwrite pages in the middle of the file (not the header).
            QFile f(path());
            QVERIFY(f.open(QIODevice::ReadWrite));
            QVERIFY(f.size() > 64 * 1024);
            f.seek(f.size() / 2);
            f.write(QByteArray(16 * 1024, '\xA5'));
        }
    }
    std::string note;
    auto cache = openCache(path(), &note);
    QVERIFY(cache);
    QVERIFY2(!note.empty(), "recreation must be reported");
    // The new cache is empty and fully usable.
    QVERIFY(!cache->newest(1, 10));
    QVERIFY(cache->storeComments(2, range(2, 1, 5)));
    QVERIFY(cache->addSegment(2, 1, 5));
    auto slice = cache->newest(2, 10);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(5));
    QVERIFY(slice->reachesBeginning);
}

void TstCache::unusablePathFails()
{
    // A directory where the file should be: reported, not a crash.
    Error error;
    auto cache = Cache::open(m_dir->path().toStdString(), 1 << 20, nullptr, &error);
    QVERIFY(!cache);
    QCOMPARE(error.code, ErrorCode::Cache);
}

void TstCache::segmentsServeOnlyCompleteRanges()
{
    auto cache = openCache(path());
    QVERIFY(cache);
    // Comments 100..199 stored, but only 150..199 known complete.
    QVERIFY(cache->storeComments(5, range(5, 100, 199)));
    QVERIFY(cache->addSegment(5, 150, 199));
    auto older = cache->olderThan(5, 170, 10);
    QVERIFY(older);
    QCOMPARE(older->comments.size(), std::size_t(10));
    QCOMPARE(older->comments.front().id, CommentId(169));
    QCOMPARE(older->comments.back().id, CommentId(160));
    // Near the segment's lower edge: only what the segment covers.
    older = cache->olderThan(5, 155, 10);
    QVERIFY(older);
    QCOMPARE(older->comments.size(), std::size_t(5));
    QCOMPARE(older->comments.back().id, CommentId(150));
    QVERIFY(!older->reachesBeginning);
    // Below the segment: the network must be asked, even though rows exist.
    QVERIFY(!cache->olderThan(5, 150, 10));
    QVERIFY(!cache->olderThan(5, 120, 10));
    // A segment down to the beginning (lo = 1) reports it.
    QVERIFY(cache->addSegment(5, 1, 149));
    older = cache->olderThan(5, 105, 10);
    QVERIFY(older);
    QCOMPARE(older->comments.size(), std::size_t(5));
    QVERIFY(older->reachesBeginning);
    // Other videos are independent.
    QVERIFY(!cache->olderThan(6, 170, 10));
}

void TstCache::segmentsMerge()
{
    auto cache = openCache(path());
    QVERIFY(cache);
    QVERIFY(cache->storeComments(1, range(1, 10, 60)));
    QVERIFY(cache->addSegment(1, 10, 20));
    QVERIFY(cache->addSegment(1, 40, 60));
    QVERIFY(!cache->olderThan(1, 40, 100)); // 21..39 not known
    QVERIFY(cache->addSegment(1, 21, 39)); // adjacent on both sides: one segment 10..60
    auto slice = cache->olderThan(1, 61, 100);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(51));
    QCOMPARE(slice->comments.back().id, CommentId(10));
    auto newest = cache->newest(1, 3);
    QVERIFY(newest);
    QCOMPARE(newest->comments.front().id, CommentId(60));
}

void TstCache::removeComment()
{
    auto cache = openCache(path());
    QVERIFY(cache);
    QVERIFY(cache->storeComments(1, range(1, 1, 5)));
    QVERIFY(cache->addSegment(1, 1, 5));
    cache->removeComment(1, 3);
    auto slice = cache->newest(1, 10);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(4));
    for (const auto& c : slice->comments)
        QVERIFY(c.id != 3);
}

void TstCache::evictsLeastRecentlyViewed()
{
    const std::int64_t limit = 600 * 1024;
    auto cache = openCache(path(), nullptr, limit);
    QVERIFY(cache);
    // Ten videos of ~150 KiB each, viewed in order 1..10; video 2 is still open.
    for (VideoId v = 1; v <= 10; ++v) {
        cache->touch(v);
        QVERIFY(cache->storeComments(v, range(v, 1, 300, 500)));
        QVERIFY(cache->addSegment(v, 1, 300));
    }
    cache->setOpen(2, true);
    cache->touch(1); // 1 becomes the most recently viewed
    QVERIFY(cache->usedBytes() > limit);
    cache->enforceLimit();
    QVERIFY2(cache->usedBytes() <= limit, QByteArray::number(qint64(cache->usedBytes())));
    const auto kept = cache->videos();
    auto has = [&](VideoId v) { return std::find(kept.begin(), kept.end(), v) != kept.end(); };
    QVERIFY(has(1)); // recently viewed
    QVERIFY(has(2)); // open: never evicted
    QVERIFY(has(10));
    QVERIFY(!has(3)); // least recently viewed and not open
    QVERIFY(cache->newest(1, 5));
    QVERIFY(cache->newest(2, 5));
    QVERIFY(!cache->newest(3, 5));
    // The file itself shrank (incremental vacuum), not just the row count.
    cache.reset();
    QVERIFY2(QFileInfo(path()).size() <= limit + 64 * 1024,
        QByteArray::number(QFileInfo(path()).size()));
}

void TstCache::outboxPersists()
{
    {
        auto cache = openCache(path());
        QVERIFY(cache);
        for (int i = 0; i < 3; ++i) {
            OutboxEntry e;
            e.key = "k" + std::to_string(i);
            e.videoId = 9;
            e.text = "hello " + std::to_string(i);
            QVERIFY(cache->outboxAdd(e, { "http://a", "7" }));
        }
        QVERIFY(cache->outboxSetAttempts("k1", 4));
        QVERIFY(cache->outboxRemove("k0"));
    }
    auto cache = openCache(path());
    QVERIFY(cache);
    const auto entries = cache->outboxLoad({ "http://a", "7" });
    QCOMPARE(entries.size(), std::size_t(2));
    QCOMPARE(entries[0].key, std::string("k1"));
    QCOMPARE(entries[0].attempts, 4);
    QCOMPARE(entries[0].text, std::string("hello 1"));
    QCOMPARE(entries[1].key, std::string("k2"));
    QCOMPARE(entries[1].videoId, VideoId(9));
    // Another user of the same server, or the same user of another server, sees none of them.
    QVERIFY(cache->outboxLoad({ "http://a", "8" }).empty());
    QVERIFY(cache->outboxLoad({ "http://b", "7" }).empty());
}

void TstCache::pagesBoundToServer()
{
    auto cache = openCache(path());
    QVERIFY(cache);
    bool cleared = true;
    QVERIFY(cache->bindServer("http://a", &cleared));
    QVERIFY(!cleared); // a fresh file belonged to nobody
    QVERIFY(cache->storeComments(5, range(5, 1, 10)));
    QVERIFY(cache->addSegment(5, 1, 10));
    OutboxEntry e;
    e.key = "k";
    e.videoId = 5;
    e.text = "queued";
    QVERIFY(cache->outboxAdd(e, { "http://a", "7" }));
    QVERIFY(cache->bindServer("http://a", &cleared));
    QVERIFY(!cleared);
    QVERIFY(cache->newest(5, 50).has_value());

    QVERIFY(cache->bindServer("http://b", &cleared));
    QVERIFY(cleared);
    QVERIFY(!cache->newest(5, 50).has_value());
    QVERIFY(cache->videos().empty());
    // The outbox is not a page: the entry waits for its own server.
    QCOMPARE(cache->outboxLoad({ "http://a", "7" }).size(), std::size_t(1));
}

void TstCache::clientSurvivesCorruptCache()
{
    writeFile(path(), QByteArray(4096, '\x42'));
    // Nothing listens on port 9 of localhost: posts stay pending, which is what we check.
    auto cfg = sdktest::testConfig(QUrl("http://127.0.0.1:9"));
    cfg.cache.path = path().toStdString();
    std::vector<Error> errors;
    cfg.onError = [&](const Error& e) { errors.push_back(e); };
    auto client = Client::create(cfg);
    QVERIFY(client);
    QTRY_COMPARE(errors.size(), std::size_t(1));
    QCOMPARE(errors[0].code, ErrorCode::Cache);
    auto key = (*client)->post(3, "kept across restarts");
    QVERIFY(key);
    QTRY_VERIFY(!(*client)->pendingPosts().empty());
    // Destroy right away: a post() that returned a key is in the cache even so.
    client = Error {};
    client = Client::create(cfg); // a second client on the same cache
    QVERIFY(client);
    // The recreated cache kept the outbox entry (no second recreation).
    QTRY_COMPARE((*client)->pendingPosts().size(), std::size_t(1));
    QCOMPARE((*client)->pendingPosts()[0].key, *key);
    QCOMPARE(errors.size(), std::size_t(1));
}

void TstCache::roleSurvivesReopen()
{
    std::vector<Comment> comments = range(1, 1, 3);
    comments[0].user.role = "moderator";
    comments[1].user.role = "streamer";
    {
        auto cache = openCache(path());
        QVERIFY(cache);
        QVERIFY(cache->storeComments(1, comments));
        QVERIFY(cache->addSegment(1, 1, 3));
    }
    std::string note;
    auto cache = openCache(path(), &note);
    QVERIFY(cache);
    QVERIFY2(note.empty(), note.c_str());
    const auto slice = cache->newest(1, 10);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(3));
    // Newest first.
    QCOMPARE(slice->comments[2].user.role, std::string("moderator"));
    QCOMPARE(slice->comments[1].user.role, std::string("streamer"));
    QCOMPARE(slice->comments[0].user.role, std::string("viewer"));
    QCOMPARE(slice->comments[2], comments[0]);
}

void TstCache::schema2FileIsMigrated()
{
    // A cache file as the SDK wrote it before comments carried the author's role.
    {
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(path().toUtf8().constData(), &db), SQLITE_OK);
        const char* sql = "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; BEGIN;"
                          "CREATE TABLE videos(video_id INTEGER PRIMARY KEY,"
                          " last_viewed INTEGER NOT NULL);"
                          "CREATE TABLE comments(video_id INTEGER NOT NULL, id INTEGER NOT NULL,"
                          " user_id TEXT NOT NULL, user_name TEXT NOT NULL, text TEXT NOT NULL,"
                          " created_at TEXT NOT NULL, PRIMARY KEY(video_id, id)) WITHOUT ROWID;"
                          "CREATE TABLE segments(video_id INTEGER NOT NULL, lo INTEGER NOT NULL,"
                          " hi INTEGER NOT NULL, PRIMARY KEY(video_id, lo)) WITHOUT ROWID;"
                          "CREATE TABLE outbox(key TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
                          " video_id INTEGER NOT NULL, text TEXT NOT NULL,"
                          " attempts INTEGER NOT NULL, server TEXT NOT NULL,"
                          " user_id TEXT NOT NULL);"
                          "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                          " WITHOUT ROWID;"
                          "CREATE TABLE page_etags(video_id INTEGER NOT NULL, query TEXT NOT NULL,"
                          " etag TEXT NOT NULL, PRIMARY KEY(video_id, query)) WITHOUT ROWID;"
                          "INSERT INTO videos VALUES(1, 1);"
                          "INSERT INTO comments VALUES(1, 5, '7', 'alice', 'old text',"
                          " '2026-11-23T10:15:30.123Z');"
                          "INSERT INTO segments VALUES(1, 1, 5);"
                          "INSERT INTO outbox VALUES('k1', 1, 1, 'typed offline', 2, 'http://a',"
                          " '7');"
                          "PRAGMA application_id=1279479124; PRAGMA user_version=2; COMMIT;";
        char* err = nullptr;
        const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
        const QByteArray message = err ? err : "";
        sqlite3_free(err);
        sqlite3_close(db);
        QVERIFY2(rc == SQLITE_OK, message.constData());
    }
    std::string note;
    auto cache = openCache(path(), &note);
    QVERIFY(cache);
    // Migrated, not recreated: the history and, above all, the unsent post are still there.
    QVERIFY2(note.empty(), note.c_str());
    auto slice = cache->newest(1, 10);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(1));
    QCOMPARE(slice->comments[0].text, std::string("old text"));
    QCOMPARE(slice->comments[0].user.name, std::string("alice"));
    QCOMPARE(slice->comments[0].user.role, std::string("viewer"));
    const auto entries = cache->outboxLoad({ "http://a", "7" });
    QCOMPARE(entries.size(), std::size_t(1));
    QCOMPARE(entries[0].text, std::string("typed offline"));
    QCOMPARE(entries[0].attempts, 2);
    // The migrated file stores roles, and opens again as the current schema.
    Comment mod = makeComment(1, 6);
    mod.user.role = "moderator";
    QVERIFY(cache->storeComments(1, { mod }));
    QVERIFY(cache->addSegment(1, 1, 6));
    cache.reset();
    cache = openCache(path(), &note);
    QVERIFY(cache);
    QVERIFY2(note.empty(), note.c_str());
    slice = cache->newest(1, 10);
    QVERIFY(slice);
    QCOMPARE(slice->comments.size(), std::size_t(2));
    QCOMPARE(slice->comments[0].user.role, std::string("moderator"));
    QCOMPARE(slice->comments[1].user.role, std::string("viewer"));
    sqlite3* db = nullptr;
    QCOMPARE(sqlite3_open(path().toUtf8().constData(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    QCOMPARE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
    QCOMPARE(sqlite3_step(st), SQLITE_ROW);
    const int version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    QCOMPARE(version, 3);
}

QTEST_GUILESS_MAIN(TstCache)
#include "tst_cache.moc"
