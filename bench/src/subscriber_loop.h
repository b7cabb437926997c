// SPDX-License-Identifier: MIT
#pragma once

#include "histogram.h"
#include "http_util.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace livecomments::bench {

/// State shared between the main thread and every subscriber loop.
/// Threading: all members are atomics; the main thread writes the window and `stop`,
/// loops update the counters.
struct SharedState {
    explicit SharedState(std::size_t videoCount);

    /// Deliveries of comments stamped inside [windowStartNs, windowEndNs) are measured.
    std::atomic<std::int64_t> windowStartNs { INT64_MAX };
    std::atomic<std::int64_t> windowEndNs { INT64_MAX };
    std::atomic<bool> stop { false };

    std::atomic<std::uint64_t> connected { 0 }; ///< streams that got 200 + headers (ever)
    std::atomic<std::uint64_t> failed { 0 }; ///< connects or requests that did not get 200
    std::atomic<std::uint64_t> disconnected { 0 }; ///< streams closed after they were open
    std::atomic<std::uint64_t> delivered { 0 }; ///< measured deliveries so far
    std::unique_ptr<std::atomic<std::uint32_t>[]> openPerVideo; ///< open streams per video slot
    std::size_t videoCount;
};

/// Result of one loop, read by the main thread after join().
struct LoopResult {
    Histogram latency; ///< delivery latency (µs) of measured deliveries
    std::uint64_t delivered = 0; ///< measured deliveries
    std::uint64_t outsideWindow = 0; ///< deliveries of warm-up comments (not measured)
    std::uint64_t arrivedInWindow = 0; ///< deliveries (of any comment) read inside the window
    std::uint64_t resets = 0; ///< `event: reset` seen
    std::uint64_t shed = 0; ///< Σ over streams of the last `stats` "skipped" (valid after join())
    std::uint64_t bytes = 0; ///< body bytes read
    std::map<std::string, std::uint64_t> errors; ///< failure reason → count
};

/// One epoll thread that opens a share of the SSE subscribers and reads them until stopped.
/// Every subscriber socket is bound to a 127.0.0.x source address before connect() so that
/// many thousands of streams do not exhaust one address's ephemeral ports.
/// Threading: construct and call start()/join() on the main thread; everything else runs on the
/// loop's own thread; talk to it only through SharedState.
class SubscriberLoop {
public:
    struct Config {
        Endpoint endpoint;
        unsigned sources = 16; ///< spread over 127.0.0.1 .. 127.0.0.N
        std::size_t maxPending = 256; ///< concurrent connects not yet answered
        std::vector<std::string> requests; ///< the full GET request per video slot
    };
    /// `subscribers` lists (global index, video slot) pairs this loop opens.
    SubscriberLoop(Config config, std::vector<std::pair<std::size_t, std::size_t>> subscribers,
        SharedState& shared);
    ~SubscriberLoop();
    SubscriberLoop(const SubscriberLoop&) = delete;
    SubscriberLoop& operator=(const SubscriberLoop&) = delete;

    void start();
    /// Waits for the thread (after SharedState::stop was set); then result() is valid.
    void join();
    const LoopResult& result() const { return m_result; }

private:
    struct Subscriber;
    void run();
    void startConnects();
    void onWritable(Subscriber& s);
    void onReadable(Subscriber& s);
    bool consume(Subscriber& s, std::string_view data);
    void consumeBody(Subscriber& s, std::string_view data);
    void onLine(Subscriber& s, std::string_view line);
    void fail(Subscriber& s, const std::string& reason);
    void closeSubscriber(Subscriber& s);

    Config m_config;
    SharedState& m_shared;
    std::vector<Subscriber> m_subs;
    std::size_t m_nextToStart = 0;
    std::size_t m_pending = 0;
    int m_epoll = -1;
    std::int64_t m_now = 0;
    std::int64_t m_windowStart = 0;
    std::int64_t m_windowEnd = 0;
    std::uint64_t m_deliveredSinceFlush = 0;
    LoopResult m_result;
    std::thread m_thread;
};

} // namespace livecomments::bench
