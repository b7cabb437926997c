// SPDX-License-Identifier: MIT
#pragma once

#include "store/comment_store.h"

#include <memory>
#include <stdexcept>
#include <string>

namespace livecomments::server::ids {
class SnowflakeGenerator;
}

namespace livecomments::server::store {

/// A malformed `--store` URL; what() says what is wrong and what is expected.
class StoreUrlError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// A parsed `--store` URL.
struct StoreUrl {
    enum class Kind { Sqlite, Postgres };
    Kind kind = Kind::Sqlite;
    std::string path; ///< Sqlite: the file
    std::string host; ///< Postgres: host name or address (IPv6 without brackets)
    int port = 5432;
    std::string user;
    std::string password;
    std::string database;
};

/**
 * Parses `sqlite:PATH` or `postgresql://user[:password]@host[:port]/db` (also `postgres://`;
 * port 5432 by default; %XX escapes in user, password and db; `[::1]` for IPv6).
 * Throws StoreUrlError naming the problem for anything else.
 */
StoreUrl parseStoreUrl(const std::string& url);

/**
 * The CommentStore for `url` (parseStoreUrl()), not yet open: set onCommitted/onCommitTimed,
 * then call open() — which connects (PostgreSQL: options.connectAttempts attempts within
 * options.connectDeadlineMs, then a Poco::Exception naming the server) and migrates.
 * `options.path` is ignored (the URL says where). Throws StoreUrlError.
 */
std::unique_ptr<CommentStore> makeCommentStore(
    const std::string& url, const StoreOptions& options, ids::SnowflakeGenerator& ids);

} // namespace livecomments::server::store
