// SPDX-License-Identifier: MIT
#pragma once

#include "bus/bus.h"
#include "bus/redis_connection.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
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
    RedisStartupRetry startup; ///< the first connection of each of the two connections
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
 * Two connections: a subscriber connection read by its own thread (which also PINGs it and
 * reconnects with exponential backoff + jitter, re-SSUBSCRIBEs every interesting video and then
 * calls the reconnected handler), and a publishing connection fed by a bounded queue and drained
 * by a sender thread, so publish() never blocks on Redis.
 *
 * Threading: every public method may be called from any thread. The handler and the reconnected
 * handler run on the subscriber thread and must be thread-safe and quick.
 */
class RedisBus final : public Bus {
public:
    /// Called after a reconnect with the videos (re-)subscribed; the receiver fills the gap
    /// from the store.
    using ReconnectedHandler = std::function<void(const std::vector<std::uint32_t>& videos)>;

    /**
     * Connects both connections (retrying per options.startup) and starts the two threads.
     * Throws std::runtime_error naming the endpoint when Redis stays unreachable.
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

    /// Both connections are up (the subscriber one answered its last PING in time).
    bool healthy() const;
    /// !healthy(): events between nodes may be delayed or lost until the reconnect.
    bool degraded() const { return !healthy(); }
    /// Successful reconnects of the subscriber connection (not counting the first connect).
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

private:
    struct Pending {
        std::string channel;
        std::string payload;
        std::chrono::steady_clock::time_point queued;
    };

    void subscriberLoop();
    bool reconnectSubscriber(Backoff& backoff);
    void dropSubscriber();
    void handlePush(const Poco::Redis::RedisType::Ptr& value);
    void publisherLoop();
    bool sendBatch(std::vector<Pending>& batch);
    std::size_t dropExpired(std::deque<Pending>& queue);
    bool waitFor(std::chrono::milliseconds delay);

    const RedisBusOptions m_options;

    // Subscriber side: m_subMutex serialises writes on m_sub with interest changes and with the
    // subscriber thread swapping the connection; only that thread reads from m_sub.
    mutable std::mutex m_subMutex;
    std::unique_ptr<RedisConnection> m_sub;
    std::set<std::uint32_t> m_interest;
    std::shared_ptr<const Handler> m_handler;
    std::shared_ptr<const ReconnectedHandler> m_reconnectedHandler;

    // Publisher side.
    std::mutex m_queueMutex;
    std::condition_variable m_queueCv;
    std::deque<Pending> m_queue;
    std::unique_ptr<RedisConnection> m_pub; ///< used by the sender thread only

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
