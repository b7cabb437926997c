// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace livecomments {

/// Closed set of error codes reported by the SDK. New codes are only added together with a
/// decision in Error::isRecoverable().
enum class ErrorCode {
    InvalidArgument, ///< a caller passed a value the SDK cannot use (empty URL, bad id, text size)
    Network, ///< connection refused/reset/cut, DNS failure
    /// TLS handshake failed: the server's certificate is not trusted (see ClientConfig::tls),
    /// has the wrong host name or expired, or the CA file cannot be read. Retried like Network
    /// (an intercepting captive portal goes away with the network), never answered insecurely.
    Tls,
    Timeout, ///< connect/transfer timeout or a stream that stayed silent past its heartbeat
    ServerError, ///< HTTP 5xx
    RateLimited, ///< HTTP 429 (Error::retryAfterMs may hold the server's Retry-After)
    Unauthorized, ///< HTTP 401
    Forbidden, ///< HTTP 403
    NotFound, ///< HTTP 404
    Conflict, ///< HTTP 409 (e.g. posting to an ended video)
    PayloadTooLarge, ///< HTTP 413
    HttpError, ///< any other unexpected HTTP status (4xx, 3xx, 204 on a stream)
    Protocol, ///< a response the wire contract does not allow (bad JSON, wrong content type)
    Cache, ///< the local SQLite cache failed (the SDK keeps working without it)
    Closed, ///< the object or its Client was closed
    Internal, ///< a bug or resource exhaustion inside the SDK
};

/// Stable lower-case name of a code, e.g. "network" (for logs and the CLI).
std::string_view errorCodeName(ErrorCode code) noexcept;

/// The code of an unsuccessful HTTP status (the one classification every transport uses):
/// 5xx ServerError, 429 RateLimited, 401, 403, 404, 409, 413 their own codes, 400/415/422
/// InvalidArgument, anything else HttpError.
ErrorCode errorCodeForHttpStatus(int status) noexcept;

/// An error value: never thrown, returned in Result<T> or handed to a callback.
///
/// Threading: a plain value type.
struct Error {
    ErrorCode code = ErrorCode::Internal; ///< what kind of failure
    std::string message; ///< human-readable detail (never empty when produced by the SDK)
    int httpStatus = 0; ///< HTTP status when the error came from a response, else 0
    long long retryAfterMs = -1; ///< server's Retry-After in ms when given (429/503), else -1

    /// True when trying again later may succeed: Network, Tls, Timeout, ServerError,
    /// RateLimited.
    /// Everything else is final (a retry would get the same answer).
    bool isRecoverable() const noexcept;
};

} // namespace livecomments
