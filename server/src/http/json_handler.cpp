// SPDX-License-Identifier: MIT
#include "http/json_handler.h"

#include "model/errors.h"
#include "model/json_text.h"
#include "service/live_service.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/MediaType.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <istream>

namespace livecomments::server::http {

using Poco::Net::HTTPResponse;

namespace {

HTTPResponse::HTTPStatus statusOf(ErrorKind kind)
{
    switch (kind) {
    case ErrorKind::BadRequest:
        return HTTPResponse::HTTP_BAD_REQUEST;
    case ErrorKind::Unauthorized:
        return HTTPResponse::HTTP_UNAUTHORIZED;
    case ErrorKind::Forbidden:
        return HTTPResponse::HTTP_FORBIDDEN;
    case ErrorKind::NotFound:
        return HTTPResponse::HTTP_NOT_FOUND;
    case ErrorKind::MethodNotAllowed:
        return HTTPResponse::HTTP_METHOD_NOT_ALLOWED;
    case ErrorKind::Conflict:
        return HTTPResponse::HTTP_CONFLICT;
    case ErrorKind::PayloadTooLarge:
        return HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE;
    case ErrorKind::UnsupportedMediaType:
        return HTTPResponse::HTTP_UNSUPPORTEDMEDIATYPE;
    case ErrorKind::TooManyRequests:
        return HTTPResponse::HTTP_TOO_MANY_REQUESTS;
    case ErrorKind::Unavailable:
        return HTTPResponse::HTTP_SERVICE_UNAVAILABLE;
    case ErrorKind::Internal:
        break;
    }
    return HTTPResponse::HTTP_INTERNAL_SERVER_ERROR;
}

Poco::Logger& accessLog()
{
    static Poco::Logger& logger = Poco::Logger::get("livecomments.access");
    return logger;
}

Poco::Logger& errorLog()
{
    static Poco::Logger& logger = Poco::Logger::get("livecomments.http");
    return logger;
}

std::string bearerToken(const HTTPServerRequest& request, bool allowQueryToken)
{
    const std::string header = request.get("Authorization", "");
    if (!header.empty()) {
        static const std::string kPrefix = "Bearer ";
        if (header.size() <= kPrefix.size()
            || Poco::icompare(header.substr(0, kPrefix.size()), kPrefix) != 0)
            throw unauthorized("Authorization must be 'Bearer <token>'");
        return header.substr(kPrefix.size());
    }
    if (allowQueryToken) {
        if (auto token = queryParam(request, "access_token"))
            return *token;
    }
    return {};
}

} // namespace

void applyCors(const HTTPServerRequest& request, HTTPServerResponse& response)
{
    const std::string origin = request.get("Origin", "");
    response.set("Access-Control-Allow-Origin", origin.empty() ? "*" : origin);
    if (!origin.empty())
        response.set("Vary", "Origin");
    response.set(
        "Access-Control-Expose-Headers", "ETag, Retry-After, Location, Idempotent-Replayed");
}

std::string corsHeaderLines(const HTTPServerRequest& request)
{
    const std::string origin = request.get("Origin", "");
    std::string out
        = "Access-Control-Allow-Origin: " + (origin.empty() ? std::string("*") : origin) + "\r\n";
    if (!origin.empty())
        out += "Vary: Origin\r\n";
    return out;
}

std::uint32_t parseVideoId(const std::string& text, const std::string& field)
{
    if (text.empty() || text.size() > 10
        || text.find_first_not_of("0123456789") != std::string::npos)
        throw badField(field, "must be a positive integer");
    const unsigned long long n = std::stoull(text);
    if (n == 0 || n > 2147483647ULL)
        throw badField(field, "must be a positive 32-bit integer");
    return static_cast<std::uint32_t>(n);
}

std::uint64_t parseId64(const std::string& text, const std::string& field)
{
    if (text.empty() || text.size() > 20
        || text.find_first_not_of("0123456789") != std::string::npos)
        throw badField(field, "must be a decimal id");
    errno = 0;
    const unsigned long long n = std::strtoull(text.c_str(), nullptr, 10);
    if (errno != 0 || n == 0 || n > 9223372036854775807ULL)
        throw badField(field, "must be a positive 64-bit id");
    return n;
}

std::optional<std::string> queryParam(const HTTPServerRequest& request, const std::string& name)
{
    try {
        const Poco::URI uri(request.getURI());
        for (const auto& [key, value] : uri.getQueryParameters()) {
            if (key == name)
                return value;
        }
    } catch (const Poco::SyntaxException&) {
        throw ApiError(ErrorKind::BadRequest, "bad_request", "malformed request URI");
    }
    return std::nullopt;
}

std::string requiredString(const Poco::JSON::Object& body, const std::string& field)
{
    if (!body.has(field) || body.isNull(field))
        throw badField(field, "is required");
    const auto value = body.get(field);
    if (!value.isString())
        throw badField(field, "must be a string");
    return value.extract<std::string>();
}

std::optional<std::string> optionalIdText(const Poco::JSON::Object& body, const std::string& field)
{
    if (!body.has(field) || body.isNull(field))
        return std::nullopt;
    const auto value = body.get(field);
    if (value.isString())
        return value.extract<std::string>();
    if (value.isInteger()) {
        try {
            return std::to_string(value.convert<Poco::Int64>());
        } catch (const Poco::Exception&) { }
    }
    throw badField(field, "must be an id (string or integer)");
}

JsonHandler::JsonHandler(LiveService& service, std::string route)
    : m_service(service)
    , m_route(std::move(route))
{ }

void JsonHandler::handleRequest(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const auto started = std::chrono::steady_clock::now();
    m_request = &request;
    int status = 0;
    try {
        applyCors(request, response);
        if (m_service.shuttingDown())
            throw ApiError(ErrorKind::Unavailable, "shutting_down", "the server is shutting down")
                .withRetryAfter(2);
        handle(request, response);
        status = m_detached ? 200 : static_cast<int>(response.getStatus());
    } catch (const ApiError& e) {
        if (e.kind() == ErrorKind::Internal) // a failure of ours (e.g. the store), not the client's
            errorLog().error(
                "%s %s: internal error: %s", request.getMethod(), m_route, std::string(e.what()));
        if (!m_detached && !response.sent()) {
            if (e.retryAfterSeconds() > 0)
                response.set("Retry-After", std::to_string(e.retryAfterSeconds()));
            if (!e.allow().empty())
                response.set("Allow", e.allow());
            if (e.kind() == ErrorKind::Unauthorized) // RFC 6750 §3
                response.set("WWW-Authenticate",
                    request.has("Authorization")
                        ? "Bearer realm=\"livecomments\", error=\"invalid_token\""
                        : "Bearer realm=\"livecomments\"");
            if (e.kind() == ErrorKind::PayloadTooLarge || e.kind() == ErrorKind::Unavailable)
                response.setKeepAlive(false); // oversized body / shutdown: drop the connection
            sendJson(response, statusOf(e.kind()), errorJson(e.code(), e.what()));
        }
        status = static_cast<int>(statusOf(e.kind()));
    } catch (const std::exception& e) {
        // Poco::Exception::what() is only the class name; displayText() carries the detail.
        const auto* poco = dynamic_cast<const Poco::Exception*>(&e);
        const std::string detail = poco ? poco->displayText() : e.what();
        // Logged with the route template only: the raw URI may carry ?access_token=.
        errorLog().error("%s %s: unexpected exception: %s", request.getMethod(), m_route, detail);
        if (!m_detached && !response.sent())
            sendJson(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR,
                errorJson("internal", "internal error: " + detail));
        status = 500;
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    m_service.metrics().requestObserved(m_route, status, took.count());
    // One line per request: the route TEMPLATE, never the path or query (tokens, ids).
    if (accessLog().information())
        accessLog().information("%s %s %d %.3fms %zB", request.getMethod(), m_route, status,
            took.count() * 1000.0, m_bytesSent);
}

Principal JsonHandler::requireUser(const HTTPServerRequest& request, bool allowQueryToken) const
{
    auto user = optionalUser(request, allowQueryToken);
    if (!user)
        throw unauthorized("a bearer token is required");
    return *user;
}

std::optional<Principal> JsonHandler::optionalUser(
    const HTTPServerRequest& request, bool allowQueryToken) const
{
    const std::string token = bearerToken(request, allowQueryToken);
    if (token.empty())
        return std::nullopt;
    return m_service.auth().verify(token);
}

std::optional<Principal> JsonHandler::readerUser(
    const HTTPServerRequest& request, bool allowQueryToken) const
{
    if (m_service.settings().readsNeedToken)
        return requireUser(request, allowQueryToken);
    return optionalUser(request, allowQueryToken);
}

Poco::JSON::Object::Ptr JsonHandler::readJsonObject(HTTPServerRequest& request) const
{
    const std::size_t maxBody = m_service.settings().maxBodyBytes;
    const std::string contentType = request.get("Content-Type", "");
    if (!contentType.empty()) {
        bool json = false;
        try {
            const Poco::Net::MediaType type(contentType);
            json = Poco::icompare(type.getType(), "application") == 0
                && (Poco::icompare(type.getSubType(), "json") == 0
                    || Poco::endsWith(Poco::toLower(type.getSubType()), std::string("+json")));
        } catch (const Poco::Exception&) { }
        if (!json)
            throw ApiError(ErrorKind::UnsupportedMediaType, "unsupported_media_type",
                "Content-Type must be application/json");
    }
    if (request.hasContentLength()
        && request.getContentLength64() > static_cast<Poco::Int64>(maxBody))
        throw ApiError(ErrorKind::PayloadTooLarge, "payload_too_large",
            "body larger than " + std::to_string(maxBody) + " bytes");
    std::string body;
    // RFC 9112 §6.3: a request with neither Content-Length nor chunked coding has no body (and
    // reading Poco's stream would wait for the peer to close).
    const bool hasBody = request.hasContentLength() || request.getChunkedTransferEncoding();
    auto& in = request.stream();
    char buffer[8192];
    while (hasBody && in) {
        in.read(buffer, sizeof buffer);
        body.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (body.size() > maxBody)
            throw ApiError(ErrorKind::PayloadTooLarge, "payload_too_large",
                "body larger than " + std::to_string(maxBody) + " bytes");
    }
    if (body.empty())
        throw badField("body", "a JSON object is required");
    try {
        Poco::JSON::Parser parser;
        const auto result = parser.parse(body);
        if (result.type() != typeid(Poco::JSON::Object::Ptr))
            throw badField("body", "must be a JSON object");
        return result.extract<Poco::JSON::Object::Ptr>();
    } catch (const Poco::Exception& e) {
        throw ApiError(ErrorKind::BadRequest, "bad_json", "body: invalid JSON: " + e.message());
    }
}

std::string JsonHandler::idempotencyKey(const HTTPServerRequest& request)
{
    const std::string key = request.get("Idempotency-Key", "");
    if (key.size() > 200)
        throw badField("Idempotency-Key", "longer than 200 bytes");
    return key;
}

bool JsonHandler::drainBody()
{
    if (!m_request)
        return true;
    HTTPServerRequest& request = *m_request;
    m_request = nullptr; // once
    if (request.hasContentLength() && request.getContentLength64() == 0)
        return true;
    if (!request.hasContentLength() && !request.getChunkedTransferEncoding())
        return true; // RFC 9112 §6.3: no length and not chunked = no request body
    // Discard up to 16x --max-body (at least 1 MiB): closing a socket with unread input makes
    // the kernel send RST, which can destroy the error response before the client reads it.
    const auto maxBody = std::max<std::streamsize>(
        static_cast<std::streamsize>(m_service.settings().maxBodyBytes) * 16, 1 << 20);
    if (request.hasContentLength() && request.getContentLength64() > maxBody)
        return false;
    try {
        auto& in = request.stream();
        char buffer[8192];
        std::streamsize total = 0;
        while (in) {
            in.read(buffer, sizeof buffer);
            total += in.gcount();
            if (total > maxBody)
                return false;
        }
        return true;
    } catch (const Poco::Exception&) {
        return false;
    }
}

void JsonHandler::sendBody(HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
    const std::string& contentType, const std::string& body)
{
    if (!drainBody())
        response.setKeepAlive(false);
    response.setStatusAndReason(status);
    if (!contentType.empty())
        response.setContentType(contentType);
    response.setContentLength64(static_cast<Poco::Int64>(body.size()));
    m_bytesSent = body.size();
    if (body.empty())
        response.send();
    else
        response.send() << body;
}

void JsonHandler::sendJson(
    HTTPServerResponse& response, HTTPResponse::HTTPStatus status, const std::string& body)
{
    sendBody(response, status, "application/json", body);
}

void JsonHandler::sendNoContent(HTTPServerResponse& response)
{
    sendBody(response, HTTPResponse::HTTP_NO_CONTENT, {}, {});
}

} // namespace livecomments::server::http
