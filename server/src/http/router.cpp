// SPDX-License-Identifier: MIT
#include "http/router.h"

#include "http/handlers.h"
#include "model/errors.h"
#include "service/live_service.h"

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/URI.h>

#include <functional>
#include <vector>

namespace livecomments::server::http {

namespace {

using Poco::Net::HTTPRequestHandler;
using Make = std::function<HTTPRequestHandler*()>;

struct MethodRoute {
    const char* method;
    Make make;
};

std::vector<std::string> splitPath(const std::string& path)
{
    std::vector<std::string> parts;
    std::string current;
    for (const char c : path) {
        if (c == '/') {
            if (!current.empty())
                parts.push_back(std::move(current));
            current.clear();
        } else {
            current.push_back(c);
        }
    }
    if (!current.empty())
        parts.push_back(std::move(current));
    return parts;
}

} // namespace

Router::Router(LiveService& service)
    : m_service(service)
{ }

HTTPRequestHandler* Router::createRequestHandler(const Poco::Net::HTTPServerRequest& request)
{
    LiveService& svc = m_service;
    std::string path;
    try {
        path = Poco::URI(request.getURI()).getPath();
    } catch (const Poco::Exception&) {
        return new ErrorHandler(svc, "invalid",
            ApiError(ErrorKind::BadRequest, "bad_request", "malformed request URI"));
    }
    const auto p = splitPath(path);
    const std::string& method = request.getMethod();
    if (method == Poco::Net::HTTPRequest::HTTP_OPTIONS)
        return new PreflightHandler(svc, "preflight");

    std::string route;
    std::vector<MethodRoute> routes;
    const auto n = p.size();
    if (n == 1 && p[0] == "healthz") {
        route = "/healthz";
        routes = { { "GET", [&] { return new HealthHandler(svc, route); } } };
    } else if (n == 1 && p[0] == "metrics") {
        route = "/metrics";
        routes = { { "GET", [&] { return new MetricsHandler(svc, route); } } };
    } else if (n == 2 && p[0] == "test" && p[1] == "fail" && svc.settings().testHooks) {
        route = "/test/fail";
        routes = { { "GET", [&] { return new TestFailHandler(svc, route); } } };
    } else if (n == 3 && p[0] == "internal" && p[1] == "region" && p[2] == "ingest"
        && svc.regional()) {
        route = "/internal/region/ingest";
        routes = { { "POST", [&] { return new RegionIngestHandler(svc, route); } } };
    } else if (n == 2 && p[0] == "auth" && p[1] == "dev-token") {
        route = "/auth/dev-token";
        routes = { { "POST", [&] { return new DevTokenHandler(svc, route); } } };
    } else if (n == 1 && p[0] == "videos") {
        route = "/videos";
        routes = { { "GET", [&] { return new ListVideosHandler(svc, route); } },
            { "POST", [&] { return new CreateVideoHandler(svc, route); } } };
    } else if (n == 2 && p[0] == "videos") {
        route = "/videos/{id}";
        routes = { { "GET", [&] { return new GetVideoHandler(svc, route, p[1]); } } };
    } else if (n == 3 && p[0] == "videos" && p[2] == "end") {
        route = "/videos/{id}/end";
        routes = { { "POST", [&] { return new EndVideoHandler(svc, route, p[1]); } } };
    } else if (n == 3 && p[0] == "videos" && (p[2] == "subscriptions" || p[2] == "subscribe")) {
        route = "/videos/{id}/" + p[2];
        routes = { { "GET", [&] { return new StreamHandler(svc, route, p[1]); } },
            { "PUT", [&] { return new StreamHandler(svc, route, p[1]); } } };
    } else if (n == 4 && p[0] == "videos" && (p[2] == "subscriptions" || p[2] == "unsubscribe")) {
        route = "/videos/{id}/" + p[2] + "/{sid}";
        routes = { { "DELETE", [&] { return new CloseStreamHandler(svc, route, p[1], p[3]); } } };
    } else if (n == 3 && p[0] == "videos" && p[2] == "comments") {
        route = "/videos/{id}/comments";
        routes = { { "GET", [&] { return new ListCommentsHandler(svc, route, p[1], false); } },
            { "POST",
                [&] { return new PostCommentHandler(svc, route, p[1], CommentBody::Design); } },
            { "PUT",
                [&] { return new PostCommentHandler(svc, route, p[1], CommentBody::Alias); } } };
    } else if (n == 4 && p[0] == "videos" && p[2] == "comments") {
        route = "/videos/{id}/comments/{cid}";
        routes = { { "DELETE", [&] { return new DeleteCommentHandler(svc, route, p[1], p[3]); } } };
    } else if (n == 2 && p[0] == "comment" && p[1] == "create") {
        route = "/comment/create";
        routes = { { "POST",
            [&] { return new PostCommentHandler(svc, route, {}, CommentBody::Create); } } };
    } else if (n == 2 && p[0] == "comments") {
        route = "/comments/{id}";
        routes = { { "GET", [&] { return new ListCommentsHandler(svc, route, p[1], true); } } };
    } else {
        return new ErrorHandler(svc, "unknown",
            notFound("route")); // never echo the path: it may carry a token or invalid UTF-8
    }

    std::string allow;
    for (const auto& r : routes) {
        // HEAD is served like GET (Poco sends no body), except on the stream: a HEAD must not
        // open a subscription.
        const bool stream = n == 3 && (p[2] == "subscriptions" || p[2] == "subscribe");
        if (method == r.method || (method == "HEAD" && !stream && std::string(r.method) == "GET"))
            return r.make();
        allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    }
    allow += ", OPTIONS";
    return new ErrorHandler(svc, route,
        ApiError(ErrorKind::MethodNotAllowed, "method_not_allowed",
            method + " is not allowed on " + route)
            .withAllow(allow));
}

} // namespace livecomments::server::http
