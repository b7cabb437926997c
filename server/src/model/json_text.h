// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livecomments::server {

/// Appends `text` as a JSON string literal (quotes included, RFC 8259 escaping; non-ASCII kept
/// as UTF-8).
void appendJsonString(std::string& out, std::string_view text);
/// `text` as a JSON string literal.
std::string jsonString(std::string_view text);
/// ISO 8601 UTC with milliseconds: 2026-11-23T10:15:30.123Z.
std::string isoTime(std::int64_t unixMs);

/// The comment object of docs/protocol.md (ids as decimal strings), compact JSON.
std::string commentJson(const Comment& comment);
/// The video object of docs/protocol.md with the given viewer count.
std::string videoJson(const Video& video, std::size_t viewers);
/// `{"videos":[…]}` from already encoded video objects.
std::string videoListJson(const std::vector<std::string>& videos);
/// A history page: `{"comments":[…],"next_cursor":"ID"|null}` from encoded comment objects.
std::string commentPageJson(
    const std::vector<std::string>& comments, std::optional<std::uint64_t> nextCursor);
/// `{"error":{"code":…,"message":…}}`.
std::string errorJson(const std::string& code, const std::string& message);
/// The /healthz body: `{"status":"ok"}` (during shutdown JsonHandler answers 503 before).
std::string healthJson();
/// The /healthz body of a cluster node:
/// `{"status":"ok"|"degraded","node_id":N,"bus":"up"|"down"}` (degraded while the bus is down).
std::string clusterHealthJson(bool busUp, unsigned nodeId);
/// `{"token":"…"}` (POST /auth/dev-token).
std::string tokenJson(const std::string& token);

/// Data of the SSE `hello` event.
struct HelloEvent {
    std::string subscriptionId;
    std::uint32_t videoId = 0;
    int heartbeatMs = 0;
    bool resumed = false;
    std::optional<std::uint64_t> lastId; ///< newest stored comment of the video; null when none
};
/// `{"subscription_id":…,"video_id":N,"heartbeat_ms":N,"resumed":B,"last_id":"ID"|null}`.
std::string helloJson(const HelloEvent& hello);
/// `{"id":"ID"}` of a `deleted` event.
std::string deletedJson(std::uint64_t commentId);
/// `{"video_id":N}` of an `ended` event.
std::string endedJson(std::uint32_t videoId);
/// `{"viewers":N}` of a `stats` event.
std::string statsJson(std::size_t viewers);
/// `{"reason":…}` of a `reset` event.
std::string resetJson(std::string_view reason);

/// The SSE frame of a comment: `id:`, `event: comment`, `data:` + blank line.
std::string commentFrame(const Comment& comment);
/// The SSE frame of a comment whose JSON is already encoded.
std::string commentFrame(std::uint64_t id, const std::string& json);
/// An SSE event without id: `event: <name>\ndata: <json>\n\n`.
std::string eventFrame(std::string_view name, std::string_view json);

/// The answer of the region relay's ingest route: `{"received":N,"applied":M}`.
std::string regionIngestJson(std::size_t received, std::size_t applied);

} // namespace livecomments::server
