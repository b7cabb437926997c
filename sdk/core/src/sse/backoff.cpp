// SPDX-License-Identifier: MIT
//
// Reconnect backoff: "exponential backoff with full jitter" (AWS Architecture Blog, "Exponential
// Backoff And Jitter", 2015): sleep = random_between(0, min(cap, base * 2^attempt)). The base
// starts at Options::initial and is replaced by the server's `retry:` value (WHATWG HTML §9.2.6:
// the field sets the event stream's reconnection time). Jitter spreads a reconnect storm after a
// node restart; the floor keeps a client from hammering a server with near-zero delays.
#include "livecomments/backoff.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <utility>

namespace livecomments {
namespace {

Backoff::Random defaultRandom()
{
    std::uint64_t seed = 0;
    try {
        std::random_device device;
        seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    } catch (...) {
        // random_device may throw when no entropy source exists; the clock is good enough to
        // de-correlate clients.
    }
    seed ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    auto engine = std::make_shared<std::mt19937_64>(seed);
    return [engine]() {
        // 53 random bits -> [0, 1) exactly; std::uniform_real_distribution may return 1.0 with
        // some standard libraries.
        return static_cast<double>((*engine)() >> 11) * (1.0 / 9007199254740992.0);
    };
}

std::chrono::milliseconds nonNegative(std::chrono::milliseconds value)
{
    return std::max(value, std::chrono::milliseconds::zero());
}

} // namespace

Backoff::Backoff()
    : Backoff(Options {})
{ }

Backoff::Backoff(Options options, Random random)
    : m_options(options)
    , m_random(random ? std::move(random) : defaultRandom())
    , m_base(nonNegative(options.initial))
{
    m_options.cap = nonNegative(m_options.cap);
    m_options.minimum = nonNegative(m_options.minimum);
}

std::chrono::milliseconds Backoff::nextDelay()
{
    // Ceiling = min(cap, base * 2^attempt), computed in double so a large attempt count or a huge
    // `retry:` value cannot overflow.
    const double cap = static_cast<double>(m_options.cap.count());
    const double exponential
        = static_cast<double>(m_base.count()) * std::ldexp(1.0, std::min(m_attempt, 1023));
    const double ceiling = std::min(cap, exponential);

    double r = 0.0;
    try {
        r = m_random();
    } catch (...) {
        r = 0.0; // an injected source misbehaving must not throw out of the SDK
    }
    if (!(r >= 0.0)) // also catches NaN
        r = 0.0;
    r = std::min(r, 1.0);

    if (m_attempt < std::numeric_limits<int>::max())
        ++m_attempt;
    const auto jittered = std::chrono::milliseconds(std::llround(r * ceiling));
    return std::max(jittered, m_options.minimum);
}

void Backoff::setBase(std::chrono::milliseconds base)
{
    m_base = nonNegative(base);
}

void Backoff::onConnected(std::chrono::steady_clock::time_point now)
{
    m_connected = true;
    m_connectedAt = now;
}

void Backoff::onDisconnected(std::chrono::steady_clock::time_point now)
{
    // Only a connection that stayed up for resetAfter proves the server healthy again; a server
    // that accepts and immediately drops connections keeps the delays growing.
    if (m_connected && now - m_connectedAt >= m_options.resetAfter)
        m_attempt = 0;
    m_connected = false;
}

void Backoff::reset()
{
    m_attempt = 0;
}

int Backoff::attempt() const
{
    return m_attempt;
}

} // namespace livecomments
