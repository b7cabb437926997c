// SPDX-License-Identifier: MIT
#include "publisher.h"

#include "json_text.h"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>

namespace livecomments::bench {
namespace {
void sleepUntil(std::int64_t ns)
{
    timespec ts { static_cast<time_t>(ns / 1000000000LL), static_cast<long>(ns % 1000000000LL) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) { }
}
} // namespace

void runPublisher(
    const PublisherConfig& config, std::atomic<std::uint64_t>& sequence, PublisherResult& result)
{
    result.ackedPerVideo.assign(config.paths.size(), 0);
    if (config.ratePerSecond <= 0 || config.paths.empty())
        return;
    // Publishers use source addresses from the top of the range, away from most subscribers.
    HttpClient client(config.endpoint, loopbackSource(250 + config.threadIndex, 254));
    const double intervalNs = 1e9 / config.ratePerSecond;
    // Stagger the threads so their sends interleave evenly.
    double next = static_cast<double>(config.startNs)
        + intervalNs * config.threadIndex / std::max(1u, config.threadCount);
    std::string response;
    std::string body;
    while (true) {
        const auto due = static_cast<std::int64_t>(next);
        if (due >= config.windowEndNs)
            break;
        std::int64_t now = nowNs();
        if (now < due) {
            sleepUntil(due);
            now = nowNs();
        } else if (now - due > 1000000000LL) {
            // Too far behind: skip rather than burst.
            next += intervalNs;
            if (due >= config.windowStartNs)
                ++result.skipped;
            continue;
        }
        next += intervalNs;
        if (now >= config.windowEndNs)
            break;
        const std::uint64_t seq = sequence.fetch_add(1, std::memory_order_relaxed);
        const std::size_t video = seq % config.paths.size();
        const bool measured = now >= config.windowStartNs;
        body = "{\"text\":" + jsonString("bench:" + std::to_string(now) + ":" + std::to_string(seq))
            + "}";
        const int status
            = client.request("POST", config.paths[video], config.extraHeaders, body, response);
        const std::int64_t ackNs = nowNs() - now;
        if (!measured)
            continue;
        ++result.published;
        if (status >= 200 && status < 300) {
            ++result.acknowledged;
            ++result.ackedPerVideo[video];
            result.ackLatency.record(static_cast<std::uint64_t>(ackNs / 1000));
        } else if (status < 0) {
            ++result.errors["transport: " + response];
        } else {
            ++result.errors["status " + std::to_string(status)];
        }
    }
}

void runReader(const ReaderConfig& config, ReaderResult& result)
{
    HttpClient client(config.endpoint, loopbackSource(240 + config.threadIndex, 254));
    std::mt19937_64 random(0x6c63u + config.threadIndex);
    const std::uint64_t span
        = config.cursorMax > config.cursorMin ? config.cursorMax - config.cursorMin : 1;
    const double intervalNs = config.ratePerSecond > 0 ? 1e9 / config.ratePerSecond : 0;
    double next = static_cast<double>(config.startNs);
    std::string response;
    const std::string commentKey = "\"text\":";
    while (true) {
        std::int64_t now = nowNs();
        if (intervalNs > 0) {
            const auto due = static_cast<std::int64_t>(next);
            if (now < due) {
                sleepUntil(due);
                now = nowNs();
            }
            next += intervalNs;
        }
        if (now >= config.windowEndNs)
            break;
        const std::uint64_t cursor = config.cursorMin + random() % span;
        const std::string path = config.path + "?before=" + std::to_string(cursor)
            + "&limit=" + std::to_string(config.limit);
        const int status = client.request("GET", path, {}, {}, response);
        const std::int64_t took = nowNs() - now;
        if (now < config.windowStartNs)
            continue;
        ++result.requests;
        if (status == 200) {
            ++result.ok;
            result.latency.record(static_cast<std::uint64_t>(took / 1000));
            std::uint64_t n = 0;
            for (auto p = response.find(commentKey); p != std::string::npos;
                 p = response.find(commentKey, p + commentKey.size()))
                ++n;
            result.comments += n;
            if (n < static_cast<std::uint64_t>(config.limit))
                ++result.shortPages;
        } else if (status < 0) {
            ++result.errors["transport: " + response];
        } else {
            ++result.errors["status " + std::to_string(status)];
        }
    }
}

} // namespace livecomments::bench
