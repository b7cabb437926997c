// SPDX-License-Identifier: MIT
#pragma once

#include "bus/bus.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

namespace livecomments::server {

/**
 * The per-video reorder hold of a clustered node (docs/protocol.md "Order across nodes").
 *
 * Comments reach a node from two sides: its own commits (at once) and the bus (other nodes'
 * commits, tens of milliseconds later). Their snowflake ids are minted by different nodes, so a
 * comment with a smaller id can arrive after a larger one. Every comment is held until
 * `hold` after the timestamp in its id and then released in id order: when every comment reaches
 * every node within `hold` of its minting (mint → commit → bus), every viewer sees id order.
 * A comment that arrives later than that, after a larger id of its video was released, is still
 * released at once (never lost) and counted in late().
 *
 * Duplicates (the bus may repeat an event; a gap fill overlaps live events) are dropped by id: the
 * ids released per video are remembered (the newest kRemembered of them).
 *
 * Deleted / VideoEnded events release the video's held comments first, then themselves.
 *
 * Threading: submit() from any thread; a thread of this class releases due comments. `release`
 * runs with the internal mutex held (that is what keeps the releases of a video in order): it
 * must be quick and must not call back into this object.
 */
class OrderedDelivery {
public:
    using Release = std::function<void(const bus::BusEvent&)>;
    static constexpr std::size_t kRemembered = 20000;

    /// `hold` 0: every event is released at once (dedupe only).
    OrderedDelivery(std::chrono::milliseconds hold, Release release);
    ~OrderedDelivery(); ///< stop()
    OrderedDelivery(const OrderedDelivery&) = delete;
    OrderedDelivery& operator=(const OrderedDelivery&) = delete;

    /// Hands an event over; false when it is a comment already released or held (a duplicate).
    bool submit(const bus::BusEvent& event);
    /// Whether `commentId` of `videoId` was released already.
    bool released(std::uint32_t videoId, std::uint64_t commentId) const;
    /// The largest comment id released for the video (0: none).
    std::uint64_t newestReleased(std::uint32_t videoId) const;
    /// Forgets a video (ended, or no viewers left): its held comments are released first.
    void forget(std::uint32_t videoId);
    /// Releases everything held and stops the thread. Idempotent.
    void stop();

    /// Comments released after a larger id of their video (arrived too late for the hold).
    std::uint64_t late() const;
    /// Duplicates dropped.
    std::uint64_t duplicates() const;

private:
    struct Video {
        std::map<std::uint64_t, std::pair<bus::BusEvent, std::int64_t>>
            held; // id → (event, due ms)
        std::set<std::uint64_t> released; // newest kRemembered ids
        std::uint64_t newest = 0;
    };
    void run();
    void releaseLocked(Video& video, const bus::BusEvent& event);
    void releaseDueLocked(Video& video, std::int64_t nowMs, bool all);

    const std::chrono::milliseconds m_hold;
    const Release m_release;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::unordered_map<std::uint32_t, Video> m_videos;
    std::size_t m_heldCount = 0;
    std::uint64_t m_late = 0;
    std::uint64_t m_duplicates = 0;
    bool m_stopping = false;
    std::thread m_thread;
};

} // namespace livecomments::server
