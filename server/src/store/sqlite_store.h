// SPDX-License-Identifier: MIT
#pragma once

#include "store/store_backend.h"

#include <cstddef>
#include <string>

namespace livecomments::server::store {

/**
 * SQLite behind a CommentStore (`--store=sqlite:PATH`): one file in WAL mode, so readers never
 * block the single writer; `synchronous=FULL` fsyncs the WAL at every commit.
 *
 * Threading: see StoreBackend.
 */
class SqliteBackend : public StoreBackend {
public:
    /// `path` is the database file (created when missing).
    SqliteBackend(std::string path, bool synchronousFull, std::size_t readPoolSize);

    std::string describe() const override;
    std::unique_ptr<Poco::Data::Session> connectWriter() override;
    std::unique_ptr<Poco::Data::SessionPool> makeReadPool() override;
    void exec(Poco::Data::Session& session, const std::string& sql) const override;
    const char* beginWrite() const override;
    void lockForMigration(Poco::Data::Session& session) const override;
    const char* rowLock() const override;
    std::string sql(const std::string& portable) const override;
    const std::vector<Migration>& migrations() const override;
    bool connectionLost(Poco::Data::Session& session) const override;

private:
    std::string m_path;
    bool m_synchronousFull;
    std::size_t m_readPoolSize;
};

} // namespace livecomments::server::store
