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

/// Bidirectional formatting characters: embeddings/overrides U+202A–202E, isolates U+2066–2069,
/// marks U+200E, U+200F and U+061C. They reorder what follows them on screen ("Trojan Source").
bool isBidiControl(char32_t cp);
/// Invisible characters with no place in a comment: U+200B zero width space, U+2060–2064 (word
/// joiner, invisible operators), U+FEFF (BOM), U+FFF9–FFFB (interlinear annotation). Not ZWNJ /
/// ZWJ (U+200C/200D: needed by Persian, Indic scripts and emoji sequences).
bool isInvisibleFormat(char32_t cp);
/// C0 (U+0000–001F), DEL and C1 (U+0080–009F).
bool isControl(char32_t cp);

/**
 * Validates and normalises user text (comment bodies, titles): CRLF, lone CR and the Unicode
 * line/paragraph separators U+2028/U+2029 become LF, leading and trailing ASCII whitespace is
 * trimmed, then the result must be valid UTF-8, 1..maxCodePoints code points, with no control
 * character (C0, DEL, C1) other than newline, no bidi control (isBidiControl()) and no invisible
 * format character (isInvisibleFormat()). Refused, not stripped: silently removing characters
 * would change what the author wrote. Throws ApiError 400 naming `field` and the code point.
 */
std::string normaliseText(std::string_view text, const std::string& field,
    std::size_t maxCodePoints, bool allowNewline = true);

} // namespace livecomments::server
