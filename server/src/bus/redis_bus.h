// SPDX-License-Identifier: MIT
#pragma once

#include "bus/bus.h"
#include "bus/redis_cluster.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace livecomments::server::bus {

/// Settings of a RedisBus (defaults are the production values; tests shorten them).
struct RedisBusOptions {
    RedisEndpoint endpoint;
    std::uint32_t nodeId = 0; ///< this node's id: stamped on published events as their origin
    RedisStartupRetry startup; ///< the first connections (publisher, subscriber on a standalone)
    std::chrono::milliseconds ioTimeout { 2000 }; ///< connect / send / receive / PING answer
    std::chrono::milliseconds heartbeat { 1000 }; ///< PING an idle connection this often
    std::chrono::milliseconds reconnectBase { 100 }; ///< first reconnect delay
    std::chrono::milliseconds reconnectCap { 3000 }; ///< reconnect delays never exceed this
    std::size_t publishQueueLimit = 10000; ///< events waiting to be sent; beyond: dropped
    /// An event that cannot be sent within this time of publish() is dropped (and counted).
    std::chrono::milliseconds publishRetryWindow { 5000 };
};

/**
 * The cluster bus on Redis 7 sharded pub/sub: one channel per video (channelName()), subscribed
 * with SSUBSCRIBE only while setInterest(video, true) holds. publish() SPUBLISHes an encoded event
 * stamped with this node's id; a node never hands its own events to its handler (the publisher
 * fans out locally itself).
 *
 * Subscriber connections are read by one thread, which also PINGs them and reconnects with
 * exponential backoff + jitter, re-SSUBSCRIBEs the interesting videos and then calls the
 * reconnected handler. Publishing goes through a RedisRouter fed by a bounded queue and drained by
 * a sender thread, so publish() never blocks on Redis.
 *
 * On a standalone Redis there is one subscriber connection, kept open even without interests.
 * On a Redis Cluster (detected at start through CLUSTER SLOTS) there is one subscriber connection
 * per master that owns the slot of at least one interesting channel, opened when the first such
 * channel is wanted and closed when the last one is dropped; SPUBLISH goes to the owner of the
 * channel's slot. A -MOVED answer to SSUBSCRIBE, an unasked `sunsubscribe` push (the slot was
 * migrated) or a broken shard connection re-reads the slot map and resubscribes those channels at
 * their current owner, then hands them to the reconnected handler (gap fill from the store).
 *
 * Threading: every public method may be called from any thread. The handler and the reconnected
 * handler run on the subscriber thread and must be thread-safe and quick.
 */
class RedisBus final : public Bus {
public:
    /// Called after a reconnect with the videos (re-)subscribed, and on a cluster also for videos
    /// subscribed late (a new master connection, a moved slot); the receiver fills the gap from
    /// the store.
    using ReconnectedHandler = std::function<void(const std::vector<std::uint32_t>& videos)>;

    /**
     * Connects the publisher (the seed, its slot map and, on a cluster, every master) and, on a
     * standalone Redis, the subscriber connection, retrying per options.startup; then starts the
     * two threads. Throws std::runtime_error naming the endpoint when Redis stays unreachable.
     */
    explicit RedisBus(RedisBusOptions options);
    /// stop().
    ~RedisBus() override;
    RedisBus(const RedisBus&) = delete;
    RedisBus& operator=(const RedisBus&) = delete;

    void setHandler(Handler handler) override;
    /// Queues the event for SPUBLISH and returns at once (see publishRetryWindow).
    void publish(const BusEvent& event) override;
    void setInterest(std::uint32_t videoId, bool interested) override;
    /// Set before the first reconnect can happen (i.e. right after construction).
    void setReconnectedHandler(ReconnectedHandler handler);
    /// Stops both threads and closes the connections (idempotent).
    void stop();

    /// The publisher reaches every master and every interesting channel is subscribed on a live
    /// connection (which answered its last PING in time).
    bool healthy() const;
    /// !healthy(): events between nodes may be delayed or lost until the reconnect.
    bool degraded() const { return !healthy(); }
    /// Successful reconnects of subscriber connections after a failure (not the first connects),
    /// counting channels of a failed master subscribed at its successor (failover).
    std::uint64_t reconnects() const { return m_reconnects.load(); }
    /// Events dropped: queue full, not sent within the retry window, or rejected by Redis.
    std::uint64_t publishFailures() const { return m_publishFailures.load(); }
    /// Events received from other nodes and handed to the handler.
    std::uint64_t messagesIn() const { return m_messagesIn.load(); }
    /// Events SPUBLISHed (Redis acknowledged them).
    std::uint64_t messagesOut() const { return m_messagesOut.load(); }
    /// Received messages that could not be decoded (dropped).
    std::uint64_t decodeErrors() const { return m_decodeErrors.load(); }
    /// The videos this node is subscribed to (or will resubscribe to after a reconnect).
    std::vector<std::uint32_t> interests() const;

    /// `lc:{video:<id>}`: the hash tag puts a video's channel (and its viewer-count keys) in one
    /// cluster slot.
    static std::string channelName(std::uint32_t videoId);
    /// The wire form: "lc2 <origin> <c|d|e> <videoId> <commentId> <prevId|->\n<json>" (decode()
    /// also reads the older "lc1 …" without the link, as an unchained event).
    static std::string encode(const BusEvent& event, std::uint32_t origin);
    /// Parses encode()'s output; false when malformed.
    static bool decode(const std::string& payload, BusEvent& event, std::uint32_t& origin);
    /// The bus found a Redis Cluster at start (rather than a standalone Redis).
    bool clustered() const { return m_clustered; }
    /// Open subscriber connections (a cluster: one per master owning an interesting channel).
    std::size_t subscriberConnections() const;

private:
    struct Pending {
        std::string channel;
        std::string payload;
        std::chrono::steady_clock::time_point queued;
    };

    /// One subscriber connection (to one master) and the videos SSUBSCRIBEd on it.
    struct Shard {
        RedisEndpoint endpoint;
        std::unique_ptr<RedisConnection> connection; ///< null while reconnecting (standalone)
        std::set<std::uint32_t> videos;
        std::chrono::steady_clock::time_point lastData;
        bool pingPending = false;
    };
    /// When the next connection attempt to a master may be made.
    struct Retry {
        std::unique_ptr<Backoff> backoff;
        std::chrono::steady_clock::time_point notBefore;
        /// The last connection to it broke or could not be made: the bus is degraded and the next
        /// connection counts as a reconnect.
        bool failed = false;
    };
    /// Events of one master the sender could not deliver, retried after a backoff while the
    /// other masters' events go on (sender thread only).
    struct Parked {
        std::deque<Pending> events;
        std::unique_ptr<Backoff> backoff;
        std::chrono::steady_clock::time_point retryAt;
    };

    void subscriberLoop();
    /// Opens missing subscriber connections, subscribes unplaced videos, closes idle shards.
    void placeVideos();
    /// Opens one shard connection and subscribes `videos` on it (still wanted ones only).
    void openShard(const RedisEndpoint& endpoint);
    void failShard(const std::string& key);
    /// Moves `video` off `shard` to m_unplaced (resubscribed at its current owner); needs the lock.
    void unplaceLocked(Shard& shard, std::uint32_t video);
    Retry& retryLocked(const std::string& key);
    void readShard(const std::string& key, RedisConnection& connection);
    void heartbeat(const std::string& key, RedisConnection& connection);
    void handlePush(const std::string& key, const Poco::Redis::RedisType::Ptr& value);
    void unsolicitedUnsubscribe(const std::string& key, const std::string& channel);
    void updateSubUp();
    void publisherLoop();
    /// Moves the queued events (and the parked ones due for a retry) into `batch`; events of a
    /// master with parked events are parked behind them (per-video order). Needs m_queueMutex.
    void takeBatch(std::vector<Pending>& batch);
    /// SPUBLISHes the batch; events of an unreachable master (or answered CLUSTERDOWN, ...) are
    /// parked for that master.
    void sendBatch(std::vector<Pending>& batch);
    std::size_t dropExpired(std::deque<Pending>& queue);
    std::string ownerOf(const Pending& pending) const;
    bool waitFor(std::chrono::milliseconds delay);

    const RedisBusOptions m_options;

    // Subscriber side: m_subMutex serialises writes on shard connections with interest changes
    // and with the subscriber thread opening / closing them; only that thread reads from them.
    // Every video in m_interest is in one shard's videos or in m_unplaced.
    mutable std::mutex m_subMutex;
    bool m_clustered = false;
    SlotMap m_slots; ///< channel slot → master (a standalone Redis: the endpoint)
    bool m_slotsStale = false; ///< re-read the slot map before placing videos
    std::chrono::steady_clock::time_point m_nextRefresh; ///< subscriber thread only
    std::map<std::string, Shard> m_shards; ///< by RedisEndpoint::display()
    std::map<std::string, Retry> m_retries; ///< by RedisEndpoint::display()
    std::set<std::uint32_t> m_interest;
    std::set<std::uint32_t> m_unplaced; ///< wanted, not subscribed on any live connection
    /// Unplaced because their connection broke: subscribing them again counts as a reconnect.
    std::set<std::uint32_t> m_lost;
    std::shared_ptr<const Handler> m_handler;
    std::shared_ptr<const ReconnectedHandler> m_reconnectedHandler;

    // Publisher side.
    std::mutex m_queueMutex;
    std::condition_variable m_queueCv;
    std::deque<Pending> m_queue;
    std::unique_ptr<RedisRouter> m_pub; ///< used by the sender thread only
    std::map<std::string, Parked> m_parked; ///< by master display(); sender thread only

    std::mutex m_stopMutex;
    std::condition_variable m_stopCv;
    std::atomic<bool> m_stopping { false };
    std::atomic<bool> m_subUp { false };
    std::atomic<bool> m_pubUp { false };
    std::atomic<std::uint64_t> m_reconnects { 0 };
    std::atomic<std::uint64_t> m_publishFailures { 0 };
    std::atomic<std::uint64_t> m_messagesIn { 0 };
    std::atomic<std::uint64_t> m_messagesOut { 0 };
    std::atomic<std::uint64_t> m_decodeErrors { 0 };
    std::thread m_subThread;
    std::thread m_pubThread;
};

} // namespace livecomments::server::bus
