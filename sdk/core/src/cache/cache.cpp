// SPDX-License-Identifier: MIT
#include "cache/cache.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

namespace livecomments::detail {

namespace {

/// RAII prepared statement. Bind/step helpers return SQLite result codes.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql)
    {
        if (db)
            m_prepareRc = sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr);
    }
    ~Stmt() { sqlite3_finalize(m_stmt); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    bool ok() const { return m_stmt && m_prepareRc == SQLITE_OK; }
    void reset()
    {
        if (m_stmt)
            sqlite3_reset(m_stmt);
    }
    Stmt& bind(int i, std::int64_t v)
    {
        if (ok())
            sqlite3_bind_int64(m_stmt, i, v);
        return *this;
    }
    Stmt& bind(int i, const std::string& v)
    {
        if (ok())
            sqlite3_bind_text(m_stmt, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    /// SQLITE_ROW, SQLITE_DONE or an error code.
    int step()
    {
        if (!ok())
            return m_prepareRc == SQLITE_OK ? SQLITE_MISUSE : m_prepareRc;
        return sqlite3_step(m_stmt);
    }
    std::int64_t i64(int col) const { return sqlite3_column_int64(m_stmt, col); }
    std::string text(int col) const
    {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, col));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col)))
                 : std::string();
    }

private:
    sqlite3_stmt* m_stmt = nullptr;
    int m_prepareRc = SQLITE_ERROR;
};

std::int64_t asDb(CommentId id)
{
    return static_cast<std::int64_t>(id);
}

Comment rowToComment(const Stmt& s, VideoId video)
{
    // columns: id, user_id, user_name, text, created_at, user_role
    Comment c;
    c.id = static_cast<CommentId>(s.i64(0));
    c.videoId = video;
    c.user.id = s.text(1);
    c.user.name = s.text(2);
    c.text = s.text(3);
    c.createdAt = s.text(4);
    c.user.role = s.text(5);
    return c;
}

/// Deletes the cache file and its SQLite side files; never anything but regular files.
void removeFiles(const std::string& path)
{
    for (const char* suffix : { "", "-wal", "-shm", "-journal" }) {
        std::error_code ec;
        const std::filesystem::path p(path + suffix);
        if (std::filesystem::is_regular_file(p, ec))
            std::filesystem::remove(p, ec);
    }
}

bool isCorruption(int rc)
{
    const int primary = rc & 0xFF;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

} // namespace

Cache::Cache(std::string path, std::int64_t maxBytes)
    : m_path(std::move(path))
    , m_maxBytes(maxBytes)
{ }

Cache::~Cache()
{
    closeDb();
}

void Cache::closeDb()
{
    if (m_db)
        sqlite3_close_v2(m_db);
    m_db = nullptr;
}

bool Cache::exec(const char* sql)
{
    if (!m_db)
        return false;
    const int rc = sqlite3_exec(m_db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
        onSqliteError(rc);
        return false;
    }
    return true;
}

void Cache::onSqliteError(int rc)
{
    if (!isCorruption(rc))
        return;
    // The file went bad under us: start over with an empty cache rather than fail forever.
    closeDb();
    removeFiles(m_path);
    std::string why;
    if (!openAndCheck(&why))
        closeDb();
}

std::unique_ptr<Cache> Cache::open(
    const std::string& path, std::int64_t maxBytes, std::string* note, Error* error)
{
    std::unique_ptr<Cache> cache(new Cache(path, maxBytes));
    std::string why;
    if (cache->openAndCheck(&why))
        return cache;
    // Corrupt, foreign or outdated: delete and recreate.
    cache->closeDb();
    removeFiles(path);
    if (note)
        *note = "cache file " + path + " was recreated (" + why + ")";
    std::string why2;
    if (cache->openAndCheck(&why2))
        return cache;
    cache->closeDb();
    if (error)
        *error = Error { ErrorCode::Cache, "cannot open cache " + path + ": " + why2, 0, -1 };
    return nullptr;
}

bool Cache::openAndCheck(std::string* why)
{
    const int rc = sqlite3_open_v2(m_path.c_str(), &m_db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        *why = m_db ? sqlite3_errmsg(m_db) : "sqlite3_open failed";
        return false;
    }
    sqlite3_busy_timeout(m_db, 2000);
    std::int64_t appId = -1, version = -1, tables = -1;
    {
        Stmt s(m_db, "PRAGMA application_id");
        if (s.step() != SQLITE_ROW) {
            *why = sqlite3_errmsg(m_db);
            return false;
        }
        appId = s.i64(0);
    }
    {
        Stmt s(m_db, "PRAGMA user_version");
        if (s.step() == SQLITE_ROW)
            version = s.i64(0);
    }
    {
        Stmt s(m_db, "SELECT count(*) FROM sqlite_master");
        if (s.step() != SQLITE_ROW) {
            *why = sqlite3_errmsg(m_db);
            return false;
        }
        tables = s.i64(0);
    }
    if (tables == 0 && appId == 0) {
        if (!createSchema()) {
            *why = "cannot create schema";
            return false;
        }
        return true;
    }
    if (appId != kApplicationId) {
        *why = "foreign SQLite file";
        return false;
    }
    if (version == 2 && !migrateFrom2()) {
        *why = "cannot migrate schema version 2";
        return false;
    }
    if (version != 2 && version != kSchemaVersion) {
        *why = "schema version " + std::to_string(version);
        return false;
    }
    {
        Stmt s(m_db, "PRAGMA quick_check");
        if (s.step() != SQLITE_ROW || s.text(0) != "ok") {
            *why = "integrity check failed";
            return false;
        }
    }
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    // Added after schema 1 shipped; a table that may be missing costs no version bump (and so no
    // loss of cached history or of the outbox).
    exec("CREATE TABLE IF NOT EXISTS page_etags(video_id INTEGER NOT NULL, query TEXT NOT NULL,"
         " etag TEXT NOT NULL, PRIMARY KEY(video_id, query)) WITHOUT ROWID");
    return true;
}

bool Cache::createSchema()
{
    // auto_vacuum must be chosen before the first table exists; INCREMENTAL lets eviction
    // give pages back to the file system.
    return exec("PRAGMA auto_vacuum=INCREMENTAL") && exec("PRAGMA journal_mode=WAL")
        && exec("PRAGMA synchronous=NORMAL")
        && exec("BEGIN;"
                "CREATE TABLE videos(video_id INTEGER PRIMARY KEY, last_viewed INTEGER NOT NULL);"
                "CREATE TABLE comments(video_id INTEGER NOT NULL, id INTEGER NOT NULL,"
                " user_id TEXT NOT NULL, user_name TEXT NOT NULL, text TEXT NOT NULL,"
                " created_at TEXT NOT NULL, user_role TEXT NOT NULL DEFAULT 'viewer',"
                " PRIMARY KEY(video_id, id)) WITHOUT ROWID;"
                "CREATE TABLE segments(video_id INTEGER NOT NULL, lo INTEGER NOT NULL,"
                " hi INTEGER NOT NULL, PRIMARY KEY(video_id, lo)) WITHOUT ROWID;"
                "CREATE TABLE outbox(key TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
                " video_id INTEGER NOT NULL, text TEXT NOT NULL, attempts INTEGER NOT NULL,"
                " server TEXT NOT NULL, user_id TEXT NOT NULL);"
                "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE page_etags(video_id INTEGER NOT NULL, query TEXT NOT NULL,"
                " etag TEXT NOT NULL, PRIMARY KEY(video_id, query)) WITHOUT ROWID;"
                "PRAGMA application_id=1279479124;"
                "PRAGMA user_version=3;"
                "COMMIT;");
}

bool Cache::migrateFrom2()
{
    // Schema 2 had no author role. Adding the column keeps the cached history and, above all,
    // the outbox (posts typed offline); the rows it had were written before roles existed, so
    // "viewer" is what an old server would have meant.
    if (exec("BEGIN;"
             "ALTER TABLE comments ADD COLUMN user_role TEXT NOT NULL DEFAULT 'viewer';"
             "PRAGMA user_version=3;"
             "COMMIT;"))
        return true;
    exec("ROLLBACK");
    return false;
}

bool Cache::storeComments(VideoId video, const std::vector<Comment>& comments)
{
    if (!m_db || comments.empty())
        return m_db != nullptr;
    if (!exec("BEGIN"))
        return false;
    {
        Stmt one(m_db,
            "INSERT OR REPLACE INTO comments(video_id, id, user_id, user_name, text, created_at,"
            " user_role) VALUES(?,?,?,?,?,?,?)");
        for (const auto& c : comments) {
            one.reset();
            one.bind(1, video).bind(2, asDb(c.id)).bind(3, c.user.id).bind(4, c.user.name);
            one.bind(5, c.text).bind(6, c.createdAt).bind(7, c.user.role);
            const int rc = one.step();
            if (rc != SQLITE_DONE) {
                exec("ROLLBACK");
                onSqliteError(rc);
                return false;
            }
        }
    }
    return exec("COMMIT");
}

bool Cache::addSegment(VideoId video, CommentId lo, CommentId hi)
{
    if (!m_db || lo > hi)
        return false;
    std::int64_t newLo = asDb(lo), newHi = asDb(hi);
    if (!exec("BEGIN"))
        return false;
    {
        // Overlapping or adjacent segments merge into one.
        Stmt s(m_db, "SELECT lo, hi FROM segments WHERE video_id=? AND lo<=? AND hi>=?");
        s.bind(1, video).bind(2, newHi + 1).bind(3, newLo - 1);
        while (s.step() == SQLITE_ROW) {
            newLo = std::min(newLo, s.i64(0));
            newHi = std::max(newHi, s.i64(1));
        }
        Stmt d(m_db, "DELETE FROM segments WHERE video_id=? AND lo<=? AND hi>=?");
        d.bind(1, video).bind(2, newHi + 1).bind(3, newLo - 1);
        d.step();
        Stmt i(m_db, "INSERT OR REPLACE INTO segments(video_id, lo, hi) VALUES(?,?,?)");
        i.bind(1, video).bind(2, newLo).bind(3, newHi);
        const int rc = i.step();
        if (rc != SQLITE_DONE) {
            exec("ROLLBACK");
            onSqliteError(rc);
            return false;
        }
    }
    return exec("COMMIT");
}

std::string Cache::pageEtag(VideoId video, const std::string& query)
{
    Stmt s(m_db, "SELECT etag FROM page_etags WHERE video_id=? AND query=?");
    s.bind(1, video).bind(2, query);
    return s.step() == SQLITE_ROW ? s.text(0) : std::string();
}

void Cache::setPageEtag(VideoId video, const std::string& query, const std::string& etag)
{
    Stmt s(m_db,
        etag.empty() ? "DELETE FROM page_etags WHERE video_id=? AND query=?"
                     : "INSERT OR REPLACE INTO page_etags(video_id, query, etag) VALUES(?,?,?)");
    s.bind(1, video).bind(2, query);
    if (!etag.empty())
        s.bind(3, etag);
    const int rc = s.step();
    if (rc != SQLITE_DONE)
        onSqliteError(rc);
}

void Cache::removeComment(VideoId video, CommentId id)
{
    Stmt s(m_db, "DELETE FROM comments WHERE video_id=? AND id=?");
    s.bind(1, video).bind(2, asDb(id));
    const int rc = s.step();
    if (rc != SQLITE_DONE)
        onSqliteError(rc);
}

std::optional<CachedSlice> Cache::newest(VideoId video, int limit)
{
    std::int64_t lo = 0, hi = 0;
    {
        Stmt s(m_db, "SELECT lo, hi FROM segments WHERE video_id=? ORDER BY hi DESC LIMIT 1");
        s.bind(1, video);
        const int rc = s.step();
        if (rc != SQLITE_ROW) {
            onSqliteError(rc);
            return std::nullopt;
        }
        lo = s.i64(0);
        hi = s.i64(1);
    }
    return slice(video, lo, hi, limit);
}

std::optional<CachedSlice> Cache::olderThan(VideoId video, CommentId before, int limit)
{
    if (before <= 1)
        return CachedSlice { {}, true };
    const std::int64_t probe = asDb(before) - 1;
    std::int64_t lo = 0;
    {
        Stmt s(m_db, "SELECT lo FROM segments WHERE video_id=? AND lo<=? AND hi>=? LIMIT 1");
        s.bind(1, video).bind(2, probe).bind(3, probe);
        const int rc = s.step();
        if (rc != SQLITE_ROW) {
            onSqliteError(rc);
            return std::nullopt;
        }
        lo = s.i64(0);
    }
    return slice(video, lo, probe, limit);
}

std::optional<CachedSlice> Cache::slice(VideoId video, std::int64_t lo, std::int64_t hi, int limit)
{
    CachedSlice out;
    Stmt s(m_db,
        "SELECT id, user_id, user_name, text, created_at, user_role FROM comments"
        " WHERE video_id=? AND id>=? AND id<=? ORDER BY id DESC LIMIT ?");
    s.bind(1, video).bind(2, lo).bind(3, hi).bind(4, limit + 1);
    while (s.step() == SQLITE_ROW)
        out.comments.push_back(rowToComment(s, video));
    const bool more = out.comments.size() > static_cast<std::size_t>(limit);
    if (more)
        out.comments.pop_back();
    out.reachesBeginning = !more && lo <= 1;
    if (out.comments.empty() && !out.reachesBeginning)
        return std::nullopt; // a segment edge: nothing cached there
    return out;
}

void Cache::touch(VideoId video)
{
    Stmt s(m_db,
        "INSERT INTO videos(video_id, last_viewed) VALUES(?, (SELECT coalesce(max(last_viewed),0)+1"
        " FROM videos)) ON CONFLICT(video_id) DO UPDATE SET last_viewed=excluded.last_viewed");
    s.bind(1, video);
    const int rc = s.step();
    if (rc != SQLITE_DONE)
        onSqliteError(rc);
}

void Cache::setOpen(VideoId video, bool open)
{
    if (open)
        ++m_open[video];
    else if (auto it = m_open.find(video); it != m_open.end() && --it->second <= 0)
        m_open.erase(it);
}

std::int64_t Cache::usedBytes()
{
    std::int64_t pages = 0, freePages = 0, pageSize = 0;
    {
        Stmt s(m_db, "PRAGMA page_count");
        if (s.step() == SQLITE_ROW)
            pages = s.i64(0);
    }
    {
        Stmt s(m_db, "PRAGMA freelist_count");
        if (s.step() == SQLITE_ROW)
            freePages = s.i64(0);
    }
    {
        Stmt s(m_db, "PRAGMA page_size");
        if (s.step() == SQLITE_ROW)
            pageSize = s.i64(0);
    }
    return (pages - freePages) * pageSize;
}

std::vector<VideoId> Cache::videos()
{
    std::vector<VideoId> out;
    Stmt s(m_db, "SELECT video_id FROM videos ORDER BY last_viewed ASC");
    while (s.step() == SQLITE_ROW)
        out.push_back(static_cast<VideoId>(s.i64(0)));
    return out;
}

void Cache::enforceLimit()
{
    if (!m_db || m_maxBytes <= 0)
        return;
    if (usedBytes() <= m_maxBytes)
        return;
    for (VideoId v : videos()) {
        if (m_open.count(v))
            continue;
        exec("BEGIN");
        for (const char* sql : { "DELETE FROM comments WHERE video_id=?",
                 "DELETE FROM segments WHERE video_id=?", "DELETE FROM page_etags WHERE video_id=?",
                 "DELETE FROM videos WHERE video_id=?" }) {
            Stmt s(m_db, sql);
            s.bind(1, v);
            s.step();
        }
        exec("COMMIT");
        if (usedBytes() <= m_maxBytes)
            break;
    }
    exec("PRAGMA incremental_vacuum");
    exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

bool Cache::bindServer(const std::string& server, bool* cleared)
{
    if (cleared)
        *cleared = false;
    if (!m_db)
        return false;
    std::string bound;
    {
        Stmt s(m_db, "SELECT value FROM meta WHERE key='server'");
        if (s.step() == SQLITE_ROW)
            bound = s.text(0);
    }
    if (bound == server)
        return true;
    // Pages of another server must never be shown as this one's: drop them (the outbox keeps
    // its rows, each bound to its own server and user).
    if (!exec("BEGIN"))
        return false;
    const bool ok = exec("DELETE FROM comments; DELETE FROM segments; DELETE FROM videos;"
                         " DELETE FROM page_etags;");
    Stmt s(m_db, "INSERT OR REPLACE INTO meta(key, value) VALUES('server', ?)");
    s.bind(1, server);
    if (!ok || s.step() != SQLITE_DONE) {
        exec("ROLLBACK");
        return false;
    }
    if (cleared)
        *cleared = !bound.empty();
    return exec("COMMIT");
}

bool Cache::outboxAdd(const OutboxEntry& e, const OutboxOwner& owner)
{
    Stmt s(m_db,
        "INSERT OR REPLACE INTO outbox(key, seq, video_id, text, attempts, server, user_id)"
        " VALUES(?, (SELECT coalesce(max(seq),0)+1 FROM outbox), ?, ?, ?, ?, ?)");
    s.bind(1, e.key).bind(2, e.videoId).bind(3, e.text).bind(4, e.attempts);
    s.bind(5, owner.server).bind(6, owner.user);
    const int rc = s.step();
    if (rc != SQLITE_DONE) {
        onSqliteError(rc);
        return false;
    }
    return true;
}

bool Cache::outboxRemove(const std::string& key)
{
    Stmt s(m_db, "DELETE FROM outbox WHERE key=?");
    s.bind(1, key);
    return s.step() == SQLITE_DONE;
}

bool Cache::outboxSetAttempts(const std::string& key, int attempts)
{
    Stmt s(m_db, "UPDATE outbox SET attempts=? WHERE key=?");
    s.bind(1, attempts).bind(2, key);
    return s.step() == SQLITE_DONE;
}

std::vector<OutboxEntry> Cache::outboxLoad(const OutboxOwner& owner)
{
    std::vector<OutboxEntry> out;
    Stmt s(m_db,
        "SELECT key, video_id, text, attempts FROM outbox WHERE server=? AND user_id=?"
        " ORDER BY seq ASC");
    s.bind(1, owner.server).bind(2, owner.user);
    while (s.step() == SQLITE_ROW) {
        OutboxEntry e;
        e.key = s.text(0);
        e.videoId = static_cast<VideoId>(s.i64(1));
        e.text = s.text(2);
        e.attempts = static_cast<int>(s.i64(3));
        out.push_back(std::move(e));
    }
    return out;
}

} // namespace livecomments::detail
