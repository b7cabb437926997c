// SPDX-License-Identifier: MIT
#pragma once

#include "bus/redis_cluster.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace livecomments::server::bus {

/// Settings of ViewerCounts.
struct ViewerCountsOptions {
    RedisEndpoint endpoint;
    std::uint32_t nodeId = 0;
    /// PX of this node's count keys: a dead node's counts vanish within this time.
    std::chrono::milliseconds ttl { 10000 };
    std::chrono::milliseconds refreshEvery { 3000 }; ///< re-SET every non-zero count this often
    std::chrono::milliseconds flushDelay { 200 }; ///< a changed count reaches Redis within this
    RedisStartupRetry startup;
    std::chrono::milliseconds ioTimeout { 2000 };
};

/**
 * Cluster-wide viewer counts. Each node writes its local count of a video as
 * `lc:viewers:{video:<id>}:<node>` = count (SET PX ttl) and adds its id to the set
 * `lc:viewers:{video:<id>}` (PEXPIRE ttl); clusterCount() sums the counts of the set's members
 * whose key still exists, so a dead node's count disappears when its key expires — no clocks are
 * compared, Redis expires the key. The `{video:<id>}` hash tag keeps a video's keys (and its bus
 * channel) in one cluster slot, so one MGET reads them all.
 *
 * Threading: thread-safe. setLocalCount() only records the count; a background thread writes
 * changed counts within flushDelay and refreshes all of them every refreshEvery (and reconnects
 * with backoff while Redis is away). clusterCount()/clusterCounts() do two pipelined round trips
 * on the caller's thread.
 */
class ViewerCounts {
public:
    /// Connects (retrying per options.startup; throws std::runtime_error when unreachable) and
    /// starts the writer thread.
    explicit ViewerCounts(ViewerCountsOptions options);
    /// release().
    ~ViewerCounts();
    ViewerCounts(const ViewerCounts&) = delete;
    ViewerCounts& operator=(const ViewerCounts&) = delete;

    /// This node's number of viewers of `videoId` (0 removes this node's entry).
    void setLocalCount(std::uint32_t videoId, std::uint64_t count);
    /// Writes pending changes now; false when Redis could not be reached.
    bool flush();
    /// Sum over live nodes (this one included, as last written); empty when Redis is unreachable.
    std::optional<std::uint64_t> clusterCount(std::uint32_t videoId);
    /// clusterCount() for many videos in the same two round trips; empty when unreachable.
    std::optional<std::map<std::uint32_t, std::uint64_t>> clusterCounts(
        const std::vector<std::uint32_t>& videoIds);
    /// Stops the thread and deletes this node's keys (idempotent).
    void release();
    /// Stops the thread and leaves the keys to expire, as a crashed node would (for tests).
    void abandon();
    /// Writes that failed because Redis was unreachable.
    std::uint64_t writeFailures() const { return m_writeFailures.load(); }

    /// `lc:viewers:{video:<id>}:<node>`: one node's count.
    static std::string countKey(std::uint32_t videoId, std::uint32_t nodeId);
    /// `lc:viewers:{video:<id>}`: the ids of the nodes that have written a count.
    static std::string nodesKey(std::uint32_t videoId);

private:
    void writerLoop();
    /// Sends the given videos' counts; needs m_ioMutex held.
    void writeCounts(const std::map<std::uint32_t, std::uint64_t>& counts);
    RedisRouter& redis();

    const ViewerCountsOptions m_options;

    std::mutex m_stateMutex; ///< guards the fields below up to m_ioMutex
    std::map<std::uint32_t, std::uint64_t> m_local; ///< non-zero counts
    std::map<std::uint32_t, std::uint64_t> m_dirty; ///< changed since the last write (0 = remove)
    bool m_stopping = false;
    std::condition_variable m_cv;

    std::mutex m_ioMutex; ///< serialises use of m_redis
    /// Every key of one video shares the hash tag {video:<id>}, so one slot: per-video commands
    /// (MGET included) are valid on a Redis Cluster.
    std::unique_ptr<RedisRouter> m_redis;

    std::atomic<std::uint64_t> m_writeFailures { 0 };
    std::atomic<bool> m_released { false };
    std::thread m_thread;
};

} // namespace livecomments::server::bus
