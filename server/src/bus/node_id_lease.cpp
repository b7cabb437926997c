// SPDX-License-Identifier: MIT
#include "bus/node_id_lease.h"

#include <Poco/Exception.h>

#include <cstdio>
#include <random>
#include <stdexcept>

namespace livecomments::server::bus {

using Poco::Redis::Array;

namespace {

// Extends the key only while it still holds our token; re-takes it when it vanished (a Redis
// restart without persistence drops every lease). 1 = extended, 2 = re-taken, 0 = someone else's.
constexpr char kRenewScript[] = "local v = redis.call('GET', KEYS[1]) "
                                "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) "
                                "return 1 end "
                                "if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
                                "return 2 end "
                                "return 0";
// Deletes the key only while it holds our token: a lease that expired and was re-taken by another
// node must not be deleted by the former holder.
constexpr char kReleaseScript[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                  "return redis.call('DEL', KEYS[1]) end return 0";

std::string randomToken()
{
    std::random_device device;
    std::mt19937_64 random((static_cast<std::uint64_t>(device()) << 32) ^ device()
        ^ static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    char buffer[33];
    std::snprintf(buffer, sizeof buffer, "%016llx%016llx",
        static_cast<unsigned long long>(random()), static_cast<unsigned long long>(random()));
    return buffer;
}

Array evalScript(const char* script, const std::string& key, const std::string& token,
    const std::string* ttlMs = nullptr)
{
    Array cmd;
    cmd << "EVAL" << script << "1" << key << token;
    if (ttlMs)
        cmd << *ttlMs;
    return cmd;
}

} // namespace

std::string NodeIdLease::keyFor(std::uint32_t nodeId)
{
    return "lc:node:" + std::to_string(nodeId);
}

NodeIdLease::NodeIdLease(NodeIdLeaseOptions options)
    : m_options(std::move(options))
    , m_token(randomToken())
{
    if (m_options.explicitId && *m_options.explicitId >= kMaxNodeIds)
        throw std::runtime_error("node id " + std::to_string(*m_options.explicitId)
            + " is out of range 0.." + std::to_string(kMaxNodeIds - 1));
    m_redis = std::make_unique<RedisRouter>(m_options.endpoint, m_options.ioTimeout);
    m_redis->connect(m_options.startup);
    if (m_options.explicitId) {
        if (!tryAcquire(*m_options.explicitId))
            throw std::runtime_error("node id " + std::to_string(*m_options.explicitId)
                + " is already in use by another live node (Redis key "
                + keyFor(*m_options.explicitId) + " is held; a crashed holder's lease expires "
                + "within " + std::to_string(m_options.ttl.count()) + " ms)");
        m_nodeId = *m_options.explicitId;
    } else {
        // A random starting point keeps nodes that start together from racing for id 0, 1, ...
        std::random_device device;
        const std::uint32_t start = device() % kMaxNodeIds;
        bool found = false;
        for (std::uint32_t i = 0; i < kMaxNodeIds && !found; ++i) {
            const auto id = (start + i) % kMaxNodeIds;
            if (tryAcquire(id)) {
                m_nodeId = id;
                found = true;
            }
        }
        if (!found)
            throw std::runtime_error("no free node id: all " + std::to_string(kMaxNodeIds)
                + " lc:node:<id> keys are held in Redis at " + m_options.endpoint.display());
    }
    m_valid = true;
    m_thread = std::thread([this] { renewLoop(); });
}

NodeIdLease::~NodeIdLease()
{
    release();
}

bool NodeIdLease::tryAcquire(std::uint32_t id)
{
    Array cmd;
    cmd << "SET" << keyFor(id) << m_token << "NX"
        << "PX" << std::to_string(m_options.ttl.count());
    bool isNull = false;
    const auto value = reply::string(m_redis->command(keyFor(id), cmd), &isNull);
    return !isNull && value == "OK";
}

void NodeIdLease::setLostHandler(std::function<void(std::uint32_t)> handler)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_lostHandler = std::move(handler);
}

void NodeIdLease::abandon()
{
    stopWorker(m_mutex, m_stopping, m_cv, m_thread);
    m_valid = false;
}

void NodeIdLease::release()
{
    stopWorker(m_mutex, m_stopping, m_cv, m_thread);
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!m_valid.exchange(false))
        return;
    try {
        m_redis->command(keyFor(m_nodeId), evalScript(kReleaseScript, keyFor(m_nodeId), m_token));
    } catch (const std::exception&) {
        // Redis is away: the key expires by itself within the ttl.
    }
}

void NodeIdLease::renewLoop()
{
    const std::string ttl = std::to_string(m_options.ttl.count());
    const std::string key = keyFor(m_nodeId);
    Backoff backoff(std::chrono::milliseconds(100), m_options.renewEvery);
    auto delay = m_options.renewEvery;
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        if (m_cv.wait_for(lock, delay, [this] { return m_stopping; }))
            return;
        try {
            const auto result = reply::integer(
                m_redis->command(key, evalScript(kRenewScript, key, m_token, &ttl)));
            backoff.reset();
            delay = m_options.renewEvery;
            if (result == 0) {
                m_valid = false;
                auto handler = m_lostHandler;
                lock.unlock();
                if (handler)
                    handler(m_nodeId);
                return;
            }
        } catch (const std::exception&) {
            // Redis is away: retry soon (backoff) so the key is back quickly once it returns.
            m_redis->reset();
            ++m_renewFailures;
            delay = backoff.next();
        }
    }
}

} // namespace livecomments::server::bus
