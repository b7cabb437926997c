// SPDX-License-Identifier: MIT
//
// livecomments-parser-bench: measures SseParser throughput in MB/s.
//
// Scenarios:
//   comments/<chunk>  a realistic comment stream (id + event + JSON data with some non-ASCII text,
//                     a heartbeat comment every 50 events, CRLF on a fifth of the events) fed in
//                     chunks of 16 B (tiny TCP reads), 1460 B (one segment), 4 KiB and 64 KiB
//   big/<chunk>       one 10 MiB event (a single data line) fed whole and in 4 KiB chunks
//   biglines/4096     one 10 MiB event made of 80-byte data lines, 4 KiB chunks
//
// Each scenario runs --repeat times (default 5) and reports the best run; the event count and a
// checksum of the delivered data are verified, so a wrong parse fails the bench (exit code 1)
// instead of producing a fast number. Output: one line per scenario, or JSON with --json.
// Single-threaded; run it on an otherwise idle machine for meaningful numbers.
#include "json_text.h"
#include "livecomments/sse_parser.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using livecomments::SseEvent;
using livecomments::SseParser;
using livecomments::bench::jsonString;

struct Stream {
    std::string bytes;
    std::size_t events = 0;
    std::uint64_t dataBytes = 0; // sum of delivered data sizes
};

/// Builds about @p targetBytes of a comment stream as the server sends it.
Stream commentStream(std::size_t targetBytes)
{
    static const char* const kTexts[] = { "first!", "lol that was close",
        "GG \xF0\x9F\x8E\x89\xF0\x9F\x8E\x89", "can you show the settings again?",
        "caf\xC3\xA9 stream when?", "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF",
        "this is a somewhat longer comment that someone typed while waiting for the match to "
        "start, with \"quotes\" and a link https://example.com/x?y=1" };
    std::mt19937 gen(7);
    Stream s;
    s.bytes = "retry: 2000\n\nevent: hello\ndata: {\"resumed\":false}\n\n";
    s.events = 1;
    s.dataBytes = std::strlen("{\"resumed\":false}");
    std::uint64_t id = 7285318372839424ULL;
    while (s.bytes.size() < targetBytes) {
        id += 1 + gen() % 4096;
        const char* text = kTexts[gen() % std::size(kTexts)];
        const std::string data = "{\"id\":\"" + std::to_string(id) + "\",\"video_id\":\"v42\","
            + "\"user\":{\"id\":\"" + std::to_string(gen() % 100000) + "\",\"name\":\"viewer"
            + std::to_string(gen() % 1000) + "\"},\"text\":" + jsonString(text)
            + ",\"created_at\":\"2026-11-23T11:00:00.123Z\"}";
        const char* eol = (s.events % 5 == 0) ? "\r\n" : "\n";
        s.bytes += "id: " + std::to_string(id) + eol + "event: comment" + eol + "data: " + data
            + eol + eol;
        ++s.events;
        s.dataBytes += data.size();
        if (s.events % 50 == 0)
            s.bytes += ": heartbeat\n";
    }
    return s;
}

Stream bigEvent(std::size_t size, std::size_t lineLength)
{
    Stream s;
    std::string body(size, 'x');
    for (std::size_t i = 0; i < size; i += 101)
        body[i] = static_cast<char>('a' + i % 26);
    if (lineLength == 0) {
        s.bytes = "id: big\ndata: " + body + "\n\n";
        s.dataBytes = size;
    } else {
        s.bytes = "id: big\n";
        std::size_t lines = 0;
        for (std::size_t i = 0; i < size; i += lineLength, ++lines)
            s.bytes += "data: " + body.substr(i, lineLength) + "\n";
        s.bytes += "\n";
        s.dataBytes = size + lines - 1;
    }
    s.events = 1;
    return s;
}

struct Result {
    std::string name;
    double mbPerSecond = 0;
    double bestSeconds = 0;
    std::size_t bytes = 0;
    bool ok = true;
};

Result run(const std::string& name, const Stream& stream, std::size_t chunk, int repeat)
{
    Result result;
    result.name = name;
    result.bytes = stream.bytes.size();
    double best = 1e300;
    for (int r = 0; r < repeat; ++r) {
        std::size_t events = 0;
        std::uint64_t dataBytes = 0;
        SseParser::Callbacks cb;
        cb.onEvent = [&](const SseEvent& e) {
            ++events;
            dataBytes += e.data.size();
        };
        SseParser parser(cb);
        const char* p = stream.bytes.data();
        const std::size_t n = stream.bytes.size();
        const std::size_t step = chunk == 0 ? n : chunk;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::size_t pos = 0; pos < n; pos += step) {
            if (!parser.feed(std::string_view(p + pos, std::min(step, n - pos))))
                result.ok = false;
        }
        parser.endOfStream();
        const double seconds
            = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        best = std::min(best, seconds);
        if (events != stream.events || dataBytes != stream.dataBytes)
            result.ok = false;
    }
    result.bestSeconds = best;
    result.mbPerSecond = static_cast<double>(result.bytes) / 1e6 / std::max(best, 1e-9);
    return result;
}

void usage()
{
    std::puts("usage: livecomments-parser-bench [--repeat=N] [--size-mb=N] [--json]\n"
              "  --repeat=N   runs per scenario, best is reported (default 5)\n"
              "  --size-mb=N  size of the comment stream in MB (default 32)\n"
              "  --json       print a JSON array instead of a table");
}

} // namespace

int main(int argc, char** argv)
{
    int repeat = 5;
    std::size_t sizeMb = 32;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg.rfind("--repeat=", 0) == 0) {
            repeat = std::max(1, std::atoi(arg.c_str() + 9));
        } else if (arg.rfind("--size-mb=", 0) == 0) {
            sizeMb = static_cast<std::size_t>(std::max(1, std::atoi(arg.c_str() + 10)));
        } else if (arg == "--json") {
            json = true;
        } else if (arg == "--help" || arg == "-h") {
            usage();
            return 0;
        } else {
            std::fprintf(stderr, "unknown argument: %s\n", arg.c_str());
            usage();
            return 2;
        }
    }

    const Stream comments = commentStream(sizeMb * 1000 * 1000);
    const Stream big = bigEvent(10u * 1024 * 1024, 0);
    const Stream bigLines = bigEvent(10u * 1024 * 1024, 80);

    std::vector<Result> results;
    for (std::size_t chunk :
        { std::size_t(16), std::size_t(1460), std::size_t(4096), std::size_t(65536) })
        results.push_back(run("comments/" + std::to_string(chunk), comments, chunk, repeat));
    results.push_back(run("big/whole", big, 0, repeat));
    results.push_back(run("big/4096", big, 4096, repeat));
    results.push_back(run("biglines/4096", bigLines, 4096, repeat));

    bool ok = true;
    if (json) {
        std::printf("[\n");
        for (std::size_t i = 0; i < results.size(); ++i) {
            const Result& r = results[i];
            std::printf("  {\"scenario\":%s,\"bytes\":%zu,\"best_s\":%.6f,\"mb_per_s\":%.1f,"
                        "\"ok\":%s}%s\n",
                jsonString(r.name).c_str(), r.bytes, r.bestSeconds, r.mbPerSecond,
                r.ok ? "true" : "false", i + 1 < results.size() ? "," : "");
        }
        std::printf("]\n");
    } else {
        std::printf("%-18s %12s %10s %10s %s\n", "scenario", "bytes", "best s", "MB/s", "check");
        for (const Result& r : results)
            std::printf("%-18s %12zu %10.4f %10.1f %s\n", r.name.c_str(), r.bytes, r.bestSeconds,
                r.mbPerSecond, r.ok ? "ok" : "WRONG");
    }
    for (const Result& r : results)
        ok = ok && r.ok;
    if (!ok)
        std::fprintf(stderr, "parser output did not match the generated stream\n");
    return ok ? 0 : 1;
}
