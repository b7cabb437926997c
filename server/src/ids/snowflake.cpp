// SPDX-License-Identifier: MIT
#include "ids/snowflake.h"

#include "model/clock.h"

#include <algorithm>
#include <stdexcept>

namespace livecomments::server::ids {

SnowflakeGenerator::SnowflakeGenerator(std::uint32_t nodeId, std::function<std::int64_t()> clock)
    : m_nodeId(nodeId)
    , m_clock(std::move(clock))
{
    if (nodeId > kMaxNodeId)
        throw std::invalid_argument("node id must be 0..1023");
    if (!m_clock) {
        m_clock = wallClockMs;
    }
}

std::uint64_t SnowflakeGenerator::next()
{
    std::lock_guard lock(m_mutex);
    return advanceLocked(m_clock() - kEpochUnixMs);
}

std::uint64_t SnowflakeGenerator::nextAfter(std::uint64_t floor)
{
    std::lock_guard lock(m_mutex);
    const std::int64_t floorMs = snowflakeMs(floor);
    const std::uint64_t id = advanceLocked(std::max(m_clock() - kEpochUnixMs, floorMs));
    if (id > floor)
        return id;
    // Same millisecond as `floor`, but a smaller node id or sequence number: the next millisecond
    // beats it whatever the node. advanceLocked() only moves forward, so jump there explicitly.
    m_lastMs = floorMs + 1;
    m_sequence = 0;
    return compose();
}

std::uint64_t SnowflakeGenerator::advanceLocked(std::int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (ms > m_lastMs) {
        m_lastMs = ms;
        m_sequence = 0;
    } else if (++m_sequence >= (1u << kSequenceBits)) {
        // Clock stepped back or this millisecond is exhausted: borrow the next logical one.
        ++m_lastMs;
        m_sequence = 0;
    }
    return compose();
}

std::uint64_t SnowflakeGenerator::compose() const
{
    return (static_cast<std::uint64_t>(m_lastMs) << (kNodeBits + kSequenceBits))
        | (static_cast<std::uint64_t>(m_nodeId) << kSequenceBits) | m_sequence;
}

} // namespace livecomments::server::ids
