// SPDX-License-Identifier: MIT
// libFuzzer: the SDK's SSE parser. Differential: the same bytes fed at once and split at a
// fuzzer-chosen set of points must give the same events, retries, comments and last event id
// (chunk boundaries may fall anywhere, docs/sdk.md). Every string handed out must be valid UTF-8.
#include "livecomments/sse_parser.h"
#include "json/json.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using livecomments::SseEvent;
using livecomments::SseParser;

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

/// Everything one parser reported, flattened into a comparable transcript.
struct Transcript {
    std::vector<std::string> lines;
    bool overflowed = false;
};

Transcript run(std::string_view stream, const std::vector<std::size_t>& cuts)
{
    Transcript t;
    SseParser::Callbacks callbacks;
    callbacks.onEvent = [&](const SseEvent& e) {
        t.lines.push_back("E" + e.type + '\0' + e.data + '\0' + e.lastEventId);
    };
    callbacks.onRetry = [&](std::chrono::milliseconds ms) {
        t.lines.push_back("R" + std::to_string(ms.count()));
    };
    callbacks.onComment
        = [&](std::string_view text) { t.lines.push_back("C" + std::string(text)); };
    SseParser parser(callbacks, 4096); // a small cap so the overflow path is reached too
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        if (cut <= from || cut >= stream.size())
            continue;
        t.overflowed = !parser.feed(stream.substr(from, cut - from)) || t.overflowed;
        from = cut;
    }
    t.overflowed = !parser.feed(stream.substr(from)) || t.overflowed;
    t.lines.push_back("I" + parser.lastEventId());
    parser.endOfStream();
    return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    // The first 4 bytes pick the cut points; the rest is the stream.
    if (size < 4)
        return 0;
    const std::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    for (int i = 0; i < 4; ++i) {
        at += data[i];
        cuts.push_back(at);
    }
    const Transcript whole = run(stream, {});
    const Transcript split = run(stream, cuts);
    // An oversized event is reported at different points depending on the split; without one
    // the transcripts must agree exactly.
    if (!whole.overflowed && !split.overflowed)
        check(whole.lines == split.lines);
    for (const std::string& line : whole.lines) {
        for (std::size_t i = 0; i <= line.size();) {
            const auto next = line.find('\0', i);
            const std::string_view part = std::string_view(line).substr(i, next - i);
            check(livecomments::json::isValidUtf8(part));
            if (next == std::string::npos)
                break;
            i = next + 1;
        }
    }
    return 0;
}
