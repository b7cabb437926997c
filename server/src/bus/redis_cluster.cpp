// SPDX-License-Identifier: MIT
#include "bus/redis_cluster.h"

#include <Poco/Exception.h>
#include <Poco/Redis/Error.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace livecomments::server::bus {

using Poco::Redis::Array;
using Poco::Redis::RedisType;

namespace {

std::uint16_t crc16(std::string_view data)
{
    // CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the variant Redis Cluster uses.
    std::uint16_t crc = 0;
    for (const char c : data) {
        crc ^= static_cast<std::uint16_t>(static_cast<unsigned char>(c) << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<std::uint16_t>(crc << 1);
    }
    return crc;
}

RedisEndpoint withCredentials(std::string host, std::int64_t port, const RedisEndpoint& from)
{
    if (port < 1 || port > 65535)
        throw std::runtime_error("Redis Cluster: port " + std::to_string(port) + " out of range");
    RedisEndpoint endpoint = from;
    // Redis sends "" or "?" when a node's preferred endpoint is unknown: the host we asked is
    // the best guess then.
    if (!host.empty() && host != "?")
        endpoint.host = std::move(host);
    endpoint.port = static_cast<std::uint16_t>(port);
    return endpoint;
}

bool sameNode(const RedisEndpoint& a, const RedisEndpoint& b)
{
    return a.host == b.host && a.port == b.port;
}

} // namespace

std::uint16_t keySlot(std::string_view key)
{
    const auto open = key.find('{');
    if (open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1)
            key = key.substr(open + 1, close - open - 1);
    }
    return static_cast<std::uint16_t>(crc16(key) % kClusterSlots);
}

bool parseRedirect(const std::string& message, const RedisEndpoint& from, Redirect& redirect)
{
    std::string rest;
    if (message.rfind("MOVED ", 0) == 0) {
        redirect.ask = false;
        rest = message.substr(6);
    } else if (message.rfind("ASK ", 0) == 0) {
        redirect.ask = true;
        rest = message.substr(4);
    } else {
        return false;
    }
    const auto space = rest.find(' ');
    const auto colon = rest.rfind(':');
    if (space == std::string::npos || colon == std::string::npos || colon < space)
        return false;
    try {
        const auto slot = std::stoul(rest.substr(0, space));
        if (slot >= kClusterSlots)
            return false;
        redirect.slot = static_cast<std::uint16_t>(slot);
        std::string host = rest.substr(space + 1, colon - space - 1);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        redirect.target = withCredentials(host, std::stol(rest.substr(colon + 1)), from);
    } catch (const std::exception&) {
        return false;
    }
    return true;
}

SlotMap::SlotMap(RedisEndpoint seed)
    : m_masters { std::move(seed) }
{ }

SlotMap SlotMap::discover(RedisConnection& connection, const RedisEndpoint& asked)
{
    Array cmd;
    cmd << "CLUSTER"
        << "SLOTS";
    RedisType::Ptr value;
    try {
        value = connection.command(cmd);
    } catch (const RedisReplyError&) {
        // "ERR This instance has cluster support disabled": a standalone Redis.
        return SlotMap(asked);
    }
    SlotMap map;
    map.m_masters.clear();
    map.m_clustered = true;
    constexpr std::uint16_t kUnserved = 0xffff;
    map.m_owner.assign(kClusterSlots, kUnserved);
    const auto& ranges = reply::array(value);
    // No slot assigned: an empty array, which Poco reads as a null one (not iterable).
    std::vector<RedisType::Ptr> entries;
    if (!ranges.isNull())
        entries.assign(ranges.begin(), ranges.end());
    for (const auto& entry : entries) {
        const auto& range = reply::array(entry);
        if (range.size() < 3)
            throw std::runtime_error("Redis Cluster: malformed CLUSTER SLOTS entry");
        const std::vector<RedisType::Ptr> items(range.begin(), range.end());
        const auto first = reply::integer(items[0]);
        const auto last = reply::integer(items[1]);
        const auto& master = reply::array(items[2]);
        if (master.size() < 2 || first < 0 || last >= kClusterSlots || first > last)
            throw std::runtime_error("Redis Cluster: malformed CLUSTER SLOTS entry");
        const std::vector<RedisType::Ptr> node(master.begin(), master.end());
        const auto index
            = map.indexOf(withCredentials(reply::string(node[0]), reply::integer(node[1]), asked));
        for (auto slot = first; slot <= last; ++slot)
            map.m_owner[static_cast<std::size_t>(slot)] = static_cast<std::uint16_t>(index);
    }
    if (map.m_masters.empty())
        throw std::runtime_error(
            "Redis Cluster at " + asked.display() + " serves no slots (cluster not created?)");
    // A slot nobody serves (a failed master without replica) is routed to some master, whose
    // -CLUSTERDOWN / -MOVED answer the caller sees.
    for (auto& owner : map.m_owner) {
        if (owner == kUnserved)
            owner = 0;
    }
    return map;
}

std::size_t SlotMap::indexOf(const RedisEndpoint& endpoint)
{
    for (std::size_t i = 0; i < m_masters.size(); ++i) {
        if (sameNode(m_masters[i], endpoint))
            return i;
    }
    m_masters.push_back(endpoint);
    return m_masters.size() - 1;
}

const RedisEndpoint& SlotMap::ownerOf(std::uint16_t slot) const
{
    if (!m_clustered)
        return m_masters.front();
    return m_masters[m_owner[slot % kClusterSlots]];
}

void SlotMap::assign(std::uint16_t slot, const RedisEndpoint& owner)
{
    if (!m_clustered)
        return;
    m_owner[slot % kClusterSlots] = static_cast<std::uint16_t>(indexOf(owner));
}

SlotMap fetchSlotMap(
    const std::vector<RedisEndpoint>& candidates, std::chrono::milliseconds timeout)
{
    std::string lastError = "no node to ask";
    for (const auto& candidate : candidates) {
        try {
            RedisConnection connection(candidate, timeout);
            return SlotMap::discover(connection, candidate);
        } catch (const Poco::Exception& e) {
            lastError = candidate.display() + ": " + e.displayText();
        } catch (const std::exception& e) {
            lastError = candidate.display() + ": " + e.what();
        }
    }
    throw std::runtime_error("cannot read the Redis Cluster slot map: " + lastError);
}

RedisRouter::RedisRouter(RedisEndpoint seed, std::chrono::milliseconds timeout)
    : m_seed(seed)
    , m_timeout(timeout)
    , m_map(std::move(seed))
{ }

RedisRouter::~RedisRouter() = default;

void RedisRouter::connect(const RedisStartupRetry& retry)
{
    const auto start = std::chrono::steady_clock::now();
    auto connection = connectWithRetry(m_seed, retry, m_timeout);
    m_map = SlotMap::discover(*connection, m_seed);
    m_connections[m_seed.display()] = std::move(connection);
    m_stale = false;
    if (!m_map.clustered())
        return;
    // Every master must be reachable at the address the cluster announces for it: a node that
    // only reaches the seed (announced addresses of another network) must not half-start.
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
    for (int attempt = 1;; ++attempt) {
        try {
            ping();
            return;
        } catch (const std::exception& e) {
            const auto delay = backoff.next();
            if (attempt >= std::max(1, retry.attempts)
                || std::chrono::steady_clock::now() - start + delay >= retry.deadline)
                throw std::runtime_error("cannot reach every Redis Cluster master that "
                    + m_seed.display() + " announces (CLUSTER SLOTS) after "
                    + std::to_string(attempt) + " attempt(s): " + e.what()
                    + " (check the addresses the nodes announce: cluster-announce-ip)");
            std::this_thread::sleep_for(delay);
        }
    }
}

RedisConnection& RedisRouter::connectionTo(const RedisEndpoint& endpoint)
{
    auto& slot = m_connections[endpoint.display()];
    if (!slot)
        slot = std::make_unique<RedisConnection>(endpoint, m_timeout);
    return *slot;
}

void RedisRouter::dropConnection(const RedisEndpoint& endpoint)
{
    m_connections.erase(endpoint.display());
    // The node may be gone for good (failover): ask the cluster again before the next command.
    m_stale = m_map.clustered();
}

void RedisRouter::reset()
{
    m_connections.clear();
    m_stale = m_map.clustered();
}

void RedisRouter::refreshIfStale()
{
    const auto now = std::chrono::steady_clock::now();
    if (!m_stale || now < m_nextRefresh)
        return;
    m_nextRefresh = now + kSlotMapRefreshInterval;
    auto candidates = m_map.masters();
    candidates.push_back(m_seed);
    try {
        m_map = fetchSlotMap(candidates, m_timeout);
        m_stale = false;
    } catch (const std::runtime_error&) {
        // Nobody answers: keep the old map; the command below fails and the caller retries.
    }
}

RedisType::Ptr RedisRouter::settle(const Array& cmd, RedisEndpoint from, RedisType::Ptr value)
{
    for (int redirects = 0; redirects < kMaxRedirects; ++redirects) {
        Redirect redirect;
        if (!reply::isError(value) || !parseRedirect(reply::errorMessage(value), from, redirect))
            return value;
        try {
            auto& connection = connectionTo(redirect.target);
            if (redirect.ask) {
                // The slot is being migrated: this one command goes to the importing node.
                Array asking;
                asking << "ASKING";
                value = connection.pipeline({ asking, cmd }).back();
            } else {
                m_map.assign(redirect.slot, redirect.target);
                m_stale = true; // one slot moved: others probably did too (resharding)
                // An error answer stays a reply: another redirect is followed on the next round.
                value = connection.pipeline({ cmd }).front();
            }
        } catch (const Poco::Exception&) {
            dropConnection(redirect.target);
            throw;
        }
        from = redirect.target;
    }
    return value;
}

RedisType::Ptr RedisRouter::command(const std::string& key, const Array& cmd)
{
    auto value = pipeline({ Keyed { key, cmd } }).front();
    if (reply::isError(value))
        throw RedisReplyError(value->toString());
    return value;
}

std::vector<RedisType::Ptr> RedisRouter::pipeline(
    const std::vector<Keyed>& cmds, bool isolateFailures)
{
    refreshIfStale();
    // Grouped by owner so every master gets one write; replies go back to their positions.
    std::map<std::string, std::pair<RedisEndpoint, std::vector<std::size_t>>> groups;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
        const auto& owner = m_map.ownerOfKey(cmds[i].first);
        auto& group = groups[owner.display()];
        group.first = owner;
        group.second.push_back(i);
    }
    std::vector<RedisType::Ptr> replies(cmds.size());
    for (const auto& [name, group] : groups) {
        std::vector<Array> batch;
        batch.reserve(group.second.size());
        for (auto index : group.second)
            batch.push_back(cmds[index].second);
        std::vector<RedisType::Ptr> answers;
        std::string failure;
        try {
            answers = connectionTo(group.first).pipeline(batch);
        } catch (const Poco::Exception& e) {
            dropConnection(group.first);
            if (!isolateFailures)
                throw;
            failure = e.displayText();
        } catch (const std::runtime_error& e) {
            // The connection could not be opened (or AUTH failed): nothing was sent.
            m_stale = m_map.clustered();
            if (!isolateFailures)
                throw;
            failure = e.what();
        }
        if (!failure.empty()) {
            const Poco::Redis::Error error(
                kUnreachablePrefix + group.first.display() + ": " + failure);
            for (auto index : group.second)
                replies[index] = new Poco::Redis::Type<Poco::Redis::Error>(error);
            continue;
        }
        for (std::size_t j = 0; j < answers.size(); ++j) {
            const auto index = group.second[j];
            try {
                replies[index] = settle(cmds[index].second, group.first, answers[j]);
            } catch (const std::exception& e) {
                // The redirect target is unreachable.
                if (!isolateFailures)
                    throw;
                replies[index] = new Poco::Redis::Type<Poco::Redis::Error>(
                    Poco::Redis::Error(std::string(kUnreachablePrefix) + e.what()));
            }
        }
    }
    return replies;
}

void RedisRouter::ping()
{
    refreshIfStale();
    Array cmd;
    cmd << "PING";
    for (const auto& master : m_map.masters()) {
        try {
            connectionTo(master).command(cmd);
        } catch (const Poco::Exception& e) {
            dropConnection(master);
            throw std::runtime_error("Redis at " + master.display() + ": " + e.displayText());
        }
    }
}

} // namespace livecomments::server::bus
