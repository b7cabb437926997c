// SPDX-License-Identifier: MIT
#include "service/ordered_delivery.h"

#include "ids/snowflake.h"
#include "model/clock.h"

#include <algorithm>

namespace livecomments::server {

OrderedDelivery::OrderedDelivery(std::chrono::milliseconds hold, Release release)
    : m_hold(hold)
    , m_release(std::move(release))
{
    if (m_hold.count() > 0)
        m_thread = std::thread([this] { run(); });
}

OrderedDelivery::~OrderedDelivery()
{
    stop();
}

bool OrderedDelivery::submit(const bus::BusEvent& event)
{
    std::lock_guard lock(m_mutex);
    Video& video = m_videos[event.videoId];
    if (event.type != bus::BusEvent::Type::Comment) {
        // A deletion or the end must not overtake the comments before it.
        releaseDueLocked(video, 0, true);
        m_release(event);
        if (event.type == bus::BusEvent::Type::VideoEnded)
            m_videos.erase(event.videoId);
        return true;
    }
    if (video.released.count(event.commentId) || video.held.count(event.commentId)) {
        ++m_duplicates;
        return false;
    }
    if (m_hold.count() == 0 || m_stopping) {
        releaseLocked(video, event);
        return true;
    }
    const std::int64_t now = wallClockMs();
    // Due `hold` after the id's time; an id from a node whose clock runs ahead is due `hold`
    // after its arrival instead, so that clock skew cannot hold comments for long.
    const std::int64_t due = std::min(ids::snowflakeUnixMs(event.commentId), now) + m_hold.count();
    const bool wasIdle = m_heldCount == 0;
    video.held.emplace(event.commentId, std::make_pair(event, due));
    ++m_heldCount;
    if (wasIdle)
        m_wake.notify_one();
    return true;
}

void OrderedDelivery::releaseLocked(Video& video, const bus::BusEvent& event)
{
    if (event.commentId < video.newest)
        ++m_late;
    video.newest = std::max(video.newest, event.commentId);
    video.released.insert(event.commentId);
    while (video.released.size() > kRemembered)
        video.released.erase(video.released.begin());
    m_release(event);
}

void OrderedDelivery::releaseDueLocked(Video& video, std::int64_t nowMs, bool all)
{
    // Release every held comment up to the largest due id, in id order: holding a smaller id
    // longer than a larger one that must go now cannot improve the order.
    std::uint64_t upTo = 0;
    for (const auto& [id, held] : video.held) {
        if (all || held.second <= nowMs)
            upTo = id;
    }
    while (!video.held.empty() && video.held.begin()->first <= upTo) {
        const bus::BusEvent event = std::move(video.held.begin()->second.first);
        video.held.erase(video.held.begin());
        --m_heldCount;
        releaseLocked(video, event);
    }
}

bool OrderedDelivery::released(std::uint32_t videoId, std::uint64_t commentId) const
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    return it != m_videos.end()
        && (it->second.released.count(commentId) || it->second.held.count(commentId));
}

std::uint64_t OrderedDelivery::newestReleased(std::uint32_t videoId) const
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    return it == m_videos.end() ? 0 : it->second.newest;
}

void OrderedDelivery::forget(std::uint32_t videoId)
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    if (it == m_videos.end())
        return;
    releaseDueLocked(it->second, 0, true);
    m_videos.erase(it);
}

void OrderedDelivery::stop()
{
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping)
            return;
        m_stopping = true;
        for (auto& [id, video] : m_videos)
            releaseDueLocked(video, 0, true);
    }
    m_wake.notify_all();
    if (m_thread.joinable())
        m_thread.join();
}

std::uint64_t OrderedDelivery::late() const
{
    std::lock_guard lock(m_mutex);
    return m_late;
}

std::uint64_t OrderedDelivery::duplicates() const
{
    std::lock_guard lock(m_mutex);
    return m_duplicates;
}

void OrderedDelivery::run()
{
    // A tick of a fifth of the hold (at least 2 ms) bounds the extra delay past `hold`.
    const auto tick = std::max(std::chrono::milliseconds(2), m_hold / 5);
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        if (m_heldCount == 0) {
            m_wake.wait(lock, [this] { return m_stopping || m_heldCount > 0; });
            continue;
        }
        m_wake.wait_for(lock, tick);
        const std::int64_t now = wallClockMs();
        for (auto& [id, video] : m_videos) {
            if (!video.held.empty())
                releaseDueLocked(video, now, false);
        }
    }
}

} // namespace livecomments::server
