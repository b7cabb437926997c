// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace livecomments {

/// A comment id: 64-bit snowflake, time-ordered (ordering of comments = ordering of ids). On the
/// wire it is a decimal string; 0 is never a valid id.
using CommentId = std::uint64_t;
/// A video id: positive int32.
using VideoId = std::int32_t;

/// Parses a decimal comment id ("73839302734299136"); std::nullopt unless all digits, non-zero
/// and within 64 bits.
std::optional<CommentId> parseCommentId(const std::string& text) noexcept;

/// A user as shown next to a comment.
struct User {
    std::string id; ///< int64 sent as a decimal string
    std::string name;
    /// The author's role in the video's chat: "viewer", "streamer" or "moderator". A server
    /// that predates roles sends none: "viewer". Any other value (unknown role, wrong type) is
    /// read as "viewer" too, so an app can switch on these three and nothing else.
    std::string role = "viewer";
    bool operator==(const User& o) const { return id == o.id && name == o.name && role == o.role; }
};

/// One comment (docs/protocol.md "Objects").
///
/// Threading: a plain value type.
struct Comment {
    CommentId id = 0;
    VideoId videoId = 0;
    User user;
    std::string text; ///< UTF-8
    std::string createdAt; ///< RFC 3339 UTC, e.g. "2026-11-23T10:15:30.123Z"
    /// Timeline only (TimelineOptions::pendingPosts): an own post the server has not stored yet.
    /// id is 0, user and createdAt are empty, localId is the outbox key. Replaced in place by the
    /// stored comment (TimelineChange::Kind::Updated) when it is acknowledged.
    bool pending = false;
    /// Timeline only: an own post rejected for good (or cancelled); it stays, with localId, until
    /// the timeline closes, so the app can show why (OutboxEntry::error through the post
    /// callback).
    bool failed = false;
    /// The outbox key (OutboxEntry::key) of a pending or failed own post; empty otherwise.
    std::string localId;
    bool operator==(const Comment& o) const
    {
        return id == o.id && videoId == o.videoId && user == o.user && text == o.text
            && createdAt == o.createdAt && pending == o.pending && failed == o.failed
            && localId == o.localId;
    }
};

/// A video (docs/protocol.md "Objects").
struct Video {
    VideoId id = 0;
    std::string title;
    User streamer;
    std::string status; ///< "live" or "ended"
    std::int64_t viewers = 0; ///< approximate
    std::int64_t commentCount = 0;
    std::string createdAt;
};

/// Which videos Client::listVideos() asks for (`GET /videos?status=…&limit=…`).
struct VideoQuery {
    std::string status = "live"; ///< "live", "ended" or "all"
    int limit = 20; ///< 1..100
};

/// One page of history as returned by GET /videos/{id}/comments.
struct HistoryPage {
    /// Newest first for `before=` and newest-page queries, oldest first for `after=` (wire order).
    std::vector<Comment> comments;
    std::optional<std::string> nextCursor; ///< std::nullopt = no more pages in that direction
    bool fromCache = false; ///< served from the local cache without the network
};

/// Which slice of history to fetch. At most one of before/after may be set; neither = newest page.
struct HistoryQuery {
    std::optional<std::string> before; ///< cursor: comments older than this id, newest first
    std::optional<std::string> after; ///< cursor: comments newer than this id, oldest first
    int limit = 50; ///< 1..200
};

} // namespace livecomments
