// SPDX-License-Identifier: MIT
#include "store/postgres_store.h"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/PostgreSQL/SessionHandle.h>
#include <Poco/Data/PostgreSQL/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>

#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace livecomments::server::store {

namespace {

/// Idle reader sessions are closed after this many seconds.
constexpr int kPoolIdleSeconds = 60;
/// pg_advisory_xact_lock key that serialises migrations ("LCMG").
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(1279478087)";

/// A libpq connection-string value: quoted, with ' and \ escaped.
std::string quoted(const std::string& value)
{
    std::string out = "'";
    for (const char c : value) {
        if (c == '\'' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "'";
}

PGconn* connection(Poco::Data::Session& session)
{
    return *Poco::Data::PostgreSQL::Utility::handle(session);
}

} // namespace

PostgresBackend::PostgresBackend(PostgresConfig config)
    : m_config(std::move(config))
{ }

std::string PostgresBackend::describe() const
{
    return "postgresql://" + m_config.user + "@" + m_config.host + ":"
        + std::to_string(m_config.port) + "/" + m_config.database;
}

std::string PostgresBackend::connectionString(int connectTimeoutSeconds) const
{
    std::string s = "host=" + quoted(m_config.host) + " port=" + std::to_string(m_config.port)
        + " user=" + quoted(m_config.user) + " dbname=" + quoted(m_config.database)
        + " application_name='livecomments-server'";
    if (!m_config.password.empty())
        s += " password=" + quoted(m_config.password);
    // libpq treats 1 as 2; 0 would mean "wait forever", which the deadline forbids.
    s += " connect_timeout=" + std::to_string(std::max(2, connectTimeoutSeconds));
    return s;
}

std::unique_ptr<Poco::Data::Session> PostgresBackend::connectWriter()
{
    Poco::Data::PostgreSQL::Connector::registerConnector();
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::milliseconds(m_config.connectDeadlineMs);
    const int attempts = std::max(1, m_config.connectAttempts);
    auto backoff = std::chrono::milliseconds(100);
    std::string lastError;
    int attempt = 0;
    while (attempt < attempts) {
        ++attempt;
        const auto left
            = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now()).count();
        try {
            auto session = std::make_unique<Poco::Data::Session>(
                "PostgreSQL", connectionString(static_cast<int>(left)));
            // synchronous_commit=on: COMMIT returns only after the WAL is flushed, which is
            // what lets the store acknowledge a comment after commit. The notices of
            // CREATE ... IF NOT EXISTS are noise.
            exec(*session, "SET synchronous_commit = on; SET client_min_messages = warning");
            return session;
        } catch (const Poco::Exception& e) {
            lastError = e.displayText();
        }
        if (attempt >= attempts || Clock::now() + backoff >= deadline)
            break;
        // Sleeping is the point here: PostgreSQL may still be starting (compose, systemd).
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    throw Poco::Exception("PostgreSQL store " + describe()
        + " is unreachable: " + std::to_string(attempt) + " attempt(s) in "
        + std::to_string(took.count()) + " ms, last error: " + lastError);
}

std::unique_ptr<Poco::Data::SessionPool> PostgresBackend::makeReadPool()
{
    return std::make_unique<Poco::Data::SessionPool>("PostgreSQL",
        connectionString(m_config.connectDeadlineMs / 1000), 1,
        static_cast<int>(m_config.readPoolSize), kPoolIdleSeconds);
}

void PostgresBackend::exec(Poco::Data::Session& session, const std::string& sql) const
{
    // The simple-query protocol: several statements per call (migrations) and no prepared
    // statement per BEGIN/SAVEPOINT.
    PGresult* result = PQexec(connection(session), sql.c_str());
    const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    std::string error = result ? PQresultErrorMessage(result) : "";
    if (result)
        PQclear(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        if (error.empty())
            error = PQerrorMessage(connection(session));
        throw Poco::Exception("PostgreSQL: " + sql.substr(0, 200) + ": " + error);
    }
}

const char* PostgresBackend::beginWrite() const
{
    return "BEGIN";
}

void PostgresBackend::lockForMigration(Poco::Data::Session& session) const
{
    exec(session, kMigrationLock);
}

const char* PostgresBackend::rowLock() const
{
    // The lock UPDATE videos takes anyway; comment inserts (FOR KEY SHARE via the foreign key)
    // are not blocked by it.
    return " FOR NO KEY UPDATE";
}

std::string PostgresBackend::sql(const std::string& portable) const
{
    std::string out;
    out.reserve(portable.size() + 16);
    int next = 1;
    bool inLiteral = false;
    for (const char c : portable) {
        if (c == '\'')
            inLiteral = !inLiteral;
        if (c == '?' && !inLiteral)
            out += "$" + std::to_string(next++);
        else
            out += c;
    }
    return out;
}

const std::vector<Migration>& PostgresBackend::migrations() const
{
    // Ids are bigint (comment ids are 64-bit snowflakes). Comments are hash-partitioned by
    // video_id; the primary key (video_id, id) makes every history page a range scan of one
    // partition, and retention deletes per video the same way.
    static const std::vector<Migration> kMigrations = {
        { 1, "initial",
            "CREATE TABLE videos ("
            "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            "  title TEXT NOT NULL,"
            "  streamer_id TEXT NOT NULL,"
            "  streamer_name TEXT NOT NULL,"
            "  status TEXT NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'ended')),"
            "  comment_count BIGINT NOT NULL DEFAULT 0,"
            "  created_at BIGINT NOT NULL,"
            "  ended_at BIGINT NOT NULL DEFAULT 0);"
            "CREATE INDEX videos_by_age ON videos (created_at);"
            "CREATE TABLE comments ("
            "  video_id BIGINT NOT NULL REFERENCES videos (id),"
            "  id BIGINT NOT NULL,"
            "  user_id TEXT NOT NULL,"
            "  user_name TEXT NOT NULL,"
            "  text TEXT NOT NULL,"
            "  created_at BIGINT NOT NULL,"
            "  PRIMARY KEY (video_id, id)"
            ") PARTITION BY HASH (video_id);"
            "DO $$ BEGIN FOR i IN 0..15 LOOP EXECUTE format("
            "  'CREATE TABLE comments_p%s PARTITION OF comments "
            "FOR VALUES WITH (MODULUS 16, REMAINDER %s)', i, i);"
            "END LOOP; END $$;"
            "CREATE TABLE idempotency ("
            "  user_id TEXT NOT NULL,"
            "  scope TEXT NOT NULL,"
            "  key TEXT NOT NULL,"
            "  body TEXT NOT NULL,"
            "  created_at BIGINT NOT NULL,"
            "  PRIMARY KEY (user_id, scope, key));"
            "CREATE INDEX idempotency_by_age ON idempotency (created_at);" },
        // Archive blocks of ended videos (store/archive.h): one row per run of consecutive
        // comments, found by its id range; 256 comments per row, so one table is enough.
        { 2, "comment_blocks",
            "CREATE TABLE comment_blocks ("
            "  video_id BIGINT NOT NULL REFERENCES videos (id),"
            "  first_id BIGINT NOT NULL,"
            "  last_id BIGINT NOT NULL,"
            "  comment_count INTEGER NOT NULL,"
            "  data BYTEA NOT NULL,"
            "  PRIMARY KEY (video_id, first_id));"
            "CREATE UNIQUE INDEX comment_blocks_by_last ON comment_blocks (video_id, last_id);"
            "ALTER TABLE videos ADD COLUMN archived_at BIGINT NOT NULL DEFAULT 0;"
            "CREATE INDEX videos_to_archive ON videos (status, archived_at, ended_at);" },
        // The head of each video's comment chain (docs/protocol.md "Order across nodes"): the
        // newest comment id ever committed, whether its row was deleted or packed since.
        { 3, "video_last_id",
            "ALTER TABLE videos ADD COLUMN last_id BIGINT NOT NULL DEFAULT 0;"
            "UPDATE videos SET last_id = GREATEST("
            "  COALESCE((SELECT MAX(id) FROM comments WHERE video_id = videos.id), 0),"
            "  COALESCE((SELECT MAX(last_id) FROM comment_blocks WHERE video_id = videos.id), "
            "0));" },
        // The region relay's outbox (docs/operations.md "Regions"): one row per local write and
        // peer region, inserted in the write's transaction, deleted once the peer stored it.
        { 4, "relay_queue",
            "CREATE TABLE relay_queue ("
            "  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            "  peer TEXT NOT NULL,"
            "  payload TEXT NOT NULL,"
            "  created_at BIGINT NOT NULL);"
            "CREATE INDEX relay_queue_by_peer ON relay_queue (peer, seq);" },
        // Tombstones of deleted comments (docs/operations.md "Regions"): a relayed copy of a
        // deleted comment that arrives after its deletion is refused. No reference to videos: a
        // deletion can arrive before its video.
        { 5, "deleted_comments",
            "CREATE TABLE deleted_comments ("
            "  video_id BIGINT NOT NULL,"
            "  comment_id BIGINT NOT NULL,"
            "  deleted_at BIGINT NOT NULL,"
            "  PRIMARY KEY (video_id, comment_id));"
            "CREATE INDEX deleted_comments_by_age ON deleted_comments (deleted_at);" },
        // The author's role with each comment (docs/protocol.md "Objects"), so every node and
        // region knows a moderator's comment (docs/fanout.md). Earlier rows were written
        // without one and read as 'viewer'. Added to the partitioned parent, so to every
        // partition; the CHECK reads the existing rows once (docs/operations.md).
        { 6, "comment_user_role",
            "ALTER TABLE comments ADD COLUMN user_role TEXT NOT NULL DEFAULT 'viewer' "
            "CHECK (user_role IN ('viewer', 'streamer', 'moderator'));" },
    };
    return kMigrations;
}

bool PostgresBackend::tryAdvisoryLock(Poco::Data::Session& session, const std::string& name) const
{
    // Session level: held until this connection closes (a crashed node's lock goes with it).
    std::string key = name;
    int got = 0;
    session << "SELECT CASE WHEN pg_try_advisory_lock(hashtext($1)) THEN 1 ELSE 0 END",
        Poco::Data::Keywords::use(key), Poco::Data::Keywords::into(got), Poco::Data::Keywords::now;
    return got == 1;
}

bool PostgresBackend::connectionLost(Poco::Data::Session& session) const
{
    return PQstatus(connection(session)) != CONNECTION_OK;
}

} // namespace livecomments::server::store
