// SPDX-License-Identifier: MIT
#pragma once
// Wire contract (docs/protocol.md) <-> public value types.

#include "livecomments/comment.h"
#include "livecomments/result.h"
#include "livecomments/subscription.h"
#include "json/json.h"

#include <string_view>
#include <vector>

namespace livecomments::detail {

/// Reads an id that may come as a JSON string or number.
std::optional<std::string> idText(const json::Value* v);
Result<Comment> commentFromJson(const json::Value& v);
Result<Comment> parseComment(std::string_view body);
Result<Video> videoFromJson(const json::Value& v);
Result<Video> parseVideo(std::string_view body);
/// `GET /videos` body: {"videos":[…]}.
Result<std::vector<Video>> parseVideoList(std::string_view body);
Result<HistoryPage> parseHistoryPage(std::string_view body);
Result<Hello> parseHello(std::string_view body);
/// `deleted` event: {"id":"…"}.
Result<CommentId> parseDeleted(std::string_view body);
/// `ended` event: {"video_id":42}.
Result<VideoId> parseEnded(std::string_view body);

} // namespace livecomments::detail
