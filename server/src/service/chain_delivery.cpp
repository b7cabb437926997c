// SPDX-License-Identifier: MIT
#include "service/chain_delivery.h"

#include "model/thread_name.h"

#include <algorithm>
#include <limits>

namespace livecomments::server {

namespace {

std::int64_t steadyMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// A fill the store failed is tried again after this long (it may be restarting).
constexpr std::int64_t kRetryMs = 200;

} // namespace

ChainDelivery::ChainDelivery(std::chrono::milliseconds gapWait, Release release, FillFn fill)
    : m_gapWait(gapWait)
    , m_release(std::move(release))
    , m_fill(std::move(fill))
{
    m_thread = std::thread([this] {
        setThreadName("lc-chain");
        run();
    });
}

ChainDelivery::~ChainDelivery()
{
    stop();
}

void ChainDelivery::track(std::uint32_t videoId, std::uint64_t head)
{
    std::lock_guard lock(m_mutex);
    if (m_stopping)
        return;
    auto [it, inserted] = m_videos.try_emplace(videoId);
    if (inserted) {
        it->second.newest = head;
        it->second.generation = ++m_generations;
    }
}

bool ChainDelivery::tracking(std::uint32_t videoId) const
{
    std::lock_guard lock(m_mutex);
    return m_videos.count(videoId) != 0;
}

void ChainDelivery::forget(std::uint32_t videoId)
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    if (it == m_videos.end())
        return;
    releaseAllLocked(it->second);
    m_videos.erase(it);
    m_armed.erase(videoId);
}

bool ChainDelivery::submit(const bus::BusEvent& event)
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(event.videoId);
    if (it == m_videos.end() || m_stopping) {
        // No local viewer to order for (the cache still wants it), or shutting down.
        m_release(event);
        return true;
    }
    Video& video = it->second;
    switch (event.type) {
    case bus::BusEvent::Type::Comment:
        return offerLocked(video, event);
    case bus::BusEvent::Type::Deleted:
        // Out at once: a client ignores the deletion of a comment it never got. A comment not
        // released yet stays unreleased and only advances the chain when its turn comes.
        if (auto held = video.held.find(event.commentId); held != video.held.end()) {
            held->second.deleted = true;
        } else if (!video.seen.count(event.commentId)) {
            video.tombstones.insert(event.commentId);
            while (video.tombstones.size() > kRemembered)
                video.tombstones.erase(video.tombstones.begin());
        }
        m_release(event);
        return true;
    case bus::BusEvent::Type::VideoEnded:
        if (video.ended || video.ending) {
            ++m_duplicates;
            return false;
        }
        // A comment of another node may still be on its way (the end is committed after every
        // comment, but published by whichever node took it): the end waits for one fill, which
        // reads the store after the end's commit and so holds every comment of the video.
        video.ending = event;
        video.forced = true;
        armLocked(video, event.videoId, steadyMs());
        return true;
    }
    return false;
}

bool ChainDelivery::offerLocked(Video& video, const bus::BusEvent& event)
{
    const std::uint64_t id = event.commentId;
    if (video.ended || video.seen.count(id) || video.held.count(id)) {
        ++m_duplicates;
        return false;
    }
    const bool deleted = video.tombstones.erase(id) > 0;
    if (!event.chained) {
        // A cross-region copy: no place in this chain, so out at once; the client places it by id.
        if (!video.seen.empty() && id < *video.seen.rbegin())
            ++m_late;
        releaseLocked(video, event, deleted, false);
        return true;
    }
    if (id <= video.newest) {
        // Released, deleted, filled from the store, or committed before the video was tracked.
        ++m_duplicates;
        return false;
    }
    if (event.prevId <= video.newest) {
        releaseLocked(video, event, deleted, true);
        drainLocked(video);
        return true;
    }
    // Its predecessor has not arrived: hold it, and fill from the store if that takes too long.
    video.held.emplace(id, Held { event, deleted });
    video.expected = std::max(video.expected, event.prevId);
    armLocked(video, event.videoId, steadyMs() + m_gapWait.count());
    return true;
}

void ChainDelivery::releaseLocked(
    Video& video, const bus::BusEvent& event, bool deleted, bool advance)
{
    if (advance)
        video.newest = std::max(video.newest, event.commentId);
    video.seen.insert(event.commentId);
    while (video.seen.size() > kRemembered)
        video.seen.erase(video.seen.begin());
    if (!deleted)
        m_release(event);
}

void ChainDelivery::drainLocked(Video& video)
{
    // The held comment with the smallest id is the only candidate: a larger id has a larger
    // predecessor.
    while (!video.held.empty()) {
        auto it = video.held.begin();
        if (it->first <= video.newest) {
            // Passed by a fill: it was deleted before the fill read the store.
            video.held.erase(it);
            continue;
        }
        if (it->second.event.prevId > video.newest)
            break;
        Held next = std::move(it->second);
        video.held.erase(it);
        releaseLocked(video, next.event, next.deleted, true);
    }
}

void ChainDelivery::armLocked(Video& video, std::uint32_t videoId, std::int64_t at)
{
    if (video.due != 0 && video.due <= at)
        return;
    video.due = at;
    m_armed.insert(videoId);
    m_wake.notify_one();
}

bool ChainDelivery::gapLocked(const Video& video)
{
    return video.forced || video.ending || video.newest < video.expected;
}

void ChainDelivery::expect(std::uint32_t videoId, std::uint64_t head)
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    if (it == m_videos.end() || head <= it->second.newest)
        return;
    // Usually the comments up to `head` are on the bus right now: give them the gap wait.
    it->second.expected = std::max(it->second.expected, head);
    armLocked(it->second, videoId, steadyMs() + m_gapWait.count());
}

void ChainDelivery::requestFill(std::uint32_t videoId)
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    if (it == m_videos.end())
        return;
    it->second.forced = true;
    armLocked(it->second, videoId, steadyMs());
}

std::uint64_t ChainDelivery::newest(std::uint32_t videoId) const
{
    std::lock_guard lock(m_mutex);
    const auto it = m_videos.find(videoId);
    return it == m_videos.end() ? 0 : it->second.newest;
}

void ChainDelivery::integrateLocked(Video& video, const Job& job, const std::optional<Fill>& fill)
{
    if (!fill) {
        video.forced = true; // the store failed: the gap is still there
        armLocked(video, job.videoId, steadyMs() + kRetryMs);
        return;
    }
    if (job.chainGap)
        ++m_chainGapFills;
    for (const auto& comment : fill->comments) {
        const std::uint64_t id = comment.commentId;
        if (video.seen.count(id))
            continue; // arrived on the bus while the store was read
        bool deleted = video.tombstones.erase(id) > 0;
        const auto held = video.held.find(id);
        const bool wasHeld = held != video.held.end();
        if (wasHeld) {
            deleted = deleted || held->second.deleted;
            video.held.erase(held);
        }
        // Every chained comment up to `newest` went out already (the chain only advances in
        // order): one below it that did not is outside the chain.
        const bool inChain = id > video.newest;
        if (!inChain && !deleted)
            ++m_late;
        releaseLocked(video, comment, deleted, inChain);
        if (!deleted && !wasHeld)
            ++m_filled;
    }
    // The head was read before the comments: every chained comment up to it that still exists
    // was in the read, so a missing one was deleted.
    video.newest = std::max(video.newest, fill->head);
    drainLocked(video);
    if (job.ending && video.ending)
        releaseAllLocked(video);
}

void ChainDelivery::releaseAllLocked(Video& video)
{
    auto held = std::move(video.held);
    video.held.clear();
    for (auto& [id, next] : held)
        releaseLocked(video, next.event, next.deleted, true);
    if (video.ending) {
        m_release(*video.ending);
        video.ending.reset();
        video.ended = true;
    }
}

std::vector<ChainDelivery::Job> ChainDelivery::dueJobsLocked(std::int64_t now, std::int64_t& next)
{
    std::vector<Job> jobs;
    next = std::numeric_limits<std::int64_t>::max();
    for (auto it = m_armed.begin(); it != m_armed.end();) {
        const auto found = m_videos.find(*it);
        if (found == m_videos.end() || found->second.due == 0) {
            it = m_armed.erase(it);
            continue;
        }
        Video& video = found->second;
        if (video.due > now) {
            next = std::min(next, video.due);
            ++it;
            continue;
        }
        video.due = 0;
        const std::uint32_t videoId = *it;
        it = m_armed.erase(it);
        if (!gapLocked(video))
            continue; // the chain caught up in time: no store read
        jobs.push_back({ videoId, video.generation, video.newest, !video.held.empty(),
            video.ending.has_value() });
        video.forced = false;
    }
    return jobs;
}

void ChainDelivery::run()
{
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        const std::int64_t now = steadyMs();
        std::int64_t next = 0;
        const std::vector<Job> jobs = dueJobsLocked(now, next);
        if (jobs.empty()) {
            if (next == std::numeric_limits<std::int64_t>::max())
                m_wake.wait(lock);
            else
                m_wake.wait_for(lock, std::chrono::milliseconds(next - now));
            continue;
        }
        // The store is read without the mutex: live events keep flowing meanwhile.
        lock.unlock();
        std::vector<std::optional<Fill>> fills;
        for (const auto& job : jobs) {
            std::optional<Fill> fill;
            try {
                fill = m_fill(job.videoId, job.after);
            } catch (...) {
                // Treated as a failed read: retried.
            }
            fills.push_back(std::move(fill));
        }
        lock.lock();
        for (std::size_t i = 0; i < jobs.size(); ++i) {
            const auto found = m_videos.find(jobs[i].videoId);
            // Forgotten (and perhaps tracked again) while the store was read: not for this state.
            if (found == m_videos.end() || found->second.generation != jobs[i].generation)
                continue;
            integrateLocked(found->second, jobs[i], fills[i]);
        }
    }
}

void ChainDelivery::stop()
{
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping)
            return;
        m_stopping = true;
        for (auto& [id, video] : m_videos)
            releaseAllLocked(video);
        m_videos.clear();
        m_armed.clear();
    }
    m_wake.notify_all();
    if (m_thread.joinable())
        m_thread.join();
}

std::uint64_t ChainDelivery::late() const
{
    std::lock_guard lock(m_mutex);
    return m_late;
}

std::uint64_t ChainDelivery::duplicates() const
{
    std::lock_guard lock(m_mutex);
    return m_duplicates;
}

std::uint64_t ChainDelivery::chainGapFills() const
{
    std::lock_guard lock(m_mutex);
    return m_chainGapFills;
}

std::uint64_t ChainDelivery::filledComments() const
{
    std::lock_guard lock(m_mutex);
    return m_filled;
}

} // namespace livecomments::server
