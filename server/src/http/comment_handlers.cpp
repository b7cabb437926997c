// SPDX-License-Identifier: MIT
// Comment routes: post (three body shapes), history pages, delete.
#include "http/handlers.h"

#include "model/errors.h"
#include "service/live_service.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/NumberFormatter.h>
#include <Poco/StringTokenizer.h>

namespace livecomments::server::http {

using Poco::Net::HTTPResponse;

namespace {

constexpr std::size_t kDefaultLimit = 50;
constexpr std::size_t kMaxLimit = 200;

std::size_t parseLimit(const std::optional<std::string>& text)
{
    if (!text)
        return kDefaultLimit;
    if (text->empty() || text->size() > 9
        || text->find_first_not_of("0123456789") != std::string::npos)
        throw badField("limit", "must be an integer between 1 and 200");
    const auto n = std::stoul(*text);
    if (n == 0)
        throw badField("limit", "must be an integer between 1 and 200");
    return std::min<std::size_t>(n, kMaxLimit); // above the maximum: clamped, not refused
}

/// Strong validator of a representation: FNV-1a 64 of the exact body bytes (RFC 9110 §8.8.3).
std::string etagOf(const std::string& body)
{
    std::uint64_t h = 1469598103934665603ULL;
    for (const unsigned char c : body) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return "\"" + Poco::NumberFormatter::formatHex(h, 16) + "\"";
}

/// RFC 9110 §13.1.2: If-None-Match matches with weak comparison; "*" matches any.
bool noneMatch(const std::string& header, const std::string& etag)
{
    if (header.empty())
        return false;
    const Poco::StringTokenizer tags(
        header, ",", Poco::StringTokenizer::TOK_TRIM | Poco::StringTokenizer::TOK_IGNORE_EMPTY);
    for (const auto& tag : tags) {
        if (tag == "*")
            return true;
        const std::string opaque = tag.rfind("W/", 0) == 0 ? tag.substr(2) : tag;
        if (opaque == etag)
            return true;
    }
    return false;
}

/// The `reason` label of livecomments_comments_rejected_total for an error.
const char* rejectionReason(ErrorKind kind)
{
    switch (kind) {
    case ErrorKind::BadRequest:
        return "invalid";
    case ErrorKind::Unauthorized:
        return "unauthorized";
    case ErrorKind::Forbidden:
        return "forbidden";
    case ErrorKind::NotFound:
        return "unknown_video";
    case ErrorKind::Conflict:
        return "video_ended";
    case ErrorKind::PayloadTooLarge:
        return "too_large";
    case ErrorKind::UnsupportedMediaType:
        return "unsupported_media_type";
    case ErrorKind::TooManyRequests:
        return "rate_limited";
    case ErrorKind::Unavailable:
        return "unavailable";
    case ErrorKind::MethodNotAllowed:
    case ErrorKind::Internal:
        break;
    }
    return "other";
}

} // namespace

void PostCommentHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    try {
        post(request, response);
    } catch (const ApiError& e) {
        m_service.metrics().commentRejected(rejectionReason(e.kind()));
        throw;
    }
}

void PostCommentHandler::post(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const Principal user = requireUser(request);
    const std::string key = idempotencyKey(request);
    const auto body = readJsonObject(request);

    std::uint32_t video = 0;
    std::string field = "text";
    if (m_shape == CommentBody::Create) {
        const auto id = optionalIdText(*body, "liveVideoId");
        if (!id)
            throw badField("liveVideoId", "is required");
        video = parseVideoId(*id, "liveVideoId");
        field = "message";
    } else {
        video = videoId();
        if (m_shape == CommentBody::Alias && !body->has("text"))
            field = "comment";
    }
    if (const auto claimed = optionalIdText(*body, "user_id"); claimed && *claimed != user.userId)
        throw forbidden("user_id does not match the token");
    const std::string text = requiredString(*body, field);
    const auto result = m_service.postComment(video, user, text, key, field);
    if (result.replayed)
        response.set("Idempotent-Replayed", "true");
    sendJson(response, HTTPResponse::HTTP_CREATED, result.body);
}

void ListCommentsHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    readerUser(request);
    const auto video = videoId();
    store::PageQuery query;
    query.limit = parseLimit(queryParam(request, "limit"));
    const auto before = queryParam(request, m_alias ? "cursor" : "before");
    const auto after = m_alias ? std::nullopt : queryParam(request, "after");
    if (before && after)
        throw badField("after", "before and after are mutually exclusive");
    if (before && !before->empty()) {
        query.direction = store::PageQuery::Direction::Before;
        query.cursor = parseId64(*before, m_alias ? "cursor" : "before");
    } else if (after && !after->empty()) {
        query.direction = store::PageQuery::Direction::After;
        query.cursor = parseId64(*after, "after");
    }
    const HistoryPage page = m_service.history(video, query);

    const std::string body = m_service.historyJson(page);

    const std::string etag = etagOf(body);
    response.set("ETag", etag);
    response.set("Cache-Control",
        page.immutable && !m_service.settings().readsNeedToken
            ? "public, max-age=" + std::to_string(m_service.settings().historyMaxAgeSeconds)
            : std::string("no-cache"));
    if (noneMatch(request.get("If-None-Match", ""), etag)) {
        sendBody(response, HTTPResponse::HTTP_NOT_MODIFIED, {}, {});
        return;
    }
    sendJson(response, HTTPResponse::HTTP_OK, body);
}

void DeleteCommentHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const Principal user = requireUser(request);
    const auto video = videoId();
    const auto commentId = parseId64(m_secondId, "comment_id");
    m_service.deleteComment(video, commentId, user);
    sendNoContent(response);
}

} // namespace livecomments::server::http
