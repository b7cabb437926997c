// SPDX-License-Identifier: MIT
#pragma once

#include "model/frame.h"

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace livecomments::server::cache {

/// One comment as kept in memory: its JSON and its encoded SSE frame (shared with the engine).
struct CachedComment {
    std::uint64_t id = 0;
    std::string json;
    FramePtr frame;
};

/**
 * Per live video, a ring of its newest comments, already encoded. Serves resumes (replay after
 * a Last-Event-ID) and the newest history page without touching the store.
 *
 * Each ring knows its floor: it holds EVERY comment of the video with id > floor. A ring created
 * for a video made by this process has floor 0 (complete); one created on the first comment seen
 * after start has floor = that id − 1; evicting the oldest entry raises the floor to its id.
 * Callers fall back to the store when a question reaches below the floor.
 *
 * Updates come in commit order from the store's writer thread (through the bus handler), so a
 * ring never misses a committed comment above its floor.
 *
 * Threading: thread-safe (one mutex; copies out under it).
 */
class RecentCache {
public:
    explicit RecentCache(std::size_t capacityPerVideo);

    /// A new video with no comments: its ring is complete from the start.
    void createEmpty(std::uint32_t videoId);
    /// Appends a committed comment (ids arrive increasing; an older id is inserted in order).
    void append(std::uint32_t videoId, CachedComment comment);
    void remove(std::uint32_t videoId, std::uint64_t commentId);
    /// Forget a video (ended).
    void drop(std::uint32_t videoId);

    /// If the ring covers everything with id > afterId: fills `out` (oldest first, at most
    /// `limit`; `total` = how many there are) and returns true.
    bool after(std::uint32_t videoId, std::uint64_t afterId, std::size_t limit,
        std::vector<CachedComment>& out, std::size_t& total) const;
    /// If the ring can answer the newest page of `limit`: fills `out` newest first, returns true.
    bool newest(std::uint32_t videoId, std::size_t limit, std::vector<CachedComment>& out) const;

private:
    struct Ring {
        std::uint64_t floor = 0;
        std::deque<CachedComment> items; // ascending ids
    };
    std::size_t m_capacity;
    mutable std::mutex m_mutex;
    std::unordered_map<std::uint32_t, Ring> m_rings;
};

} // namespace livecomments::server::cache
