// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace livecomments::server {

/// Appends `text` as a JSON string literal (quotes included, RFC 8259 escaping; non-ASCII kept
/// as UTF-8).
void appendJsonString(std::string& out, std::string_view text);
/// `text` as a JSON string literal.
std::string jsonString(std::string_view text);
/// ISO 8601 UTC with milliseconds: 2026-11-23T10:15:30.123Z.
std::string isoTime(std::int64_t unixMs);

/// The comment object of DESIGN §1 (ids as decimal strings), compact JSON.
std::string commentJson(const Comment& comment);
/// The video object of DESIGN §1 with the given viewer count.
std::string videoJson(const Video& video, std::size_t viewers);
/// `{"error":{"code":…,"message":…}}`.
std::string errorJson(const std::string& code, const std::string& message);

/// The SSE frame of a comment: `id:`, `event: comment`, `data:` + blank line.
std::string commentFrame(const Comment& comment);
/// The SSE frame of a comment whose JSON is already encoded.
std::string commentFrame(std::uint64_t id, const std::string& json);
/// An SSE event without id: `event: <name>\ndata: <json>\n\n`.
std::string eventFrame(std::string_view name, std::string_view json);

} // namespace livecomments::server
