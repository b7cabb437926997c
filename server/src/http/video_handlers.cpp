// SPDX-License-Identifier: MIT
// Video routes: create, read, end.
#include "http/handlers.h"

#include "model/errors.h"
#include "service/live_service.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

namespace livecomments::server::http {

using Poco::Net::HTTPResponse;

std::uint32_t VideoRouteHandler::videoId() const
{
    return parseVideoId(m_videoIdText, "video_id");
}

void CreateVideoHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const Principal user = requireUser(request);
    const std::string key = idempotencyKey(request);
    const auto body = readJsonObject(request);
    const auto result = m_service.createVideo(user, requiredString(*body, "title"), key);
    if (result.replayed)
        response.set("Idempotent-Replayed", "true");
    // The body is our own video JSON, which starts with {"id":N (RFC 9110 §10.2.2 Location).
    static const std::string kPrefix = "{\"id\":";
    if (result.body.compare(0, kPrefix.size(), kPrefix) == 0) {
        const auto end = result.body.find_first_not_of("0123456789", kPrefix.size());
        response.set(
            "Location", "/videos/" + result.body.substr(kPrefix.size(), end - kPrefix.size()));
    }
    sendJson(response, HTTPResponse::HTTP_CREATED, result.body);
}

void ListVideosHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    readerUser(request);
    // Choices (docs/protocol.md): live videos by default, so a player can pick the newest live
    // one with ?limit=1; at most 100 a page; no cursor (a directory, not an archive).
    std::optional<VideoStatus> status = VideoStatus::Live;
    if (const auto s = queryParam(request, "status")) {
        if (*s == "ended")
            status = VideoStatus::Ended;
        else if (*s == "all")
            status.reset();
        else if (*s != "live")
            throw badField("status", "must be live, ended or all");
    }
    std::size_t limit = 20;
    if (const auto l = queryParam(request, "limit")) {
        const bool digits = !l->empty() && l->size() <= 3
            && l->find_first_not_of("0123456789") == std::string::npos;
        const int n = digits ? std::stoi(*l) : 0;
        if (n < 1 || n > 100)
            throw badField("limit", "must be an integer between 1 and 100");
        limit = static_cast<std::size_t>(n);
    }
    response.set("Cache-Control", "no-cache");
    sendJson(response, HTTPResponse::HTTP_OK, m_service.videosJson(status, limit));
}

void GetVideoHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    readerUser(request);
    const auto id = videoId();
    response.set("Cache-Control", "no-cache");
    sendJson(response, HTTPResponse::HTTP_OK, m_service.videoJson(id));
}

void EndVideoHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const Principal user = requireUser(request);
    const auto id = videoId();
    sendJson(response, HTTPResponse::HTTP_OK, m_service.endVideo(id, user));
}

} // namespace livecomments::server::http
