// SPDX-License-Identifier: MIT
// Small value-type helpers of the public API: names of enums, Error::isRecoverable(), id parsing.
#include "livecomments/error.h"
#include "livecomments/comment.h"
#include "livecomments/outbox.h"
#include "livecomments/stream_state.h"

#include <limits>

namespace livecomments {

std::string_view errorCodeName(ErrorCode code) noexcept
{
    switch (code) {
    case ErrorCode::InvalidArgument:
        return "invalid_argument";
    case ErrorCode::Network:
        return "network";
    case ErrorCode::Tls:
        return "tls";
    case ErrorCode::Timeout:
        return "timeout";
    case ErrorCode::ServerError:
        return "server_error";
    case ErrorCode::RateLimited:
        return "rate_limited";
    case ErrorCode::Unauthorized:
        return "unauthorized";
    case ErrorCode::Forbidden:
        return "forbidden";
    case ErrorCode::NotFound:
        return "not_found";
    case ErrorCode::Conflict:
        return "conflict";
    case ErrorCode::PayloadTooLarge:
        return "payload_too_large";
    case ErrorCode::HttpError:
        return "http_error";
    case ErrorCode::Protocol:
        return "protocol";
    case ErrorCode::Cache:
        return "cache";
    case ErrorCode::Closed:
        return "closed";
    case ErrorCode::Internal:
        return "internal";
    }
    return "internal";
}

ErrorCode errorCodeForHttpStatus(int status) noexcept
{
    if (status >= 500)
        return ErrorCode::ServerError;
    switch (status) {
    case 429:
        return ErrorCode::RateLimited;
    case 401:
        return ErrorCode::Unauthorized;
    case 403:
        return ErrorCode::Forbidden;
    case 404:
        return ErrorCode::NotFound;
    case 409:
        return ErrorCode::Conflict;
    case 413:
        return ErrorCode::PayloadTooLarge;
    case 400:
    case 415:
    case 422:
        return ErrorCode::InvalidArgument;
    default:
        return ErrorCode::HttpError;
    }
}

bool Error::isRecoverable() const noexcept
{
    switch (code) {
    case ErrorCode::Network:
    case ErrorCode::Tls:
    case ErrorCode::Timeout:
    case ErrorCode::ServerError:
    case ErrorCode::RateLimited:
        return true;
    default:
        return false;
    }
}

const char* streamStateName(StreamState state) noexcept
{
    switch (state) {
    case StreamState::Connecting:
        return "connecting";
    case StreamState::Live:
        return "live";
    case StreamState::Reconnecting:
        return "reconnecting";
    case StreamState::Closed:
        return "closed";
    }
    return "closed";
}

const char* postStateName(PostState state) noexcept
{
    switch (state) {
    case PostState::Pending:
        return "pending";
    case PostState::Sent:
        return "sent";
    case PostState::Failed:
        return "failed";
    }
    return "failed";
}

std::optional<CommentId> parseCommentId(const std::string& text) noexcept
{
    if (text.empty() || text.size() > 20)
        return std::nullopt;
    CommentId value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        const auto digit = static_cast<CommentId>(c - '0');
        if (value > (std::numeric_limits<CommentId>::max() - digit) / 10)
            return std::nullopt;
        value = value * 10 + digit;
    }
    if (value == 0)
        return std::nullopt;
    return value;
}

} // namespace livecomments
