// SPDX-License-Identifier: MIT
#pragma once

#include "bus/bus.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

namespace livecomments::server {

/**
 * Live delivery of a clustered node in each video's chain order (docs/protocol.md "Order across
 * nodes").
 *
 * The store links every comment of a video to the one committed just before it (`prevId`), and
 * its commit order is the video's id order. Comments reach a node from two sides: its own commits
 * (at once) and the bus (other nodes' commits, a moment later). Per tracked video this class keeps
 * `newest`, the chain position delivered so far, and releases a comment as soon as its predecessor
 * is at or below `newest`, then any held successors. A comment whose predecessor has not arrived
 * is held; if `newest` has not reached the predecessor `gapWait` later, the missing part is read
 * from the store (the `fill` callback: the chain head first, then every comment above `newest`)
 * and released in id order, then the held ones. So every viewer gets id order, with no fixed
 * delay: only a comment that overtook its predecessor waits, and at most until the gap is filled.
 *
 * The same fill serves every other way a node can miss part of a chain: expect() (the store's
 * head is ahead: the periodic sweep, a first viewer), requestFill() (the bus reconnected) and the
 * end of a video (the `ended` event waits for a fill, so no comment follows it).
 *
 * Dropped as duplicates: a comment at or below `newest` (delivered, deleted, or committed before
 * the video was tracked), a comment held already, an id delivered already (the newest
 * kRemembered ids are remembered). A comment outside the chain (`chained` false: a cross-region
 * copy) is released at once and counted in late() when a larger id went out before it; the
 * client places it by id.
 *
 * Deleted events go out at once; a deleted comment still held or not yet arrived is never
 * released (it only advances the chain). Events of a video that is not tracked (no local viewers)
 * pass straight through.
 *
 * Threading: every public method from any thread. A thread of this class runs the fills (store
 * reads, without the mutex) and the timers. `release` runs with the internal mutex held (that is
 * what keeps the releases of a video in order): it must be quick and must not call back into this
 * object. `fill` runs on this class' thread without the mutex.
 */
class ChainDelivery {
public:
    using Release = std::function<void(const bus::BusEvent&)>;
    /// What the store holds above `afterId`: `head` (CommentStore::chainHead(), read first), then
    /// the comments with id > afterId, oldest first. nullopt: the store failed (retried later).
    struct Fill {
        std::uint64_t head = 0;
        std::vector<bus::BusEvent> comments;
    };
    using FillFn = std::function<std::optional<Fill>(std::uint32_t videoId, std::uint64_t afterId)>;
    static constexpr std::size_t kRemembered = 20000;

    /// `gapWait`: how long a missing predecessor is waited for before the store fills the gap
    /// (0: at once).
    ChainDelivery(std::chrono::milliseconds gapWait, Release release, FillFn fill);
    ~ChainDelivery(); ///< stop()
    ChainDelivery(const ChainDelivery&) = delete;
    ChainDelivery& operator=(const ChainDelivery&) = delete;

    /// Starts ordering `videoId` at chain position `head` (the store's chain head: comments up to
    /// it are history). Nothing when the video is tracked already.
    void track(std::uint32_t videoId, std::uint64_t head);
    bool tracking(std::uint32_t videoId) const;
    /// Forgets a video (no local viewers left): its held comments are released first.
    void forget(std::uint32_t videoId);
    /// Hands an event over; false when it was dropped as a duplicate.
    bool submit(const bus::BusEvent& event);
    /// The store's chain head of `videoId` is `head`: if the video's delivered position has not
    /// reached it `gapWait` from now, the gap is filled from the store.
    void expect(std::uint32_t videoId, std::uint64_t head);
    /// Fills `videoId` from the store at once (events may have been lost, e.g. the bus
    /// reconnected).
    void requestFill(std::uint32_t videoId);
    /// The delivered chain position of `videoId` (0: not tracked or nothing yet).
    std::uint64_t newest(std::uint32_t videoId) const;
    /// Releases everything held, stops the thread. Idempotent; later events pass straight through.
    void stop();

    /// Comments released after a larger id of their video (only unchained ones can be).
    std::uint64_t late() const;
    /// Duplicates dropped.
    std::uint64_t duplicates() const;
    /// Store fills run because a held comment's predecessor had not arrived within `gapWait`.
    std::uint64_t chainGapFills() const;
    /// Comments the store fills delivered that had not reached this node otherwise (whatever
    /// started the fill).
    std::uint64_t filledComments() const;

private:
    struct Held {
        bus::BusEvent event;
        bool deleted = false; ///< advances the chain only
    };
    struct Video {
        std::uint64_t newest = 0; ///< chain position delivered so far
        std::map<std::uint64_t, Held> held; ///< id → comment waiting for its predecessor
        std::set<std::uint64_t> seen; ///< newest kRemembered ids released or skipped
        std::set<std::uint64_t> tombstones; ///< deleted before their comment arrived
        std::uint64_t expected = 0; ///< a chain id known to be committed (fill if not reached)
        std::int64_t due = 0; ///< steady ms of the next fill check; 0: none
        bool forced = false; ///< fill at `due` whatever the position
        std::optional<bus::BusEvent> ending; ///< VideoEnded waiting for its fill
        bool ended = false; ///< the video ended: everything after is a duplicate
        std::uint64_t generation = 0; ///< tells a re-tracked video from the one a fill was for
    };
    /// A fill the thread runs (outside the mutex) and then integrates.
    struct Job {
        std::uint32_t videoId = 0;
        std::uint64_t generation = 0;
        std::uint64_t after = 0; ///< the chain position when the fill started
        bool chainGap = false; ///< a held comment was waiting for its predecessor
        bool ending = false; ///< the video's end was waiting for this fill
    };
    bool offerLocked(Video& video, const bus::BusEvent& event);
    /// `advance`: the comment is in the chain (moves `newest`).
    void releaseLocked(Video& video, const bus::BusEvent& event, bool deleted, bool advance);
    void drainLocked(Video& video);
    void armLocked(Video& video, std::uint32_t videoId, std::int64_t at);
    void integrateLocked(Video& video, const Job& job, const std::optional<Fill>& fill);
    /// Releases what is held in id order, then the pending end (forget, stop, the end's fill).
    void releaseAllLocked(Video& video);
    static bool gapLocked(const Video& video);
    /// Collects the due fill checks; sets `next` to the earliest check still to come.
    std::vector<Job> dueJobsLocked(std::int64_t now, std::int64_t& next);
    void run();

    const std::chrono::milliseconds m_gapWait;
    const Release m_release;
    const FillFn m_fill;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::unordered_map<std::uint32_t, Video> m_videos;
    std::set<std::uint32_t> m_armed; ///< videos with a fill check due
    std::uint64_t m_generations = 0;
    std::uint64_t m_late = 0;
    std::uint64_t m_duplicates = 0;
    std::uint64_t m_chainGapFills = 0;
    std::uint64_t m_filled = 0;
    bool m_stopping = false;
    std::thread m_thread;
};

} // namespace livecomments::server
