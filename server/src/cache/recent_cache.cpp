// SPDX-License-Identifier: MIT
#include "cache/recent_cache.h"

#include <algorithm>

namespace livecomments::server::cache {

RecentCache::RecentCache(std::size_t capacityPerVideo)
    : m_capacity(std::max<std::size_t>(capacityPerVideo, 1))
{ }

void RecentCache::createEmpty(std::uint32_t videoId)
{
    std::lock_guard lock(m_mutex);
    m_rings.emplace(videoId, Ring {});
}

void RecentCache::append(std::uint32_t videoId, CachedComment comment)
{
    std::lock_guard lock(m_mutex);
    auto it = m_rings.find(videoId);
    if (it == m_rings.end()) {
        Ring ring;
        ring.floor = comment.id - 1;
        it = m_rings.emplace(videoId, std::move(ring)).first;
    }
    Ring& ring = it->second;
    if (comment.id <= ring.floor)
        return;
    if (ring.items.empty() || ring.items.back().id < comment.id) {
        ring.items.push_back(std::move(comment));
    } else {
        auto pos = std::lower_bound(ring.items.begin(), ring.items.end(), comment.id,
            [](const CachedComment& c, std::uint64_t id) { return c.id < id; });
        if (pos != ring.items.end() && pos->id == comment.id)
            return;
        ring.items.insert(pos, std::move(comment));
    }
    while (ring.items.size() > m_capacity) {
        ring.floor = ring.items.front().id;
        ring.items.pop_front();
    }
}

void RecentCache::remove(std::uint32_t videoId, std::uint64_t commentId)
{
    std::lock_guard lock(m_mutex);
    auto it = m_rings.find(videoId);
    if (it == m_rings.end())
        return;
    auto& items = it->second.items;
    auto pos = std::lower_bound(items.begin(), items.end(), commentId,
        [](const CachedComment& c, std::uint64_t id) { return c.id < id; });
    if (pos != items.end() && pos->id == commentId)
        items.erase(pos);
}

void RecentCache::drop(std::uint32_t videoId)
{
    std::lock_guard lock(m_mutex);
    m_rings.erase(videoId);
}

bool RecentCache::after(std::uint32_t videoId, std::uint64_t afterId, std::size_t limit,
    std::vector<CachedComment>& out, std::size_t& total) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_rings.find(videoId);
    if (it == m_rings.end() || afterId < it->second.floor)
        return false;
    const auto& items = it->second.items;
    auto pos = std::upper_bound(items.begin(), items.end(), afterId,
        [](std::uint64_t id, const CachedComment& c) { return id < c.id; });
    total = static_cast<std::size_t>(items.end() - pos);
    out.clear();
    for (; pos != items.end() && out.size() < limit; ++pos)
        out.push_back(*pos);
    return true;
}

bool RecentCache::newest(
    std::uint32_t videoId, std::size_t limit, std::vector<CachedComment>& out) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_rings.find(videoId);
    if (it == m_rings.end())
        return false;
    const Ring& ring = it->second;
    if (ring.items.size() < limit && ring.floor != 0)
        return false;
    out.clear();
    for (auto r = ring.items.rbegin(); r != ring.items.rend() && out.size() < limit; ++r)
        out.push_back(*r);
    return true;
}

} // namespace livecomments::server::cache
