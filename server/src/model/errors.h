// SPDX-License-Identifier: MIT
#pragma once

#include <stdexcept>
#include <string>

namespace livecomments::server {

/// The closed set of API error kinds; the JSON handler base maps each to one HTTP status.
enum class ErrorKind {
    BadRequest, ///< 400 bad JSON or bad field (the message names the field)
    Unauthorized, ///< 401 missing/invalid token
    Forbidden, ///< 403
    NotFound, ///< 404
    MethodNotAllowed, ///< 405 (ApiError::allow() lists the methods)
    Conflict, ///< 409 e.g. posting to an ended video
    UnprocessableContent, ///< 422 e.g. an Idempotency-Key reused with a different body
    PayloadTooLarge, ///< 413
    UnsupportedMediaType, ///< 415
    TooManyRequests, ///< 429 (ApiError::retryAfterSeconds())
    Unavailable, ///< 503 shutting down or overloaded
    Internal, ///< 500
};

/**
 * A typed error thrown anywhere below the HTTP layer. Only http::JsonHandler turns it into a
 * response (`{"error":{"code","message"}}`), so the rest of the server never speaks HTTP.
 *
 * Threading: a plain value type.
 */
class ApiError : public std::runtime_error {
public:
    ApiError(ErrorKind kind, std::string code, const std::string& message)
        : std::runtime_error(message)
        , m_kind(kind)
        , m_code(std::move(code))
    { }

    ErrorKind kind() const { return m_kind; }
    /// Machine-readable code, e.g. "invalid_field", "video_ended".
    const std::string& code() const { return m_code; }
    /// For 429 / 503: seconds to put in Retry-After (0 = none).
    int retryAfterSeconds() const { return m_retryAfter; }
    ApiError& withRetryAfter(int seconds)
    {
        m_retryAfter = seconds;
        return *this;
    }
    /// For 405: the value of the Allow header.
    const std::string& allow() const { return m_allow; }
    ApiError& withAllow(std::string allow)
    {
        m_allow = std::move(allow);
        return *this;
    }

private:
    ErrorKind m_kind;
    std::string m_code;
    int m_retryAfter = 0;
    std::string m_allow;
};

/// 400 naming the field: code "invalid_field", message "<field>: <reason>".
inline ApiError badField(const std::string& field, const std::string& reason)
{
    return ApiError(ErrorKind::BadRequest, "invalid_field", field + ": " + reason);
}
inline ApiError notFound(const std::string& what)
{
    return ApiError(ErrorKind::NotFound, "not_found", what + " not found");
}
inline ApiError forbidden(const std::string& why)
{
    return ApiError(ErrorKind::Forbidden, "forbidden", why);
}
inline ApiError unauthorized(const std::string& why)
{
    return ApiError(ErrorKind::Unauthorized, "unauthorized", why);
}

} // namespace livecomments::server
