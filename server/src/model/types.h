// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>

namespace livecomments::server {

/// Roles carried in the JWT `role` claim.
enum class Role { Viewer, Streamer, Moderator };

/// "viewer" | "streamer" | "moderator".
const char* roleName(Role role);
/// Parses a role name; false for anything else.
bool parseRole(const std::string& text, Role& role);

/// An authenticated caller (from a verified JWT).
struct Principal {
    std::string userId; ///< decimal int64 as text (JWT `sub`)
    std::string name;
    Role role = Role::Viewer;
};

/// A stored comment (docs/protocol.md "Objects").
struct Comment {
    std::uint64_t id = 0;
    std::uint32_t videoId = 0;
    std::string userId;
    std::string userName;
    /// The author's role when posting (from the token): stored with the comment and sent in
    /// `user.role`; hot-stream shaping never skips a moderator's comment (docs/fanout.md).
    Role userRole = Role::Viewer;
    std::string text;
    std::int64_t createdAtMs = 0; ///< Unix ms
};

enum class VideoStatus { Live, Ended };

/// A stored video (docs/protocol.md "Objects"); `viewers` is filled in by the service.
struct Video {
    std::uint32_t id = 0;
    std::string title;
    std::string streamerId;
    std::string streamerName;
    VideoStatus status = VideoStatus::Live;
    std::int64_t commentCount = 0;
    std::int64_t createdAtMs = 0;
    std::int64_t endedAtMs = 0; ///< 0 while live
    /// The newest comment id ever committed to the video, deleted or not: the head of its comment
    /// chain (docs/protocol.md "Order across nodes"); 0 before the first comment.
    std::uint64_t lastCommentId = 0;
};

} // namespace livecomments::server
