// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace livecomments::server {

/// The three comment body shapes of docs/protocol.md.
enum class CommentShape {
    Design, ///< POST /videos/{id}/comments {"text"}
    Alias, ///< PUT /videos/{id}/comments {"user_id","comment"} ("text" accepted too)
    Create, ///< POST /comment/create {"liveVideoId","message"}
};

/// A decoded comment post body (text not yet normalised: see normaliseText()).
struct CommentRequest {
    std::uint32_t videoId = 0; ///< from `liveVideoId` (Create shape only), else 0
    std::string text; ///< the raw text field
    std::string field; ///< the field the text came from: "text", "comment" or "message"
    std::optional<std::string> userId; ///< the optional `user_id`, as decimal text
};

/// Largest nesting depth accepted in a request body (ours are flat objects).
inline constexpr int kMaxBodyDepth = 16;

/**
 * Decodes a comment post body of `shape`. Strict JSON (RFC 8259, UTF-8, nesting ≤ kMaxBodyDepth);
 * ids must be JSON integers in range or decimal strings: booleans, fractions, exponents and
 * out-of-range numbers are refused. Throws ApiError 400 (`bad_json` for unparsable bodies,
 * `invalid_field` naming the field otherwise).
 */
CommentRequest decodeCommentBody(std::string_view body, CommentShape shape);

/// Decodes `{"title":…}` (POST /videos) and returns the raw title; 400 like decodeCommentBody().
std::string decodeVideoBody(std::string_view body);

/// Parses a positive int32 given as decimal text (path segment or JSON string); 400 naming
/// `field` otherwise.
std::uint32_t parseVideoId(std::string_view text, const std::string& field);
/// Parses a decimal id in 1..INT64_MAX (comment ids, cursors, Last-Event-ID); 400 naming `field`.
std::uint64_t parseId64(std::string_view text, const std::string& field);

} // namespace livecomments::server
