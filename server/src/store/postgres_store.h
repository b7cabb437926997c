// SPDX-License-Identifier: MIT
#pragma once

#include "store/store_backend.h"

#include <cstddef>
#include <string>

namespace livecomments::server::store {

/// Where a PostgreSQL store lives and how to reach it.
struct PostgresConfig {
    std::string host;
    int port = 5432;
    std::string user;
    std::string password; ///< empty: none (trust, peer or ~/.pgpass)
    std::string database;
    std::size_t readPoolSize = 32; ///< at most this many reader connections
    int connectAttempts = 5; ///< connection attempts at open() …
    int connectDeadlineMs = 10000; ///< … all within this many milliseconds
};

/**
 * PostgreSQL behind a CommentStore (`--store=postgresql://user@host:port/db`), on Poco Data
 * PostgreSQL (libpq). Comments are hash-partitioned by video_id (16 partitions, primary key
 * (video_id, id)), so a history page is a range scan of one partition. Several servers may share
 * one database: migrations take an advisory lock, idempotency keys are claimed with
 * ON CONFLICT, and CommentStore orders the ops of a batch by video id (one lock order).
 *
 * Threading: see StoreBackend.
 */
class PostgresBackend : public StoreBackend {
public:
    explicit PostgresBackend(PostgresConfig config);

    /// "postgresql://user@host:port/db" (never the password).
    std::string describe() const override;
    /// Connects with retries: connectAttempts attempts within connectDeadlineMs, then throws
    /// Poco::Exception naming the server and the last libpq error.
    std::unique_ptr<Poco::Data::Session> connectWriter() override;
    std::unique_ptr<Poco::Data::SessionPool> makeReadPool() override;
    void exec(Poco::Data::Session& session, const std::string& sql) const override;
    const char* beginWrite() const override;
    void lockForMigration(Poco::Data::Session& session) const override;
    const char* rowLock() const override;
    /// `?` → `$1`, `$2`, … (outside quoted literals).
    std::string sql(const std::string& portable) const override;
    const std::vector<Migration>& migrations() const override;
    bool connectionLost(Poco::Data::Session& session) const override;
    bool sharedByNodes() const override { return true; }
    bool tryAdvisoryLock(Poco::Data::Session& session, const std::string& name) const override;

    /// The libpq connection string (key=value pairs, values quoted).
    std::string connectionString(int connectTimeoutSeconds) const;

private:
    PostgresConfig m_config;
};

} // namespace livecomments::server::store
