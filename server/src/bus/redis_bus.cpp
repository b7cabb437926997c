// SPDX-License-Identifier: MIT
#include "bus/redis_bus.h"

#include <Poco/Exception.h>

#include <poll.h>

#include <sstream>

namespace livecomments::server::bus {

using Poco::Redis::Array;
using Poco::Redis::RedisType;
using Clock = std::chrono::steady_clock;

namespace {

/// How long the subscriber thread blocks in poll() before it looks at stop / heartbeat again.
constexpr std::chrono::milliseconds kPollSlice { 200 };
/// Events sent in one pipelined write.
constexpr std::size_t kMaxBatch = 256;
/// The subscriber side re-reads a Redis Cluster's slot map at most this often.
constexpr std::chrono::milliseconds kRefreshEvery { 500 };

char typeCode(BusEvent::Type type)
{
    switch (type) {
    case BusEvent::Type::Comment:
        return 'c';
    case BusEvent::Type::Deleted:
        return 'd';
    case BusEvent::Type::VideoEnded:
        return 'e';
    }
    return '?';
}

Array oneArg(const char* command, const std::string& arg)
{
    Array cmd;
    cmd << command << arg;
    return cmd;
}

/// Writes a one-channel (un)subscribe. One channel per command: in a cluster, channels of one
/// SSUBSCRIBE must share a slot. On a write failure the connection is shut down: the subscriber
/// thread notices, reconnects and subscribes every wanted channel again.
void sendOrShutdown(RedisConnection& connection, const char* command, const std::string& channel)
{
    try {
        connection.write(oneArg(command, channel));
        connection.flush();
    } catch (const Poco::Exception&) {
        connection.shutdown();
    }
}

/// A master that could not be reached, or error replies a cluster gives while it heals (failover,
/// slot migration): worth a retry.
bool isTransient(const std::string& message)
{
    for (const char* prefix :
        { kUnreachablePrefix, "CLUSTERDOWN", "TRYAGAIN", "MOVED ", "ASK ", "LOADING" }) {
        if (message.rfind(prefix, 0) == 0)
            return true;
    }
    return false;
}

} // namespace

std::string RedisBus::channelName(std::uint32_t videoId)
{
    return "lc:{video:" + std::to_string(videoId) + "}";
}

std::string RedisBus::encode(const BusEvent& event, std::uint32_t origin)
{
    // A one-line text header plus the JSON as is: the JSON was encoded once by the publisher and
    // is forwarded to SSE clients byte for byte, so wrapping it in another JSON layer would only
    // cost an escape + unescape per event.
    // Version 2 adds the chain link: the predecessor's id, `-` for an unchained comment.
    std::string out = "lc2 " + std::to_string(origin) + ' ' + typeCode(event.type) + ' '
        + std::to_string(event.videoId) + ' ' + std::to_string(event.commentId) + ' '
        + (event.chained ? std::to_string(event.prevId) : std::string("-")) + '\n';
    out += event.json;
    return out;
}

bool RedisBus::decode(const std::string& payload, BusEvent& event, std::uint32_t& origin)
{
    const auto newline = payload.find('\n');
    if (newline == std::string::npos)
        return false;
    std::istringstream header(payload.substr(0, newline));
    std::string magic;
    char type = 0;
    std::uint64_t originValue = 0;
    std::uint64_t video = 0;
    std::uint64_t comment = 0;
    if (!(header >> magic >> originValue >> type >> video >> comment)
        || (magic != "lc1" && magic != "lc2") || video > UINT32_MAX || originValue > UINT32_MAX)
        return false;
    // lc1 (a node of the previous version, during a rolling upgrade) has no link: its comments
    // are unchained, delivered on arrival.
    event.prevId = 0;
    event.chained = false;
    if (magic == "lc2") {
        std::string prev;
        if (!(header >> prev) || prev.empty())
            return false;
        if (prev != "-") {
            std::size_t used = 0;
            try {
                event.prevId = std::stoull(prev, &used);
            } catch (const std::exception&) {
                return false;
            }
            if (used != prev.size() || prev.front() == '-' || prev.front() == '+')
                return false;
            event.chained = true;
        }
    }
    std::string trailing;
    if (header >> trailing)
        return false;
    switch (type) {
    case 'c':
        event.type = BusEvent::Type::Comment;
        break;
    case 'd':
        event.type = BusEvent::Type::Deleted;
        break;
    case 'e':
        event.type = BusEvent::Type::VideoEnded;
        break;
    default:
        return false;
    }
    origin = static_cast<std::uint32_t>(originValue);
    event.videoId = static_cast<std::uint32_t>(video);
    event.commentId = comment;
    event.json = payload.substr(newline + 1);
    return true;
}

RedisBus::RedisBus(RedisBusOptions options)
    : m_options(std::move(options))
    , m_slots(m_options.endpoint)
{
    m_pub = std::make_unique<RedisRouter>(m_options.endpoint, m_options.ioTimeout);
    m_pub->connect(m_options.startup);
    m_slots = m_pub->slotMap();
    m_clustered = m_slots.clustered();
    if (!m_clustered) {
        // A standalone Redis: its one subscriber connection is open from the start and kept.
        Shard shard;
        shard.endpoint = m_options.endpoint;
        shard.connection
            = connectWithRetry(m_options.endpoint, m_options.startup, m_options.ioTimeout);
        shard.lastData = Clock::now();
        m_shards.emplace(m_options.endpoint.display(), std::move(shard));
    }
    m_subUp = true;
    m_pubUp = true;
    m_subThread = std::thread([this] { subscriberLoop(); });
    m_pubThread = std::thread([this] { publisherLoop(); });
}

RedisBus::~RedisBus()
{
    stop();
}

void RedisBus::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_stopMutex);
        if (m_stopping.exchange(true))
            return;
    }
    m_stopCv.notify_all();
    {
        // Taking the queue mutex orders the flag before the sender's predicate check, so the
        // notification below cannot slip in between its check and its wait.
        std::lock_guard<std::mutex> lock(m_queueMutex);
    }
    m_queueCv.notify_all();
    if (m_subThread.joinable())
        m_subThread.join();
    if (m_pubThread.joinable())
        m_pubThread.join();
    std::lock_guard<std::mutex> lock(m_subMutex);
    m_shards.clear();
    m_pub.reset();
    m_subUp = false;
    m_pubUp = false;
}

void RedisBus::setHandler(Handler handler)
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    m_handler = std::make_shared<const Handler>(std::move(handler));
}

void RedisBus::setReconnectedHandler(ReconnectedHandler handler)
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    m_reconnectedHandler = std::make_shared<const ReconnectedHandler>(std::move(handler));
}

bool RedisBus::healthy() const
{
    return m_subUp.load() && m_pubUp.load();
}

std::vector<std::uint32_t> RedisBus::interests() const
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    return { m_interest.begin(), m_interest.end() };
}

std::size_t RedisBus::subscriberConnections() const
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    std::size_t open = 0;
    for (const auto& entry : m_shards)
        open += entry.second.connection ? 1 : 0;
    return open;
}

void RedisBus::setInterest(std::uint32_t videoId, bool interested)
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    const bool changed
        = interested ? m_interest.insert(videoId).second : m_interest.erase(videoId) > 0;
    if (!changed)
        return;
    const std::string channel = channelName(videoId);
    if (!interested) {
        m_unplaced.erase(videoId);
        m_lost.erase(videoId);
        for (auto& entry : m_shards) {
            if (entry.second.videos.erase(videoId) > 0 && entry.second.connection)
                sendOrShutdown(*entry.second.connection, "SUNSUBSCRIBE", channel);
        }
        return;
    }
    const auto it = m_shards.find(m_slots.ownerOfKey(channel).display());
    if (it == m_shards.end() || !it->second.connection) {
        // No live connection to the owner yet (a cluster master not subscribed to so far, or a
        // reconnect pending): the subscriber thread opens it and subscribes.
        m_unplaced.insert(videoId);
        return;
    }
    it->second.videos.insert(videoId);
    sendOrShutdown(*it->second.connection, "SSUBSCRIBE", channel);
}

void RedisBus::publish(const BusEvent& event)
{
    Pending pending { channelName(event.videoId), encode(event, m_options.nodeId), Clock::now() };
    {
        std::lock_guard<std::mutex> lock(m_queueMutex);
        if (m_queue.size() >= m_options.publishQueueLimit) {
            // Redis has been away for long: the oldest event is the least useful one (the
            // receivers refill from the store after their reconnect anyway).
            m_queue.pop_front();
            ++m_publishFailures;
        }
        m_queue.push_back(std::move(pending));
    }
    m_queueCv.notify_one();
}

bool RedisBus::waitFor(std::chrono::milliseconds delay)
{
    std::unique_lock<std::mutex> lock(m_stopMutex);
    return !m_stopCv.wait_for(lock, delay, [this] { return m_stopping.load(); });
}

RedisBus::Retry& RedisBus::retryLocked(const std::string& key)
{
    auto& retry = m_retries[key];
    if (!retry.backoff)
        retry.backoff = std::make_unique<Backoff>(m_options.reconnectBase, m_options.reconnectCap);
    return retry;
}

void RedisBus::unplaceLocked(Shard& shard, std::uint32_t video)
{
    if (shard.videos.erase(video) > 0 && m_interest.count(video) > 0)
        m_unplaced.insert(video);
}

void RedisBus::updateSubUp()
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    bool up = true;
    for (const auto& entry : m_shards)
        up = up && entry.second.connection != nullptr;
    // A wanted channel whose master cannot be reached is an outage; one merely not subscribed yet
    // (its first viewer just arrived) is not. A master that left the slot map (failover) no longer
    // counts once its channels have another owner.
    for (auto video : m_unplaced) {
        const auto it = m_retries.find(m_slots.ownerOfKey(channelName(video)).display());
        up = up && (it == m_retries.end() || !it->second.failed);
    }
    m_subUp = up;
}

void RedisBus::failShard(const std::string& key)
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    const auto it = m_shards.find(key);
    if (it == m_shards.end())
        return;
    it->second.connection.reset();
    for (auto video : it->second.videos) {
        m_unplaced.insert(video);
        m_lost.insert(video);
    }
    it->second.videos.clear();
    auto& retry = retryLocked(key);
    retry.failed = true;
    retry.notBefore = Clock::now() + retry.backoff->next();
    if (m_clustered) {
        // The master may be gone for good (failover): its channels are placed again from a
        // fresh slot map, possibly on another master.
        m_shards.erase(it);
        m_slotsStale = true;
    }
    m_subUp = false;
}

void RedisBus::placeVideos()
{
    bool refresh = false;
    std::vector<RedisEndpoint> candidates;
    {
        std::lock_guard<std::mutex> lock(m_subMutex);
        if (m_clustered) {
            // A master none of whose channels is wanted any more keeps no connection.
            for (auto it = m_shards.begin(); it != m_shards.end();) {
                if (it->second.videos.empty())
                    it = m_shards.erase(it);
                else
                    ++it;
            }
        }
        refresh = m_slotsStale && !m_unplaced.empty() && Clock::now() >= m_nextRefresh;
        // Masters that answered last time first: a dead one may cost a connect timeout.
        for (const auto& master : m_slots.masters()) {
            const auto it = m_retries.find(master.display());
            const bool failed = it != m_retries.end() && it->second.failed;
            candidates.insert(failed ? candidates.end() : candidates.begin(), master);
        }
    }
    if (refresh) {
        // While a master is down every round would ask again: at most one slot map read per
        // kRefreshEvery.
        m_nextRefresh = Clock::now() + kRefreshEvery;
        candidates.push_back(m_options.endpoint);
        try {
            auto fresh = fetchSlotMap(candidates, m_options.ioTimeout);
            std::lock_guard<std::mutex> lock(m_subMutex);
            m_slots = std::move(fresh);
            m_slotsStale = false;
        } catch (const std::runtime_error&) {
            // No master answers: the old map is the best guess; retried on the next round.
        }
    }
    std::map<std::string, RedisEndpoint> toOpen;
    std::vector<std::uint32_t> moved;
    bool recovered = false;
    std::shared_ptr<const ReconnectedHandler> handler;
    {
        std::lock_guard<std::mutex> lock(m_subMutex);
        const auto now = Clock::now();
        auto wantOpen = [&](const RedisEndpoint& endpoint) {
            const auto key = endpoint.display();
            if (retryLocked(key).notBefore <= now)
                toOpen.emplace(key, endpoint);
        };
        if (!m_clustered && !m_shards.begin()->second.connection)
            wantOpen(m_options.endpoint);
        for (auto video : m_unplaced) {
            const auto& owner = m_slots.ownerOfKey(channelName(video));
            const auto it = m_shards.find(owner.display());
            if (it == m_shards.end() || !it->second.connection) {
                wantOpen(owner);
                continue;
            }
            // The slot moved to a master this node already listens to.
            it->second.videos.insert(video);
            sendOrShutdown(*it->second.connection, "SSUBSCRIBE", channelName(video));
            moved.push_back(video);
        }
        for (auto video : moved) {
            m_unplaced.erase(video);
            recovered = m_lost.erase(video) > 0 || recovered;
        }
        handler = m_reconnectedHandler;
    }
    if (recovered)
        ++m_reconnects;
    if (!moved.empty() && handler && *handler)
        (*handler)(moved);
    for (const auto& entry : toOpen) {
        if (m_stopping)
            return;
        openShard(entry.second);
    }
}

void RedisBus::openShard(const RedisEndpoint& endpoint)
{
    const std::string key = endpoint.display();
    std::unique_ptr<RedisConnection> connection;
    try {
        connection = std::make_unique<RedisConnection>(endpoint, m_options.ioTimeout);
    } catch (const std::exception&) {
        // Unreachable: retried with this master's backoff (below).
    }
    std::vector<std::uint32_t> placed;
    bool reconnect = false;
    std::shared_ptr<const ReconnectedHandler> handler;
    {
        std::lock_guard<std::mutex> lock(m_subMutex);
        auto& retry = retryLocked(key);
        if (connection) {
            try {
                for (auto video : m_unplaced) {
                    const auto channel = channelName(video);
                    if (m_slots.ownerOfKey(channel).display() != key)
                        continue;
                    connection->write(oneArg("SSUBSCRIBE", channel));
                    placed.push_back(video);
                }
                connection->flush();
            } catch (const Poco::Exception&) {
                connection.reset();
            }
        }
        if (!connection) {
            retry.failed = true;
            retry.notBefore = Clock::now() + retry.backoff->next();
            m_slotsStale = m_clustered; // the master may have been replaced (failover)
            m_subUp = false;
            return;
        }
        auto& shard = m_shards[key];
        shard.endpoint = endpoint;
        shard.connection = std::move(connection);
        shard.lastData = Clock::now();
        shard.pingPending = false;
        reconnect = retry.failed;
        for (auto video : placed) {
            m_unplaced.erase(video);
            shard.videos.insert(video);
            reconnect = m_lost.erase(video) > 0 || reconnect;
        }
        retry.failed = false;
        retry.backoff->reset();
        handler = m_reconnectedHandler;
    }
    if (reconnect)
        ++m_reconnects;
    updateSubUp();
    // Outside the lock: the handler typically reads the store and may call setInterest(). Videos
    // placed here were not subscribed for a while (a reconnect, a moved slot, a new master): the
    // receiver fills what it missed from the store.
    if (handler && *handler && (reconnect || !placed.empty()))
        (*handler)(placed);
}

void RedisBus::heartbeat(const std::string& key, RedisConnection& connection)
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    auto& shard = m_shards.at(key);
    const auto idle = Clock::now() - shard.lastData;
    if (shard.pingPending && idle > m_options.heartbeat + m_options.ioTimeout)
        throw Poco::TimeoutException("Redis did not answer PING");
    if (!shard.pingPending && idle > m_options.heartbeat) {
        // A half-open TCP connection (Redis host gone, no RST) never fails a read; an unanswered
        // PING is how it is noticed.
        Array ping;
        ping << "PING";
        connection.write(ping);
        connection.flush();
        shard.pingPending = true;
    }
}

void RedisBus::readShard(const std::string& key, RedisConnection& connection)
{
    // Everything already buffered is handled before the bookkeeping lock is taken once.
    do
        handlePush(key, connection.readReply());
    while (connection.buffered());
    std::lock_guard<std::mutex> lock(m_subMutex);
    auto& shard = m_shards.at(key);
    shard.lastData = Clock::now();
    shard.pingPending = false;
}

void RedisBus::subscriberLoop()
{
    while (!m_stopping) {
        placeVideos();
        // Only this thread opens and closes shard connections, so the pointers stay valid here.
        std::vector<std::pair<std::string, RedisConnection*>> live;
        {
            std::lock_guard<std::mutex> lock(m_subMutex);
            for (const auto& entry : m_shards) {
                if (entry.second.connection)
                    live.emplace_back(entry.first, entry.second.connection.get());
            }
        }
        if (live.empty()) {
            waitFor(kPollSlice);
            continue;
        }
        std::vector<pollfd> fds;
        bool buffered = false;
        for (const auto& entry : live) {
            buffered = buffered || entry.second->buffered();
            fds.push_back(pollfd { entry.second->descriptor(), POLLIN, 0 });
        }
        if (!buffered)
            ::poll(fds.data(), fds.size(), static_cast<int>(kPollSlice.count()));
        for (std::size_t i = 0; i < live.size() && !m_stopping; ++i) {
            auto& [key, connection] = live[i];
            try {
                if (fds[i].revents != 0 || connection->buffered())
                    readShard(key, *connection);
                else
                    heartbeat(key, *connection);
            } catch (const std::exception&) {
                failShard(key);
            }
        }
        updateSubUp();
    }
}

void RedisBus::handlePush(const std::string& key, const RedisType::Ptr& value)
{
    if (m_clustered && reply::isError(value)) {
        // -MOVED to an SSUBSCRIBE: the slot has another owner now. Anything else (CLUSTERDOWN,
        // ...) fails the shard connection, which reconnects with backoff and resubscribes.
        const auto message = reply::errorMessage(value);
        std::lock_guard<std::mutex> lock(m_subMutex);
        auto& shard = m_shards.at(key);
        Redirect redirect;
        // Sharded channels of a migrating slot are served by the source until the migration
        // ends (then it pushes `sunsubscribe`), so -ASK is not expected: handled as a failure.
        if (!parseRedirect(message, shard.endpoint, redirect) || redirect.ask)
            throw std::runtime_error("Redis refused a subscription: " + message);
        m_slots.assign(redirect.slot, redirect.target);
        m_slotsStale = true;
        const std::set<std::uint32_t> videos = shard.videos;
        for (auto video : videos) {
            if (keySlot(channelName(video)) == redirect.slot)
                unplaceLocked(shard, video);
        }
        return;
    }
    // +PONG (before the first subscription), error replies and anything but an array carry no
    // event.
    if (value->type() != Poco::Redis::RedisTypeTraits<Array>::TypeId)
        return;
    const auto& push = reply::array(value);
    if (push.isNull() || push.size() != 3)
        return; // ["pong", ""] has two elements
    const std::vector<RedisType::Ptr> items(push.begin(), push.end());
    std::string kind;
    std::string payload;
    try {
        kind = reply::string(items[0]);
        if (kind == "sunsubscribe" && m_clustered) {
            unsolicitedUnsubscribe(key, reply::string(items[1]));
            return;
        }
        if (kind != "smessage")
            return; // ssubscribe / sunsubscribe confirmations
        payload = reply::string(items[2]);
    } catch (const std::runtime_error&) {
        ++m_decodeErrors;
        return;
    }
    BusEvent event;
    std::uint32_t origin = 0;
    if (!decode(payload, event, origin)) {
        ++m_decodeErrors;
        return;
    }
    if (origin == m_options.nodeId)
        return; // the publisher has fanned it out locally already
    std::shared_ptr<const Handler> handler;
    {
        std::lock_guard<std::mutex> lock(m_subMutex);
        // A message already in flight when SUNSUBSCRIBE was sent: this node no longer wants it.
        if (m_interest.count(event.videoId) == 0)
            return;
        handler = m_handler;
    }
    ++m_messagesIn;
    if (handler && *handler)
        (*handler)(event);
}

void RedisBus::unsolicitedUnsubscribe(const std::string& key, const std::string& channel)
{
    // Redis drops the sharded subscribers of a slot it no longer serves (resharding, failover)
    // with a `sunsubscribe` push. A channel this node still wants on this connection was not
    // unsubscribed by setInterest(): it is subscribed again at the slot's new owner.
    std::lock_guard<std::mutex> lock(m_subMutex);
    auto& shard = m_shards.at(key);
    for (auto video : shard.videos) {
        if (channelName(video) == channel) {
            unplaceLocked(shard, video);
            m_slotsStale = true;
            return;
        }
    }
}

std::size_t RedisBus::dropExpired(std::deque<Pending>& queue)
{
    const auto limit = Clock::now() - m_options.publishRetryWindow;
    std::size_t dropped = 0;
    while (!queue.empty() && queue.front().queued < limit) {
        queue.pop_front();
        ++dropped;
    }
    m_publishFailures += dropped;
    return dropped;
}

std::string RedisBus::ownerOf(const Pending& pending) const
{
    return m_pub->slotMap().ownerOfKey(pending.channel).display();
}

void RedisBus::takeBatch(std::vector<Pending>& batch)
{
    const auto now = Clock::now();
    // Parked events are older than anything queued: a master due for a retry goes first.
    for (auto& [owner, parked] : m_parked) {
        while (parked.retryAt <= now && !parked.events.empty() && batch.size() < kMaxBatch) {
            batch.push_back(std::move(parked.events.front()));
            parked.events.pop_front();
        }
    }
    while (!m_queue.empty() && batch.size() < kMaxBatch) {
        const auto it = m_parked.find(ownerOf(m_queue.front()));
        if (it != m_parked.end() && !it->second.events.empty())
            it->second.events.push_back(std::move(m_queue.front()));
        else
            batch.push_back(std::move(m_queue.front()));
        m_queue.pop_front();
    }
}

void RedisBus::sendBatch(std::vector<Pending>& batch)
{
    std::vector<RedisRouter::Keyed> commands;
    commands.reserve(batch.size());
    for (const auto& pending : batch) {
        Array cmd;
        cmd << "SPUBLISH" << pending.channel << pending.payload;
        commands.emplace_back(pending.channel, std::move(cmd));
    }
    // One master being down must not hold up the others' events: its commands fail alone.
    const auto replies = m_pub->pipeline(commands, true);
    std::map<std::string, std::vector<Pending>> failed;
    std::set<std::string> delivered;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        const auto owner = ownerOf(batch[i]);
        if (!reply::isError(replies[i])) {
            ++m_messagesOut;
            delivered.insert(owner);
        } else if (isTransient(reply::errorMessage(replies[i]))) {
            failed[owner].push_back(std::move(batch[i]));
        } else {
            ++m_publishFailures;
        }
    }
    for (const auto& owner : delivered) {
        const auto it = m_parked.find(owner);
        if (it != m_parked.end() && it->second.events.empty() && failed.count(owner) == 0)
            m_parked.erase(it);
    }
    const auto now = Clock::now();
    for (auto& [owner, events] : failed) {
        auto& parked = m_parked[owner];
        if (!parked.backoff)
            parked.backoff
                = std::make_unique<Backoff>(m_options.reconnectBase, m_options.reconnectCap);
        // Back in front of the master's later events, in their order: they are retried after a
        // backoff until their retry window ends (receivers skip ids they already have; see
        // docs/operations.md "Cluster").
        parked.events.insert(parked.events.begin(), std::make_move_iterator(events.begin()),
            std::make_move_iterator(events.end()));
        parked.retryAt = now + parked.backoff->next();
    }
    batch.clear();
}

void RedisBus::publisherLoop()
{
    auto lastPing = Clock::now();
    bool pingOk = true;
    while (!m_stopping) {
        std::vector<Pending> batch;
        {
            auto wait = m_options.heartbeat;
            const auto now = Clock::now();
            for (const auto& entry : m_parked) {
                const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                    entry.second.retryAt - now);
                wait = std::max(std::chrono::milliseconds(0), std::min(wait, until));
            }
            std::unique_lock<std::mutex> lock(m_queueMutex);
            m_queueCv.wait_for(
                lock, wait, [this] { return m_stopping.load() || !m_queue.empty(); });
            if (m_stopping)
                break;
            dropExpired(m_queue);
            for (auto it = m_parked.begin(); it != m_parked.end();) {
                dropExpired(it->second.events);
                it = it->second.events.empty() ? m_parked.erase(it) : std::next(it);
            }
            takeBatch(batch);
        }
        if (!batch.empty())
            sendBatch(batch);
        if (Clock::now() - lastPing >= m_options.heartbeat) {
            // Every master is PINGed so that healthy() turns false while Redis (or one cluster
            // master) is away even when nobody comments, and true again once it is back.
            lastPing = Clock::now();
            try {
                m_pub->ping();
                pingOk = true;
            } catch (const std::exception&) {
                pingOk = false;
            }
        }
        m_pubUp = pingOk && m_parked.empty();
    }
}

} // namespace livecomments::server::bus
