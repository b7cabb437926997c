// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <Poco/JSON/Object.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPResponse.h>

#include <cstdint>
#include <optional>
#include <string>

namespace Poco::Net {
class HTTPServerRequest;
class HTTPServerResponse;
} // namespace Poco::Net

namespace livecomments::server {
class LiveService;
} // namespace livecomments::server

namespace livecomments::server::http {

using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

/// Sets the CORS response headers (Access-Control-Allow-Origin echoing Origin, or `*`).
void applyCors(const HTTPServerRequest& request, HTTPServerResponse& response);
/// The CORS header lines for a raw response head (SSE), each ending in CRLF.
std::string corsHeaderLines(const HTTPServerRequest& request);

/// Parses a positive int32 (path segment or JSON string); throws 400 naming `field`.
std::uint32_t parseVideoId(const std::string& text, const std::string& field);
/// Parses a decimal uint64 (> 0); throws 400 naming `field`.
std::uint64_t parseId64(const std::string& text, const std::string& field);
/// A query parameter of the request URI, or nullopt.
std::optional<std::string> queryParam(const HTTPServerRequest& request, const std::string& name);

/// Field readers for JSON bodies; each throws a 400 that names the field.
std::string requiredString(const Poco::JSON::Object& body, const std::string& field);
/// An id given as a JSON string or number, as its decimal text.
std::optional<std::string> optionalIdText(const Poco::JSON::Object& body, const std::string& field);

/**
 * Base of every JSON route handler (one subclass per route). handleRequest() sets CORS headers,
 * refuses work with 503 while the server shuts down, calls handle(), and is the ONLY place where
 * exceptions become HTTP: ApiError → its status and `{"error":{"code","message"}}` (plus Allow /
 * Retry-After); anything else → 500, logged at error level with its message. It also records the
 * request latency under the route name and writes one access-log line (method, route template,
 * status, duration, bytes; never the raw path or query).
 *
 * Threading: Poco creates one handler object per request and runs it on an HTTP worker thread.
 */
class JsonHandler : public Poco::Net::HTTPRequestHandler {
public:
    JsonHandler(LiveService& service, std::string route);
    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) final;

protected:
    /// The route's work. Throw ApiError for every failure.
    virtual void handle(HTTPServerRequest& request, HTTPServerResponse& response) = 0;

    /// The verified caller from `Authorization: Bearer` (and `?access_token=` when
    /// allowQueryToken); 401 when absent or invalid.
    Principal requireUser(const HTTPServerRequest& request, bool allowQueryToken = false) const;
    /// Like requireUser but nullopt when no token was sent (an invalid token is still 401).
    std::optional<Principal> optionalUser(
        const HTTPServerRequest& request, bool allowQueryToken = false) const;
    /// For read routes: requireUser when `--reads=token`, optionalUser otherwise.
    std::optional<Principal> readerUser(
        const HTTPServerRequest& request, bool allowQueryToken = false) const;
    /// Reads the body as a JSON object: 413 above --max-body, 415 for a non-JSON Content-Type,
    /// 400 for bad JSON or a non-object.
    Poco::JSON::Object::Ptr readJsonObject(HTTPServerRequest& request) const;
    /// The Idempotency-Key header (empty when absent); 400 when longer than 200 bytes.
    static std::string idempotencyKey(const HTTPServerRequest& request);

    /// Every response goes through these: they first consume what is left of the request body,
    /// so the next request on a keep-alive connection starts at a request line (else they turn
    /// keep-alive off).
    void sendJson(HTTPServerResponse& response, Poco::Net::HTTPResponse::HTTPStatus status,
        const std::string& body);
    void sendNoContent(HTTPServerResponse& response);
    /// Sends `status` with `body` of `contentType` (after consuming the request body).
    void sendBody(HTTPServerResponse& response, Poco::Net::HTTPResponse::HTTPStatus status,
        const std::string& contentType, const std::string& body);
    /// Reads and drops the unread rest of the request body (up to --max-body); false when more
    /// remains, and then the connection must not be kept alive.
    bool drainBody();

    LiveService& m_service;
    std::string m_route;
    /// Set by handlers that take over the socket (SSE): nothing is sent afterwards.
    bool m_detached = false;
    /// Body bytes sent (the preamble for a stream), for the access log.
    std::size_t m_bytesSent = 0;
    /// The request being handled (valid during handleRequest()).
    HTTPServerRequest* m_request = nullptr;
};

} // namespace livecomments::server::http
