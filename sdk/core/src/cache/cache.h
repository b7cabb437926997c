// SPDX-License-Identifier: MIT
#pragma once
// The local SQLite cache: comments by video, "segments" (id ranges known to be complete),
// least-recently-viewed eviction, and the persistent outbox.

#include "livecomments/comment.h"
#include "livecomments/error.h"
#include "livecomments/outbox.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace livecomments::detail {

/// A cached slice of history.
struct CachedSlice {
    std::vector<Comment> comments; ///< newest first
    bool reachesBeginning = false; ///< no older comment exists
};

/// Whose an outbox entry is: it is only ever sent to that server with that user's token.
struct OutboxOwner {
    std::string server; ///< normalized base URL, e.g. "http://127.0.0.1:8080"
    std::string user; ///< the token's user id (JWT `sub`), "" = anonymous
};

/// Threading: owned and used by the Client's I/O thread only.
class Cache {
public:
    static constexpr int kSchemaVersion = 3; ///< 3: comments.user_role
    static constexpr std::int32_t kApplicationId = 0x4C434D54; // "LCMT"

    /// Opens @p path; a corrupt, foreign or outdated file is deleted and recreated (noted in
    /// @p note). Returns nullptr (and an error in @p error) only when nothing can be created.
    static std::unique_ptr<Cache> open(
        const std::string& path, std::int64_t maxBytes, std::string* note, Error* error);
    ~Cache();
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;

    /// Stores comments (idempotent by id).
    bool storeComments(VideoId video, const std::vector<Comment>& comments);
    /// Records that every comment with lo <= id <= hi is stored (merging with neighbours).
    bool addSegment(VideoId video, CommentId lo, CommentId hi);
    void removeComment(VideoId video, CommentId id);
    /// The ETag the server gave for history query @p query ("before=ID&limit=N") of @p video, or
    /// "" (for If-None-Match revalidation of what the cache shows).
    std::string pageEtag(VideoId video, const std::string& query);
    /// Stores (or, when @p etag is empty, forgets) that ETag.
    void setPageEtag(VideoId video, const std::string& query, const std::string& etag);
    /// The newest @p limit comments of the newest complete segment, if any.
    std::optional<CachedSlice> newest(VideoId video, int limit);
    /// Up to @p limit comments older than @p before, served only when a segment covers
    /// before - 1 (otherwise std::nullopt: the network must be asked).
    std::optional<CachedSlice> olderThan(VideoId video, CommentId before, int limit);
    /// Marks @p video as viewed now (for eviction order) and protects it while open.
    void touch(VideoId video);
    void setOpen(VideoId video, bool open);
    /// Evicts least-recently-viewed, not-open videos until the file's used size <= maxBytes.
    void enforceLimit();
    std::int64_t usedBytes();
    std::vector<VideoId> videos(); ///< by last view, oldest first

    /// Binds the cached pages to @p server: a file last used with another server loses its
    /// comments, segments and videos (@p cleared set), never its outbox.
    bool bindServer(const std::string& server, bool* cleared = nullptr);

    bool outboxAdd(const OutboxEntry& e, const OutboxOwner& owner);
    bool outboxRemove(const std::string& key);
    bool outboxSetAttempts(const std::string& key, int attempts);
    /// The entries of @p owner only, oldest first.
    std::vector<OutboxEntry> outboxLoad(const OutboxOwner& owner);

    const std::string& path() const { return m_path; }

private:
    Cache(std::string path, std::int64_t maxBytes);
    bool openAndCheck(std::string* why);
    bool createSchema();
    bool migrateFrom2(); ///< schema 2 -> 3: adds comments.user_role
    void closeDb();
    bool exec(const char* sql);
    /// Up to @p limit comments with lo <= id <= hi, newest first, within one segment.
    std::optional<CachedSlice> slice(VideoId video, std::int64_t lo, std::int64_t hi, int limit);
    /// Called after a failed statement: recreates the file when SQLite reports corruption.
    void onSqliteError(int rc);

    std::string m_path;
    std::int64_t m_maxBytes;
    sqlite3* m_db = nullptr;
    std::map<VideoId, int> m_open; ///< open count per video (several timelines may share one)
};

} // namespace livecomments::detail
