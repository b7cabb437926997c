// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace livecomments::server {

/// A posting rate: `count` comments per `seconds`, with a burst of `burst`.
struct RateLimit {
    bool enabled = true;
    double count = 20;
    double seconds = 30;
    double burst = 5;
};

/// Parses "N/Ss" (e.g. "20/30s"; the trailing "s" is optional) or "off". False when malformed.
bool parseRateLimit(const std::string& text, RateLimit& limit);

/**
 * Token bucket per user (docs/protocol.md "Rate limit"). A bucket holds up to `burst` tokens
 * and refills at count/seconds tokens per second; each comment takes one.
 *
 * Threading: thread-safe (one mutex); idle buckets are dropped as the map grows.
 */
class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;
    RateLimiter(RateLimit viewers, RateLimit elevated);

    /// Takes a token for `userId`; returns 0 when allowed, otherwise the seconds (≥ 1) until
    /// the next token (for Retry-After).
    int acquire(const std::string& userId, bool elevated, Clock::time_point now = Clock::now());

private:
    struct Bucket {
        double tokens = 0;
        Clock::time_point updated;
    };
    RateLimit m_viewers, m_elevated;
    std::mutex m_mutex;
    std::unordered_map<std::string, Bucket> m_buckets;
};

} // namespace livecomments::server
