// SPDX-License-Identifier: MIT
// Video routes: create, read, end.
#include "http/handlers.h"

#include "app/live_service.h"
#include "model/errors.h"

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
