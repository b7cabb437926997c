// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livecomments::server::frontend {

/// Size limits applied while a request head and body are read (docs/server.md "Front end").
struct HeadLimits {
    std::size_t maxHeadBytes = 16384; ///< request line + fields + CRLFs; beyond → 431
    std::size_t maxUriBytes = 8192; ///< request-target; beyond → 414
    std::size_t maxHeaders = 100; ///< field lines; beyond → 431
    std::size_t maxBodyBytes = 65536; ///< decoded body; beyond → 413
};

/// Why a request was refused before any handler saw it: the status, the `error.code` of the
/// JSON body and a fixed message (never an echo of the request's bytes).
struct HeadError {
    int status = 400;
    const char* code = "bad_request";
    const char* message = "malformed request";
};

/// How the message body is framed (RFC 9112 §6.3).
enum class BodyFraming { None, Length, Chunked };

/// A request head that passed every check of parseRequestHead().
struct RequestHead {
    std::string method;
    std::string target; ///< the request-target as sent
    int minorVersion = 1; ///< HTTP/1.<minorVersion>
    std::vector<std::pair<std::string, std::string>> fields; ///< names as sent, values trimmed
    std::size_t headBytes = 0; ///< bytes of the head incl. the empty line (and leading CRLFs)
    BodyFraming framing = BodyFraming::None;
    std::uint64_t contentLength = 0; ///< valid when framing == Length
    bool keepAlive = true; ///< after this request (Connection and version)
    bool expectContinue = false; ///< `Expect: 100-continue`
};

enum class ParseResult { Incomplete, Complete, Error };

/**
 * Parses the request head at the start of `data` by RFC 9112, strictly: CRLF line endings only
 * (a bare CR or LF is 400), no obs-fold, token methods and field names, no whitespace before a
 * colon, a visible-ASCII origin/absolute/asterisk target, `HTTP/1.0` or `HTTP/1.1` (another
 * HTTP/x.y → 505, anything else 400), exactly one Host on HTTP/1.1, Content-Length a single
 * decimal number (duplicates must agree), never together with Transfer-Encoding, whose only
 * accepted coding is `chunked` (others → 501). Errors that depend only on a prefix (a bare CR,
 * a too long URI or head) are reported as soon as that prefix has arrived.
 *
 * Threading: a pure function.
 */
ParseResult parseRequestHead(
    std::string_view data, const HeadLimits& limits, RequestHead& head, HeadError& error);

/**
 * Decodes a chunked body (RFC 9112 §7.1) at the start of `data`: chunk sizes in hex without
 * overflow, extensions skipped, each chunk's CRLF checked, trailer fields read and dropped.
 * Complete sets `body` and `consumed` (bytes through the final CRLF); a decoded size above
 * `maxBody` is a 413 error as soon as it is known.
 */
ParseResult decodeChunked(std::string_view data, std::size_t maxBody, std::string& body,
    std::size_t& consumed, HeadError& error);

/// Case-insensitive ASCII comparison (field names, tokens).
bool equalsIgnoreCase(std::string_view a, std::string_view b);

} // namespace livecomments::server::frontend
