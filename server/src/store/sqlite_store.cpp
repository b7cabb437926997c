// SPDX-License-Identifier: MIT
#include "store/sqlite_store.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/File.h>
#include <Poco/Path.h>

#include <sqlite3.h>

namespace livecomments::server::store {

namespace {

/// Idle reader sessions are closed after this many seconds.
constexpr int kPoolIdleSeconds = 60;
/// Poco retries a failing sqlite3_open for this long (its default, 60 s, looks like a hang).
constexpr std::size_t kOpenTimeoutSeconds = 5;

} // namespace

SqliteBackend::SqliteBackend(std::string path, bool synchronousFull, std::size_t readPoolSize)
    : m_path(std::move(path))
    , m_synchronousFull(synchronousFull)
    , m_readPoolSize(readPoolSize)
{ }

std::string SqliteBackend::describe() const
{
    return "sqlite:" + m_path;
}

std::unique_ptr<Poco::Data::Session> SqliteBackend::connectWriter()
{
    Poco::Data::SQLite::Connector::registerConnector();
    // SQLite creates the file but not its directory: say so at once rather than after Poco's
    // open retries.
    const Poco::Path directory = Poco::Path(m_path).makeParent();
    if (!directory.toString().empty() && !Poco::File(directory).exists())
        throw Poco::Exception("SQLite store " + describe() + ": unable to open, directory "
            + directory.toString() + " does not exist");
    auto session = std::make_unique<Poco::Data::Session>("SQLite", m_path, kOpenTimeoutSeconds);
    // WAL: readers never block the writer. synchronous=FULL fsyncs the WAL at every commit, so an
    // acknowledged comment survives a process kill AND a power loss; group commit amortises it.
    exec(*session, "PRAGMA journal_mode=WAL");
    exec(*session, std::string("PRAGMA synchronous=") + (m_synchronousFull ? "FULL" : "NORMAL"));
    exec(*session, "PRAGMA busy_timeout=5000");
    exec(*session, "PRAGMA foreign_keys=ON");
    return session;
}

std::unique_ptr<Poco::Data::SessionPool> SqliteBackend::makeReadPool()
{
    return std::make_unique<Poco::Data::SessionPool>(
        "SQLite", m_path, 1, static_cast<int>(m_readPoolSize), kPoolIdleSeconds);
}

void SqliteBackend::exec(Poco::Data::Session& session, const std::string& sql) const
{
    // The raw handle: Poco statements take one statement each, migrations hold several.
    sqlite3* db = Poco::Data::SQLite::Utility::dbHandle(session);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
        std::string message = error ? error : "unknown error";
        sqlite3_free(error);
        throw Poco::Exception("SQLite: " + sql + ": " + message);
    }
}

const char* SqliteBackend::beginWrite() const
{
    // IMMEDIATE takes the write lock at BEGIN, so a batch never fails half way on SQLITE_BUSY.
    return "BEGIN IMMEDIATE";
}

void SqliteBackend::lockForMigration(Poco::Data::Session&) const
{
    // BEGIN IMMEDIATE already excludes every other writer of the file.
}

const char* SqliteBackend::rowLock() const
{
    // BEGIN IMMEDIATE: this transaction is the only writer of the file.
    return "";
}

std::string SqliteBackend::sql(const std::string& portable) const
{
    return portable;
}

const std::vector<Migration>& SqliteBackend::migrations() const
{
    static const std::vector<Migration> kMigrations = {
        { 1, "initial",
            "CREATE TABLE videos ("
            "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  title TEXT NOT NULL,"
            "  streamer_id TEXT NOT NULL,"
            "  streamer_name TEXT NOT NULL,"
            "  status TEXT NOT NULL DEFAULT 'live',"
            "  comment_count INTEGER NOT NULL DEFAULT 0,"
            "  created_at INTEGER NOT NULL,"
            "  ended_at INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE comments ("
            "  id INTEGER PRIMARY KEY,"
            "  video_id INTEGER NOT NULL REFERENCES videos(id),"
            "  user_id TEXT NOT NULL,"
            "  user_name TEXT NOT NULL,"
            "  text TEXT NOT NULL,"
            "  created_at INTEGER NOT NULL);"
            "CREATE UNIQUE INDEX comments_by_video ON comments(video_id, id);"
            "CREATE TABLE idempotency ("
            "  user_id TEXT NOT NULL,"
            "  scope TEXT NOT NULL,"
            "  key TEXT NOT NULL,"
            "  body TEXT NOT NULL,"
            "  created_at INTEGER NOT NULL,"
            "  PRIMARY KEY (user_id, scope, key));"
            "CREATE INDEX idempotency_by_age ON idempotency(created_at);" },
        // Retention selects the videos created before its cutoff.
        { 2, "videos_by_age", "CREATE INDEX videos_by_age ON videos(created_at);" },
        // Archive blocks of ended videos (store/archive.h): one row per run of consecutive
        // comments, found by its id range; archived_at marks a video whose rows are all packed.
        { 3, "comment_blocks",
            "CREATE TABLE comment_blocks ("
            "  video_id INTEGER NOT NULL REFERENCES videos(id),"
            "  first_id INTEGER NOT NULL,"
            "  last_id INTEGER NOT NULL,"
            "  comment_count INTEGER NOT NULL,"
            "  data BLOB NOT NULL,"
            "  PRIMARY KEY (video_id, first_id));"
            "CREATE UNIQUE INDEX comment_blocks_by_last ON comment_blocks(video_id, last_id);"
            "ALTER TABLE videos ADD COLUMN archived_at INTEGER NOT NULL DEFAULT 0;"
            "CREATE INDEX videos_to_archive ON videos(status, archived_at, ended_at);" },
        // The head of each video's comment chain (docs/protocol.md "Order across nodes"): the
        // newest comment id ever committed, whether its row was deleted or packed since.
        { 4, "video_last_id",
            "ALTER TABLE videos ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0;"
            "UPDATE videos SET last_id = MAX("
            "  COALESCE((SELECT MAX(id) FROM comments WHERE video_id = videos.id), 0),"
            "  COALESCE((SELECT MAX(last_id) FROM comment_blocks WHERE video_id = videos.id), "
            "0));" },
        // The region relay's outbox (docs/operations.md "Regions"): one row per local write and
        // peer region, inserted in the write's transaction, deleted once the peer stored it.
        { 5, "relay_queue",
            "CREATE TABLE relay_queue ("
            "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  peer TEXT NOT NULL,"
            "  payload TEXT NOT NULL,"
            "  created_at INTEGER NOT NULL);"
            "CREATE INDEX relay_queue_by_peer ON relay_queue(peer, seq);" },
        // Tombstones of deleted comments (docs/operations.md "Regions"): a relayed copy of a
        // deleted comment that arrives after its deletion is refused. No reference to videos: a
        // deletion can arrive before its video.
        { 6, "deleted_comments",
            "CREATE TABLE deleted_comments ("
            "  video_id INTEGER NOT NULL,"
            "  comment_id INTEGER NOT NULL,"
            "  deleted_at INTEGER NOT NULL,"
            "  PRIMARY KEY (video_id, comment_id));"
            "CREATE INDEX deleted_comments_by_age ON deleted_comments(deleted_at);" },
        // The author's role with each comment (docs/protocol.md "Objects"), so every node and
        // region knows a moderator's comment (docs/fanout.md). Earlier rows were written
        // without one and read as 'viewer'.
        { 7, "comment_user_role",
            "ALTER TABLE comments ADD COLUMN user_role TEXT NOT NULL DEFAULT 'viewer' "
            "CHECK (user_role IN ('viewer', 'streamer', 'moderator'));" },
    };
    return kMigrations;
}

bool SqliteBackend::connectionLost(Poco::Data::Session&) const
{
    // A file handle does not drop; failed transactions are rolled back and the writer goes on.
    return false;
}

} // namespace livecomments::server::store
