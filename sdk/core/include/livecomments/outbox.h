// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/comment.h"
#include "livecomments/error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace livecomments {

/// Delivery state of a posted comment.
enum class PostState {
    Pending, ///< stored in the outbox, not yet acknowledged (retried automatically)
    Sent, ///< the server answered 201 (or replayed the first result for the same key)
    Failed, ///< rejected for good (4xx other than 429) or cancelled; will not be retried
};

/// One outbox entry as reported to the post callbacks.
///
/// Threading: a plain value type.
struct OutboxEntry {
    std::string key; ///< the Idempotency-Key (random 128-bit, 32 hex chars); stable across restarts
    VideoId videoId = 0;
    std::string text;
    PostState state = PostState::Pending;
    int attempts = 0; ///< HTTP attempts made so far
    std::optional<Comment> comment; ///< Sent: the stored comment
    std::optional<Error> error; ///< Failed: why; Pending: the last recoverable error, if any
};

/// Stable lower-case name, e.g. "pending".
const char* postStateName(PostState state) noexcept;

} // namespace livecomments
