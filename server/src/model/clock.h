// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>

namespace livecomments::server {

/// Wall-clock milliseconds since the Unix epoch (system_clock): for timestamps that are stored or
/// sent (created_at, snowflake ids, retention cut-offs). May jump when the clock is set.
inline std::int64_t wallClockMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// Monotonic milliseconds (steady_clock, arbitrary origin): for deadlines and intervals only
/// (heartbeats, flush timeouts); never stored, never compared with wallClockMs().
inline std::int64_t steadyMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

} // namespace livecomments::server
