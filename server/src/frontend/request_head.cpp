// SPDX-License-Identifier: MIT
// A strict HTTP/1.1 request-head parser (RFC 9112). Strict on purpose: every ambiguity a proxy in
// front of us might resolve differently (request smuggling) is refused with 400 and the
// connection is closed by the caller.
#include "frontend/request_head.h"

#include <limits>

namespace livecomments::server::frontend {

namespace {

bool isTokenChar(unsigned char c)
{
    // RFC 9110 §5.6.2 tchar
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

bool isToken(std::string_view s)
{
    if (s.empty())
        return false;
    for (const char c : s) {
        if (!isTokenChar(static_cast<unsigned char>(c)))
            return false;
    }
    return true;
}

char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trimOws(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

HeadError fail(int status, const char* code, const char* message)
{
    return HeadError { status, code, message };
}

/// Splits a comma-separated field value into trimmed, non-empty elements.
std::vector<std::string_view> listElements(std::string_view value)
{
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= value.size()) {
        const std::size_t comma = value.find(',', start);
        const std::size_t end = comma == std::string_view::npos ? value.size() : comma;
        const auto element = trimOws(value.substr(start, end - start));
        if (!element.empty())
            out.push_back(element);
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return out;
}

/// Content-Length = 1*DIGIT, and it must fit in 63 bits (anything longer is an attack).
bool parseDecimal(std::string_view text, std::uint64_t& out)
{
    if (text.empty() || text.size() > 18)
        return false;
    std::uint64_t n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    out = n;
    return true;
}

/// The request line: method SP request-target SP HTTP-version.
bool parseRequestLine(
    std::string_view line, const HeadLimits& limits, RequestHead& head, HeadError& error)
{
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        error = fail(400, "bad_request", "malformed request line");
        return false;
    }
    const auto method = line.substr(0, sp1);
    const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto version = line.substr(sp2 + 1);
    if (!isToken(method)) {
        error = fail(400, "bad_request", "malformed request method");
        return false;
    }
    if (target.size() > limits.maxUriBytes) {
        error = fail(414, "uri_too_long", "request URI too long");
        return false;
    }
    for (const char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F) {
            error = fail(400, "bad_request", "invalid character in the request target");
            return false;
        }
    }
    const bool origin = !target.empty() && target.front() == '/';
    const bool asterisk = target == "*" && method == "OPTIONS";
    const bool absolute = target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0;
    if (!origin && !asterisk && !absolute) {
        error = fail(400, "bad_request", "malformed request target");
        return false;
    }
    // HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive).
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.'
        || version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
        error = fail(400, "bad_request", "malformed HTTP version");
        return false;
    }
    if (version[5] != '1') {
        error = fail(505, "http_version_not_supported", "only HTTP/1.0 and HTTP/1.1 are served");
        return false;
    }
    head.method.assign(method);
    head.target.assign(target);
    // RFC 9110 §6.2: a higher minor version is answered as the highest we speak (1.1).
    head.minorVersion = version[7] == '0' ? 0 : 1;
    return true;
}

/// Framing and connection semantics from the collected fields.
bool interpretFields(const HeadLimits& limits, RequestHead& head, HeadError& error)
{
    int hosts = 0;
    bool haveLength = false;
    bool haveTransferEncoding = false;
    std::vector<std::string_view> codings;
    bool close = false;
    bool keepAliveToken = false;
    for (const auto& [name, value] : head.fields) {
        if (equalsIgnoreCase(name, "host")) {
            ++hosts;
        } else if (equalsIgnoreCase(name, "content-length")) {
            std::uint64_t n = 0;
            // One number per field: a list ("18, 18") is refused although RFC 9110 §8.6 lets
            // a recipient collapse it, because an intermediary may not have.
            if (!parseDecimal(value, n)) {
                error = fail(400, "bad_request", "invalid Content-Length");
                return false;
            }
            if (haveLength && n != head.contentLength) {
                error = fail(400, "bad_request", "conflicting Content-Length fields");
                return false;
            }
            haveLength = true;
            head.contentLength = n;
        } else if (equalsIgnoreCase(name, "transfer-encoding")) {
            haveTransferEncoding = true;
            for (const auto element : listElements(value))
                codings.push_back(element);
        } else if (equalsIgnoreCase(name, "connection")) {
            for (const auto element : listElements(value)) {
                close = close || equalsIgnoreCase(element, "close");
                keepAliveToken = keepAliveToken || equalsIgnoreCase(element, "keep-alive");
            }
        } else if (equalsIgnoreCase(name, "expect")) {
            head.expectContinue = equalsIgnoreCase(trimOws(value), "100-continue");
        }
    }
    if (head.minorVersion == 1 && hosts != 1) {
        error = fail(400, "bad_request",
            hosts == 0 ? "HTTP/1.1 requires a Host field" : "more than one Host field");
        return false;
    }
    if (haveTransferEncoding) {
        if (haveLength) { // RFC 9112 §6.1: the classic smuggling vector; never guess
            error = fail(400, "bad_request", "Content-Length together with Transfer-Encoding");
            return false;
        }
        if (head.minorVersion == 0) {
            error = fail(400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request");
            return false;
        }
        if (codings.size() != 1 || !equalsIgnoreCase(codings.front(), "chunked")) {
            bool chunked = false;
            for (const auto coding : codings)
                chunked = chunked || equalsIgnoreCase(coding, "chunked");
            // chunked twice or not last is malformed (§6.1); another coding is one we lack.
            error = chunked
                ? fail(400, "bad_request", "malformed Transfer-Encoding")
                : fail(501, "not_implemented", "only the chunked transfer coding is accepted");
            return false;
        }
        head.framing = BodyFraming::Chunked;
    } else if (haveLength) {
        head.framing = head.contentLength > 0 ? BodyFraming::Length : BodyFraming::None;
        if (head.contentLength > limits.maxBodyBytes) {
            error = fail(413, "payload_too_large", "request body too large");
            return false;
        }
    }
    head.keepAlive = head.minorVersion == 1 ? !close : (keepAliveToken && !close);
    return true;
}

} // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i]))
            return false;
    }
    return true;
}

ParseResult parseRequestHead(
    std::string_view data, const HeadLimits& limits, RequestHead& head, HeadError& error)
{
    head = RequestHead {};
    std::size_t pos = 0;
    // RFC 9112 §2.2: ignore at least one empty line before the request line.
    while (pos + 1 < data.size() && data[pos] == '\r' && data[pos + 1] == '\n' && pos < 8)
        pos += 2;
    bool requestLine = true;
    std::size_t lineStart = pos;
    for (std::size_t i = pos; i < data.size(); ++i) {
        const char c = data[i];
        if (i - pos >= limits.maxHeadBytes) {
            error = requestLine ? fail(414, "uri_too_long", "request URI too long")
                                : fail(431, "header_too_large", "request header too large");
            return ParseResult::Error;
        }
        if (c == '\r') {
            if (i + 1 < data.size() && data[i + 1] != '\n') {
                error = fail(400, "bad_request", "bare CR in the request head");
                return ParseResult::Error;
            }
            continue;
        }
        if (c == '\n') {
            if (i == lineStart || data[i - 1] != '\r') {
                error = fail(400, "bad_request", "lines must end in CRLF");
                return ParseResult::Error;
            }
            const auto line = data.substr(lineStart, i - 1 - lineStart);
            lineStart = i + 1;
            if (requestLine) {
                if (!parseRequestLine(line, limits, head, error))
                    return ParseResult::Error;
                requestLine = false;
                continue;
            }
            if (line.empty()) {
                head.headBytes = i + 1;
                return interpretFields(limits, head, error) ? ParseResult::Complete
                                                            : ParseResult::Error;
            }
            if (head.fields.size() >= limits.maxHeaders) {
                error = fail(431, "header_too_large", "too many header fields");
                return ParseResult::Error;
            }
            const std::size_t colon = line.find(':');
            if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
                // Also catches obs-fold (a line starting with SP/HTAB), refused by §5.2.
                error = fail(400, "bad_request", "malformed header field");
                return ParseResult::Error;
            }
            const auto value = trimOws(line.substr(colon + 1));
            for (const char v : value) {
                const auto u = static_cast<unsigned char>(v);
                if ((u < 0x20 && u != '\t') || u == 0x7F) {
                    error = fail(400, "bad_request", "control character in a header field");
                    return ParseResult::Error;
                }
            }
            head.fields.emplace_back(std::string(line.substr(0, colon)), std::string(value));
            continue;
        }
        // On the request line, say 414 as soon as the URI alone is too long.
        if (requestLine && i - pos > limits.maxUriBytes + 32) {
            error = fail(414, "uri_too_long", "request URI too long");
            return ParseResult::Error;
        }
    }
    return ParseResult::Incomplete;
}

ParseResult decodeChunked(std::string_view data, std::size_t maxBody, std::string& body,
    std::size_t& consumed, HeadError& error)
{
    body.clear();
    std::size_t pos = 0;
    auto readLine = [&](std::string_view& line) -> int { // 1 ok, 0 incomplete, -1 error
        const std::size_t lf = data.find('\n', pos);
        if (lf == std::string_view::npos)
            return data.size() - pos > 4096 ? -1 : 0;
        if (lf == pos || data[lf - 1] != '\r')
            return -1;
        line = data.substr(pos, lf - 1 - pos);
        if (line.find('\r') != std::string_view::npos)
            return -1;
        pos = lf + 1;
        return 1;
    };
    for (;;) {
        std::string_view line;
        const int got = readLine(line);
        if (got <= 0) {
            if (got < 0)
                error = fail(400, "bad_request", "malformed chunk size line");
            return got < 0 ? ParseResult::Error : ParseResult::Incomplete;
        }
        const std::size_t semicolon = line.find(';');
        const auto sizeText = trimOws(line.substr(0, semicolon));
        if (sizeText.empty() || sizeText.size() > 15) {
            error = fail(400, "bad_request", "malformed chunk size");
            return ParseResult::Error;
        }
        std::uint64_t size = 0;
        for (const char c : sizeText) {
            int digit = -1;
            if (c >= '0' && c <= '9')
                digit = c - '0';
            else if (lower(c) >= 'a' && lower(c) <= 'f')
                digit = lower(c) - 'a' + 10;
            if (digit < 0) {
                error = fail(400, "bad_request", "malformed chunk size");
                return ParseResult::Error;
            }
            size = size * 16 + static_cast<std::uint64_t>(digit);
        }
        if (size == 0)
            break;
        if (body.size() + size > maxBody) {
            error = fail(413, "payload_too_large", "request body too large");
            return ParseResult::Error;
        }
        if (data.size() - pos < size + 2)
            return ParseResult::Incomplete;
        if (data[pos + size] != '\r' || data[pos + size + 1] != '\n') {
            error = fail(400, "bad_request", "chunk data not followed by CRLF");
            return ParseResult::Error;
        }
        body.append(data.substr(pos, size));
        pos += size + 2;
    }
    // Trailer section: fields until an empty line; dropped (none is meaningful to us).
    for (int fields = 0;; ++fields) {
        std::string_view line;
        const int got = readLine(line);
        if (got < 0 || fields > 100) {
            error = fail(400, "bad_request", "malformed trailer section");
            return ParseResult::Error;
        }
        if (got == 0)
            return ParseResult::Incomplete;
        if (line.empty())
            break;
    }
    consumed = pos;
    return ParseResult::Complete;
}

} // namespace livecomments::server::frontend
