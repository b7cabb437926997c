// SPDX-License-Identifier: MIT
#include "client/wire.h"

#include <cstdlib>
#include <limits>

namespace livecomments::detail {

namespace {
Error protocolError(std::string what)
{
    return Error { ErrorCode::Protocol, std::move(what), 0, -1 };
}

Result<json::Value> parseObject(std::string_view body, const char* what)
{
    std::string err;
    auto v = json::parse(body, &err);
    if (!v)
        return protocolError(std::string(what) + ": invalid JSON (" + err + ")");
    if (!v->isObject())
        return protocolError(std::string(what) + ": not a JSON object");
    return std::move(*v);
}

std::string stringOr(const json::Value* v, std::string fallback = {})
{
    return v && v->isString() ? v->text() : fallback;
}

User userFrom(const json::Value* v)
{
    User u;
    if (v && v->isObject()) {
        u.id = idText(v->find("id")).value_or(std::string());
        u.name = stringOr(v->find("name"));
        // Only the roles docs/protocol.md defines: a badge is drawn from this value, so a new
        // or hostile one (wrong type, markup, megabytes) must not reach the UI as given.
        const std::string role = stringOr(v->find("role"));
        if (role == "streamer" || role == "moderator")
            u.role = role;
    }
    return u;
}
} // namespace

std::optional<std::string> idText(const json::Value* v)
{
    if (!v)
        return std::nullopt;
    if (v->isString() || (v->isNumber() && v->asInt64()))
        return v->text();
    return std::nullopt;
}

Result<Comment> commentFromJson(const json::Value& v)
{
    if (!v.isObject())
        return protocolError("comment: not an object");
    Comment c;
    const auto id = idText(v.find("id"));
    const auto parsed = id ? parseCommentId(*id) : std::nullopt;
    if (!parsed)
        return protocolError("comment: missing or invalid id");
    c.id = *parsed;
    if (const auto* vid = v.find("video_id")) {
        if (const auto t = idText(vid))
            c.videoId = static_cast<VideoId>(std::atoll(t->c_str()));
    }
    c.user = userFrom(v.find("user"));
    const auto* text = v.find("text");
    if (!text || !text->isString())
        return protocolError("comment: missing text");
    c.text = text->text();
    c.createdAt = stringOr(v.find("created_at"));
    return c;
}

Result<Comment> parseComment(std::string_view body)
{
    auto v = parseObject(body, "comment");
    if (!v)
        return v.error();
    return commentFromJson(*v);
}

Result<Video> parseVideo(std::string_view body)
{
    auto v = parseObject(body, "video");
    if (!v)
        return v.error();
    return videoFromJson(*v);
}

Result<std::vector<Video>> parseVideoList(std::string_view body)
{
    auto v = parseObject(body, "video list");
    if (!v)
        return v.error();
    const auto* list = v->find("videos");
    if (!list || !list->isArray())
        return protocolError("video list: missing videos array");
    std::vector<Video> out;
    for (const auto& item : list->items()) {
        auto video = videoFromJson(item);
        if (!video)
            return video.error();
        out.push_back(std::move(*video));
    }
    return out;
}

Result<Video> videoFromJson(const json::Value& value)
{
    const json::Value* v = &value;
    if (!v->isObject())
        return protocolError("video: not an object");
    Video out;
    const auto* id = v->find("id");
    const auto idt = idText(id);
    if (!idt)
        return protocolError("video: missing id");
    out.id = static_cast<VideoId>(std::atoll(idt->c_str()));
    out.title = stringOr(v->find("title"));
    out.streamer = userFrom(v->find("streamer"));
    out.status = stringOr(v->find("status"));
    if (const auto* n = v->find("viewers"))
        out.viewers = n->asInt64().value_or(0);
    if (const auto* n = v->find("comment_count"))
        out.commentCount = n->asInt64().value_or(0);
    out.createdAt = stringOr(v->find("created_at"));
    return out;
}

Result<HistoryPage> parseHistoryPage(std::string_view body)
{
    auto v = parseObject(body, "history page");
    if (!v)
        return v.error();
    const auto* list = v->find("comments");
    if (!list || !list->isArray())
        return protocolError("history page: missing comments array");
    HistoryPage page;
    page.comments.reserve(list->items().size());
    for (const auto& item : list->items()) {
        auto c = commentFromJson(item);
        if (!c)
            return c.error();
        page.comments.push_back(std::move(*c));
    }
    const auto* next = v->find("next_cursor");
    if (next && !next->isNull()) {
        auto t = idText(next);
        if (!t || t->empty())
            return protocolError("history page: bad next_cursor");
        page.nextCursor = *t;
    }
    return page;
}

Result<Hello> parseHello(std::string_view body)
{
    auto v = parseObject(body, "hello");
    if (!v)
        return v.error();
    Hello h;
    h.subscriptionId = idText(v->find("subscription_id")).value_or(std::string());
    if (const auto* n = v->find("video_id"))
        h.videoId = static_cast<VideoId>(std::atoll(idText(n).value_or("0").c_str()));
    if (const auto* n = v->find("heartbeat_ms"))
        h.heartbeatMs = n->asInt64().value_or(0);
    if (const auto* b = v->find("resumed"))
        h.resumed = b->isBool() && b->asBool();
    // null (no comment yet), absent (older server) or malformed: 0 = "no id".
    if (const auto* last = v->find("last_id")) {
        h.lastIdKnown = true;
        if (const auto t = idText(last))
            h.lastId = parseCommentId(*t).value_or(0);
    }
    return h;
}

Result<CommentId> parseDeleted(std::string_view body)
{
    auto v = parseObject(body, "deleted");
    if (!v)
        return v.error();
    const auto t = idText(v->find("id"));
    const auto id = t ? parseCommentId(*t) : std::nullopt;
    if (!id)
        return protocolError("deleted: bad id");
    return *id;
}

Result<VideoId> parseEnded(std::string_view body)
{
    auto v = parseObject(body, "ended");
    if (!v)
        return v.error();
    const auto* n = v->find("video_id");
    const auto id = n ? n->asInt64() : std::nullopt;
    if (!id || *id <= 0 || *id > std::numeric_limits<VideoId>::max())
        return protocolError("ended: bad video_id");
    return static_cast<VideoId>(*id);
}

} // namespace livecomments::detail
