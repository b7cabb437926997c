// SPDX-License-Identifier: MIT
#include "bus/viewer_counts.h"

#include <Poco/Exception.h>

#include <stdexcept>

namespace livecomments::server::bus {

using Poco::Redis::Array;
using Poco::Redis::RedisType;

namespace {

std::string videoTag(std::uint32_t videoId)
{
    return "lc:viewers:{video:" + std::to_string(videoId) + "}";
}

} // namespace

std::string ViewerCounts::nodesKey(std::uint32_t videoId)
{
    return videoTag(videoId);
}

std::string ViewerCounts::countKey(std::uint32_t videoId, std::uint32_t nodeId)
{
    return videoTag(videoId) + ":" + std::to_string(nodeId);
}

ViewerCounts::ViewerCounts(ViewerCountsOptions options)
    : m_options(std::move(options))
{
    m_redis = std::make_unique<RedisRouter>(m_options.endpoint, m_options.ioTimeout);
    m_redis->connect(m_options.startup);
    m_thread = std::thread([this] { writerLoop(); });
}

ViewerCounts::~ViewerCounts()
{
    release();
}

void ViewerCounts::setLocalCount(std::uint32_t videoId, std::uint64_t count)
{
    std::lock_guard<std::mutex> lock(m_stateMutex);
    if (count == 0)
        m_local.erase(videoId);
    else
        m_local[videoId] = count;
    m_dirty[videoId] = count;
}

RedisRouter& ViewerCounts::redis()
{
    return *m_redis;
}

void ViewerCounts::writeCounts(const std::map<std::uint32_t, std::uint64_t>& counts)
{
    if (counts.empty())
        return;
    const std::string ttl = std::to_string(m_options.ttl.count());
    const std::string node = std::to_string(m_options.nodeId);
    std::vector<RedisRouter::Keyed> commands;
    for (const auto& [video, count] : counts) {
        Array first;
        Array second;
        if (count > 0) {
            first << "SET" << countKey(video, m_options.nodeId) << std::to_string(count) << "PX"
                  << ttl;
            second << "SADD" << nodesKey(video) << node;
            Array expire;
            expire << "PEXPIRE" << nodesKey(video) << ttl;
            commands.emplace_back(countKey(video, m_options.nodeId), first);
            commands.emplace_back(nodesKey(video), second);
            commands.emplace_back(nodesKey(video), expire);
        } else {
            first << "DEL" << countKey(video, m_options.nodeId);
            second << "SREM" << nodesKey(video) << node;
            commands.emplace_back(countKey(video, m_options.nodeId), first);
            commands.emplace_back(nodesKey(video), second);
        }
    }
    for (const auto& value : redis().pipeline(commands)) {
        if (reply::isError(value))
            throw std::runtime_error("Redis rejected a viewer count write: " + value->toString());
    }
}

bool ViewerCounts::flush()
{
    std::map<std::uint32_t, std::uint64_t> pending;
    {
        std::lock_guard<std::mutex> lock(m_stateMutex);
        pending.swap(m_dirty);
    }
    try {
        std::lock_guard<std::mutex> io(m_ioMutex);
        writeCounts(pending);
        return true;
    } catch (const std::exception&) {
        {
            std::lock_guard<std::mutex> io(m_ioMutex);
            m_redis->reset();
        }
        ++m_writeFailures;
        // Changes made since the swap are newer than the failed ones and win.
        std::lock_guard<std::mutex> lock(m_stateMutex);
        for (const auto& entry : pending)
            m_dirty.insert(entry);
        return false;
    }
}

void ViewerCounts::writerLoop()
{
    Backoff backoff(std::chrono::milliseconds(100), m_options.refreshEvery);
    auto nextRefresh = std::chrono::steady_clock::now() + m_options.refreshEvery;
    auto delay = m_options.flushDelay;
    std::unique_lock<std::mutex> lock(m_stateMutex);
    for (;;) {
        if (m_cv.wait_for(lock, delay, [this] { return m_stopping; }))
            return;
        delay = m_options.flushDelay;
        const bool refresh = std::chrono::steady_clock::now() >= nextRefresh;
        if (m_dirty.empty() && !refresh)
            continue;
        if (refresh) {
            // The refresh re-SETs every count (keeping the keys alive) and also repairs what a
            // Redis restart without persistence lost.
            for (const auto& entry : m_local)
                m_dirty[entry.first] = entry.second;
        }
        lock.unlock();
        const bool ok = flush();
        lock.lock();
        if (ok) {
            backoff.reset();
            if (refresh)
                nextRefresh = std::chrono::steady_clock::now() + m_options.refreshEvery;
        } else {
            delay = backoff.next();
            nextRefresh = std::chrono::steady_clock::now(); // full rewrite once Redis is back
        }
    }
}

std::optional<std::uint64_t> ViewerCounts::clusterCount(std::uint32_t videoId)
{
    auto counts = clusterCounts({ videoId });
    if (!counts)
        return std::nullopt;
    return (*counts)[videoId];
}

std::optional<std::map<std::uint32_t, std::uint64_t>> ViewerCounts::clusterCounts(
    const std::vector<std::uint32_t>& videoIds)
{
    std::map<std::uint32_t, std::uint64_t> result;
    if (videoIds.empty())
        return result;
    std::lock_guard<std::mutex> io(m_ioMutex);
    try {
        std::vector<RedisRouter::Keyed> members;
        for (auto video : videoIds) {
            Array cmd;
            cmd << "SMEMBERS" << nodesKey(video);
            members.emplace_back(nodesKey(video), cmd);
        }
        const auto memberReplies = redis().pipeline(members);

        std::vector<RedisRouter::Keyed> reads;
        std::vector<std::pair<std::uint32_t, std::vector<std::string>>> asked;
        for (std::size_t i = 0; i < videoIds.size(); ++i) {
            result[videoIds[i]] = 0;
            const auto& nodes = reply::array(memberReplies[i]);
            if (nodes.isNull() || nodes.size() == 0)
                continue;
            Array mget;
            mget << "MGET";
            std::vector<std::string> nodeIds;
            for (const auto& node : nodes) {
                nodeIds.push_back(reply::string(node));
                mget << videoTag(videoIds[i]) + ":" + nodeIds.back();
            }
            reads.emplace_back(nodesKey(videoIds[i]), mget);
            asked.emplace_back(videoIds[i], std::move(nodeIds));
        }
        if (reads.empty())
            return result;
        const auto countReplies = redis().pipeline(reads);

        // A member whose count key expired is a node that died (or stopped counting without
        // cleanup): drop it from the set so the set does not grow with dead nodes.
        std::vector<RedisRouter::Keyed> cleanup;
        for (std::size_t i = 0; i < asked.size(); ++i) {
            const auto& values = reply::array(countReplies[i]);
            std::size_t index = 0;
            for (const auto& value : values) {
                bool isNull = false;
                const auto text = reply::string(value, &isNull);
                if (isNull) {
                    Array srem;
                    srem << "SREM" << nodesKey(asked[i].first) << asked[i].second[index];
                    cleanup.emplace_back(nodesKey(asked[i].first), srem);
                } else {
                    result[asked[i].first] += std::stoull(text);
                }
                ++index;
            }
        }
        if (!cleanup.empty())
            redis().pipeline(cleanup);
        return result;
    } catch (const std::exception&) {
        m_redis->reset();
        return std::nullopt;
    }
}

void ViewerCounts::abandon()
{
    stopWorker(m_stateMutex, m_stopping, m_cv, m_thread);
    m_released = true;
}

void ViewerCounts::release()
{
    stopWorker(m_stateMutex, m_stopping, m_cv, m_thread);
    if (m_released.exchange(true))
        return;
    {
        std::lock_guard<std::mutex> lock(m_stateMutex);
        for (const auto& entry : m_local)
            m_dirty[entry.first] = 0;
        m_local.clear();
    }
    flush(); // best effort: otherwise the keys expire within the ttl
}

} // namespace livecomments::server::bus
