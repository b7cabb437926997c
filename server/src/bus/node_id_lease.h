// SPDX-License-Identifier: MIT
#pragma once

#include "bus/redis_cluster.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace livecomments::server::bus {

/// Settings of a NodeIdLease.
struct NodeIdLeaseOptions {
    RedisEndpoint endpoint;
    /// --node-id: register exactly this id (a live duplicate is an error); empty: lease a free one.
    std::optional<std::uint32_t> explicitId;
    std::chrono::milliseconds ttl { 10000 }; ///< the key's PX: how long a dead holder blocks the id
    std::chrono::milliseconds renewEvery { 3000 };
    RedisStartupRetry startup;
    std::chrono::milliseconds ioTimeout { 2000 };
};

/**
 * A node id 0..1023 (the snowflake node field) held in Redis as `lc:node:<id>` = a random token,
 * SET NX PX ttl and renewed by a background thread while it is held. Two live leases never hold the
 * same id: acquisition is SET NX, and renewal only extends the key while it still holds this
 * lease's token (a Lua compare-and-PEXPIRE).
 *
 * Threading: the public methods are thread-safe; the lost handler runs on the renewal thread.
 */
class NodeIdLease {
public:
    /// Node ids are 10 bits: 0..kMaxNodeIds-1.
    static constexpr std::uint32_t kMaxNodeIds = 1024;

    /**
     * Connects (retrying per options.startup) and acquires the id, then starts renewing.
     * Throws std::runtime_error when Redis is unreachable, when the explicit id is held by another
     * live node (the message names the id), when it is out of range, or when all ids are taken.
     */
    explicit NodeIdLease(NodeIdLeaseOptions options);
    /// release().
    ~NodeIdLease();
    NodeIdLease(const NodeIdLease&) = delete;
    NodeIdLease& operator=(const NodeIdLease&) = delete;

    std::uint32_t nodeId() const { return m_nodeId; }
    /// False once the lease was lost (another holder owns the key) or released.
    bool valid() const { return m_valid.load(); }
    /**
     * Called once (on the renewal thread) when the key turned out to be held by another token,
     * i.e. two nodes may now generate ids with the same node field: the node should stop taking
     * writes (the server exits).
     */
    void setLostHandler(std::function<void(std::uint32_t nodeId)> handler);
    /// Stops renewing and deletes the key if it still holds this lease's token (idempotent).
    void release();
    /// Stops renewing and leaves the key to expire, as a crashed holder would (for tests).
    void abandon();
    /// Renewals that failed because Redis was unreachable.
    std::uint64_t renewFailures() const { return m_renewFailures.load(); }

    /// `lc:node:<id>`.
    static std::string keyFor(std::uint32_t nodeId);

private:
    bool tryAcquire(std::uint32_t id);
    void renewLoop();

    const NodeIdLeaseOptions m_options;
    const std::string m_token;
    std::uint32_t m_nodeId = 0;
    std::mutex m_mutex; ///< guards m_redis and m_lostHandler
    /// Routes the lease key to the master owning its slot (a Redis Cluster) or to the one Redis.
    std::unique_ptr<RedisRouter> m_redis;
    std::function<void(std::uint32_t)> m_lostHandler;
    std::condition_variable m_cv;
    bool m_stopping = false; ///< guarded by m_mutex
    std::atomic<bool> m_valid { false };
    std::atomic<std::uint64_t> m_renewFailures { 0 };
    std::thread m_thread;
};

} // namespace livecomments::server::bus
