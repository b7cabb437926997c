// SPDX-License-Identifier: MIT
// libFuzzer target: the HTTP request-head path of the front end (frontend/request_head.*) —
// the head parser on every prefix-independent input, then the chunked decoder on what follows a
// chunked head. Besides crashes and sanitizer reports it traps on broken invariants: a consumed
// size beyond the input, an error status outside the documented set, a body over the limit.
#include "frontend/request_head.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace livecomments::server::frontend;

namespace {

bool documented(int status)
{
    switch (status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 431:
    case 501:
    case 505:
        return true;
    default:
        return false;
    }
}

void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    HeadLimits limits;
    limits.maxHeadBytes = 4096; // small limits so the fuzzer reaches them
    limits.maxUriBytes = 1024;
    limits.maxHeaders = 16;
    limits.maxBodyBytes = 2048;
    RequestHead head;
    HeadError error;
    const ParseResult result = parseRequestHead(input, limits, head, error);
    if (result == ParseResult::Error) {
        check(documented(error.status) && error.code && error.message);
        return 0;
    }
    if (result == ParseResult::Incomplete) {
        // Undecided input is bounded: past the head limit a decision must have been made.
        check(input.size() <= limits.maxHeadBytes + 8);
        return 0;
    }
    check(head.headBytes <= input.size());
    check(!head.method.empty() && !head.target.empty());
    check(head.minorVersion == 0 || head.minorVersion == 1);
    if (head.framing == BodyFraming::Length)
        check(head.contentLength > 0 && head.contentLength <= limits.maxBodyBytes);
    if (head.framing == BodyFraming::Chunked) {
        std::string body;
        std::size_t consumed = 0;
        const auto rest = input.substr(head.headBytes);
        const ParseResult chunked = decodeChunked(rest, limits.maxBodyBytes, body, consumed, error);
        if (chunked == ParseResult::Complete)
            check(consumed <= rest.size() && body.size() <= limits.maxBodyBytes);
        if (chunked == ParseResult::Error)
            check(documented(error.status));
    }
    return 0;
}
