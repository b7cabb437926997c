// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace livecomments::server {

/// Maximum comment length in Unicode code points (after trimming).
inline constexpr std::size_t kMaxCommentCodePoints = 500;
/// Maximum video title length in code points.
inline constexpr std::size_t kMaxTitleCodePoints = 200;

/// Number of code points if `text` is valid UTF-8 (shortest form, no surrogates, ≤ U+10FFFF),
/// otherwise -1.
long utf8CodePoints(std::string_view text);

/**
 * Validates and normalises user text (comment bodies, titles): CRLF/CR become LF, leading and
 * trailing ASCII whitespace is trimmed, then the result must be valid UTF-8, 1..maxCodePoints code
 * points, with no control character (C0, DEL, C1) other than newline.
 * Throws ApiError 400 naming `field` otherwise.
 */
std::string normaliseText(std::string_view text, const std::string& field,
    std::size_t maxCodePoints, bool allowNewline = true);

} // namespace livecomments::server
