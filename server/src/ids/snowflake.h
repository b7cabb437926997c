// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>

namespace livecomments::server::ids {

/// Milliseconds of the epoch 2024-01-01T00:00:00Z since the Unix epoch.
inline constexpr std::int64_t kEpochUnixMs = 1704067200000LL;
inline constexpr int kNodeBits = 10;
inline constexpr int kSequenceBits = 12;
inline constexpr std::uint32_t kMaxNodeId = (1u << kNodeBits) - 1;

/// Milliseconds since kEpochUnixMs encoded in an id.
inline std::int64_t snowflakeMs(std::uint64_t id)
{
    return static_cast<std::int64_t>(id >> (kNodeBits + kSequenceBits));
}
/// Unix milliseconds an id was generated at.
inline std::int64_t snowflakeUnixMs(std::uint64_t id)
{
    return snowflakeMs(id) + kEpochUnixMs;
}
/// The smallest id that can be generated at `unixMs` (any node, sequence 0). Clamped at 0.
inline std::uint64_t snowflakeFloorForUnixMs(std::int64_t unixMs)
{
    const std::int64_t ms = unixMs - kEpochUnixMs;
    return ms <= 0 ? 0 : static_cast<std::uint64_t>(ms) << (kNodeBits + kSequenceBits);
}

/**
 * Snowflake id generator (docs/protocol.md "Identifiers"): `ms since 2024-01-01 UTC << 22 | node <<
 * 12 | sequence`.
 *
 * Ids are strictly increasing per generator even when the wall clock steps backwards: the
 * generator never uses a millisecond lower than the last one it used, and when the 4096
 * sequence numbers of a millisecond run out it borrows the next millisecond (logical time runs
 * ahead of the wall clock until the clock catches up).
 *
 * Threading: next() and nextAfter() are thread-safe (one mutex).
 */
class SnowflakeGenerator {
public:
    /// `clock` returns Unix milliseconds; the default reads the system clock. Injectable for tests.
    explicit SnowflakeGenerator(std::uint32_t nodeId, std::function<std::int64_t()> clock = {});

    /// A new id, greater than every id this generator returned before.
    std::uint64_t next();
    /// A new id of this node, greater than `floor` (an id of any node) and than every id this
    /// generator returned before. Its millisecond is the later of the clock and `floor`'s (+1
    /// when this node's bits cannot beat `floor` within that millisecond); the generator keeps
    /// that logical time, so it never mints a duplicate. The store uses it when another node
    /// (whose clock runs ahead) committed a larger id of the video first (docs/protocol.md
    /// "Order across nodes").
    std::uint64_t nextAfter(std::uint64_t floor);

    std::uint32_t nodeId() const { return m_nodeId; }

private:
    /// Advances to millisecond `ms` (or the next sequence number of the current one) and
    /// composes the id. Called with m_mutex held.
    std::uint64_t advanceLocked(std::int64_t ms);
    /// The id of the current logical millisecond and sequence number (m_mutex held).
    std::uint64_t compose() const;

    std::uint32_t m_nodeId;
    std::function<std::int64_t()> m_clock;
    std::mutex m_mutex;
    std::int64_t m_lastMs = -1;
    std::uint32_t m_sequence = 0;
};

} // namespace livecomments::server::ids
