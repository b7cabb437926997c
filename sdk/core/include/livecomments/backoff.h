// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <functional>

namespace livecomments {

/// Reconnect delay policy: exponential backoff with full jitter, injectable random source
/// (testable). delay(n) = random01() * min(cap, base * 2^n), floored at `minimum`; base = initial,
/// or the server's `retry:` value once one was received; the attempt counter resets once a
/// connection has stayed up `resetAfter`.
///
/// Threading: not thread-safe; owned and called by one connection's thread.
class Backoff {
public:
    /// Tuning knobs. All durations must be non-negative.
    struct Options {
        std::chrono::milliseconds initial { 1000 }; ///< base before any `retry:`
        std::chrono::milliseconds cap { 30000 }; ///< upper bound of the un-jittered delay
        std::chrono::milliseconds minimum { 100 }; ///< floor of every returned delay
        std::chrono::milliseconds resetAfter { 60000 }; ///< up this long => attempts reset
    };
    using Random = std::function<double()>; ///< uniform in [0,1); default: a seeded std::mt19937_64
    /// Creates a policy with default Options and a seeded std::mt19937_64.
    /// (Not `Options options = {}`: GCC and Clang reject a `{}` default argument of a
    /// nested type with member initializers inside its enclosing class, so this overload gives the
    /// same call syntax.)
    Backoff();
    /// Creates a policy; an empty @p random selects a seeded std::mt19937_64.
    explicit Backoff(Options options, Random random = {});

    std::chrono::milliseconds nextDelay(); ///< for the next attempt; increments attempt()
    void setBase(std::chrono::milliseconds base); ///< `retry:` from the server
    void onConnected(std::chrono::steady_clock::time_point now); ///< a connection was established
    /// The connection ended; resets attempts if it was up >= resetAfter.
    void onDisconnected(std::chrono::steady_clock::time_point now);
    void reset(); ///< attempt() back to 0
    int attempt() const; ///< number of nextDelay() calls since the last reset

private:
    Options m_options;
    Random m_random;
    std::chrono::milliseconds m_base;
    int m_attempt = 0;
    bool m_connected = false;
    std::chrono::steady_clock::time_point m_connectedAt {};
};

} // namespace livecomments
