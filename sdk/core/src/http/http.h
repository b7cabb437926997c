// SPDX-License-Identifier: MIT
#pragma once
// Internal HTTP value types and the single CURLcode/HTTP-status -> Error mapping.

#include "livecomments/error.h"
#include "livecomments/http_backend.h"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livecomments::detail {

using Headers = HttpHeaders;

/// A request for the I/O loop (the public backend request type: streams have no total timeout
/// and hand their body to TransferCallbacks::onData).
using HttpRequest = HttpBackendRequest;

/// Response head (and body for non-stream requests).
struct HttpResponse {
    int status = 0;
    Headers headers; ///< names lower-cased
    std::string body;
    /// Value of header @p lowerName, or empty.
    std::string header(std::string_view lowerName) const;
    std::string contentType() const { return header("content-type"); }
};

/// Maps a libcurl result code (passed as int to keep curl.h out of this header) to an Error.
/// This is the only place CURLcode becomes an Error.
Error errorFromCurl(int curlCode, const char* detail);

/// Maps a non-success HTTP status (and its JSON error body, if any) to an Error; honours
/// Retry-After (delta-seconds) for 429 and 503.
Error errorFromHttp(const HttpResponse& response);

/// Parses Retry-After delta-seconds; -1 when absent or not a number (HTTP-dates are ignored).
long long retryAfterMs(const HttpResponse& response);

/// Percent-encodes a URL query value.
std::string urlEncode(std::string_view s);

} // namespace livecomments::detail
