// SPDX-License-Identifier: MIT
#include "service/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace livecomments::server {

bool parseRateLimit(const std::string& text, RateLimit& limit)
{
    if (text == "off") {
        limit.enabled = false;
        return true;
    }
    const auto slash = text.find('/');
    if (slash == std::string::npos || slash == 0)
        return false;
    std::string per = text.substr(slash + 1);
    if (!per.empty() && per.back() == 's')
        per.pop_back();
    char* end = nullptr;
    const double count = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + slash || !(count > 0))
        return false;
    const double seconds = per.empty() ? 0 : std::strtod(per.c_str(), &end);
    if (per.empty() || *end != '\0' || !(seconds > 0))
        return false;
    limit.enabled = true;
    limit.count = count;
    limit.seconds = seconds;
    limit.burst
        = std::min(5.0, count); // docs/protocol.md: burst of 5, never above the count itself
    return true;
}

RateLimiter::RateLimiter(RateLimit viewers, RateLimit elevated)
    : m_viewers(viewers)
    , m_elevated(elevated)
{ }

int RateLimiter::acquire(const std::string& userId, bool elevated, Clock::time_point now)
{
    const RateLimit& limit = elevated ? m_elevated : m_viewers;
    if (!limit.enabled)
        return 0;
    const double rate = limit.count / limit.seconds; // tokens per second
    const double capacity = std::max(1.0, limit.burst);
    std::lock_guard lock(m_mutex);
    if (m_buckets.size() > 100000) {
        // Drop buckets that are full again (idle long enough): they carry no state.
        for (auto it = m_buckets.begin(); it != m_buckets.end();) {
            const double idle = std::chrono::duration<double>(now - it->second.updated).count();
            it = (it->second.tokens + idle * rate >= capacity) ? m_buckets.erase(it)
                                                               : std::next(it);
        }
    }
    auto [it, inserted] = m_buckets.try_emplace(userId);
    Bucket& b = it->second;
    if (inserted) {
        b.tokens = capacity;
    } else {
        const double elapsed = std::chrono::duration<double>(now - b.updated).count();
        b.tokens = std::min(capacity, b.tokens + std::max(0.0, elapsed) * rate);
    }
    b.updated = now;
    if (b.tokens >= 1.0) {
        b.tokens -= 1.0;
        return 0;
    }
    return std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / rate)));
}

} // namespace livecomments::server
