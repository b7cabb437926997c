// SPDX-License-Identifier: MIT
#pragma once

#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>

#include <memory>
#include <string>
#include <vector>

namespace livecomments::server::store {

/// One step of a backend's schema: applied once, in order, recorded in schema_migrations.
struct Migration {
    int version;
    const char* name;
    const char* sql; ///< may hold several statements; runs inside the migration transaction
};

/**
 * What differs between the database engines behind a CommentStore: connecting, raw SQL for
 * transaction control and DDL, the placeholder syntax and the schema. Everything else (group
 * commit, the operations and their SQL, reads, retention) lives once in CommentStore.
 *
 * The SQL CommentStore hands to sql() is "portable": `?` placeholders, standard SQL that both
 * SQLite 3.35+ and PostgreSQL accept (ON CONFLICT DO NOTHING, RETURNING, aliased subqueries).
 *
 * Threading: connectWriter()/makeReadPool() from the thread that opens the store; the rest is
 * const and callable from any thread.
 */
class StoreBackend {
public:
    virtual ~StoreBackend() = default;

    /// Engine and location for messages and logs, e.g. "sqlite:/var/lib/x.db" (no password).
    virtual std::string describe() const = 0;
    /// Opens the writer's connection and configures it (durability, timeouts). Throws
    /// Poco::Exception with a clear message when the database is unreachable.
    virtual std::unique_ptr<Poco::Data::Session> connectWriter() = 0;
    /// The pool readers take sessions from.
    virtual std::unique_ptr<Poco::Data::SessionPool> makeReadPool() = 0;
    /// Runs SQL without parameters or results (may be several statements). Throws on error.
    virtual void exec(Poco::Data::Session& session, const std::string& sql) const = 0;
    /// The statement that opens a write transaction.
    virtual const char* beginWrite() const = 0;
    /// Serialises migrations of several processes sharing the database (called right after
    /// beginWrite(), inside the migration transaction).
    virtual void lockForMigration(Poco::Data::Session& session) const = 0;
    /// Appended to a SELECT of one `videos` row to lock it for the rest of the transaction
    /// (empty where the writer is alone anyway).
    virtual const char* rowLock() const = 0;
    /// Portable SQL (`?` placeholders) in this engine's syntax.
    virtual std::string sql(const std::string& portable) const = 0;
    /// This engine's schema, oldest first.
    virtual const std::vector<Migration>& migrations() const = 0;
    /// True when the connection is broken and must be reopened (after a failed transaction).
    virtual bool connectionLost(Poco::Data::Session& session) const = 0;
    /// Whether several nodes may share this database (then the relay drains under a lock).
    virtual bool sharedByNodes() const { return false; }
    /// Takes the session-level lock `name` without waiting; false when another session holds it.
    virtual bool tryAdvisoryLock(Poco::Data::Session&, const std::string&) const { return true; }
};

} // namespace livecomments::server::store
