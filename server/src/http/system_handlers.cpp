// SPDX-License-Identifier: MIT
// Routes that are not about videos: health, metrics, dev tokens, CORS preflight, routing errors.
#include "http/handlers.h"

#include "model/errors.h"
#include "model/json_text.h"
#include "service/live_service.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

namespace livecomments::server::http {

using Poco::Net::HTTPResponse;

void HealthHandler::handle(HTTPServerRequest&, HTTPServerResponse& response)
{
    sendJson(response, HTTPResponse::HTTP_OK, m_service.healthJson());
}

void MetricsHandler::handle(HTTPServerRequest&, HTTPServerResponse& response)
{
    sendBody(response, HTTPResponse::HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
        m_service.renderMetrics());
}

void DevTokenHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    if (!m_service.settings().dev)
        throw notFound("route");
    const auto body = readJsonObject(request);
    Principal principal;
    auto userId = optionalIdText(*body, "user_id");
    if (!userId || userId->empty())
        throw badField("user_id", "is required");
    principal.userId = *userId;
    principal.name = body->has("name") ? requiredString(*body, "name") : "user-" + *userId;
    if (body->has("role") && !parseRole(requiredString(*body, "role"), principal.role))
        throw badField("role", "must be viewer, streamer or moderator");
    if (const auto problem = auth::JwtAuth::mintProblem(principal))
        throw badField(problem->first, problem->second);
    std::int64_t ttl = 24 * 3600;
    if (body->has("ttl")) {
        try {
            ttl = body->getValue<Poco::Int64>("ttl");
        } catch (const Poco::Exception&) {
            throw badField("ttl", "must be an integer number of seconds");
        }
    }
    const std::string token = m_service.auth().mint(principal, ttl);
    sendJson(response, HTTPResponse::HTTP_OK, tokenJson(token));
}

void PreflightHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    // Fetch spec CORS preflight: allow what the API uses; cache the answer for 10 minutes.
    response.set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
    const std::string asked = request.get("Access-Control-Request-Headers", "");
    response.set("Access-Control-Allow-Headers",
        asked.empty() ? "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, If-None-Match"
                      : asked);
    response.set("Access-Control-Max-Age", "600");
    sendNoContent(response);
}

ErrorHandler::ErrorHandler(LiveService& service, std::string route, ApiError error)
    : JsonHandler(service, std::move(route))
    , m_error(std::move(error))
{ }

void TestFailHandler::handle(HTTPServerRequest&, HTTPServerResponse&)
{
    LiveService::failForTest();
}

void ErrorHandler::handle(HTTPServerRequest&, HTTPServerResponse&)
{
    throw m_error;
}

} // namespace livecomments::server::http
