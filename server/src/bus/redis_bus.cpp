// SPDX-License-Identifier: MIT
#include "bus/redis_bus.h"

#include <Poco/Exception.h>

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
{
    m_sub = connectWithRetry(m_options.endpoint, m_options.startup, m_options.ioTimeout);
    m_pub = connectWithRetry(m_options.endpoint, m_options.startup, m_options.ioTimeout);
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
    m_sub.reset();
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

void RedisBus::setInterest(std::uint32_t videoId, bool interested)
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    const bool changed
        = interested ? m_interest.insert(videoId).second : m_interest.erase(videoId) > 0;
    if (!changed || !m_sub)
        return;
    try {
        // One channel per command: in a cluster, channels of one SSUBSCRIBE must share a slot.
        m_sub->write(oneArg(interested ? "SSUBSCRIBE" : "SUNSUBSCRIBE", channelName(videoId)));
        m_sub->flush();
    } catch (const Poco::Exception&) {
        // The subscriber thread notices the broken connection, reconnects and subscribes to
        // m_interest, which already holds this change.
        m_sub->shutdown();
    }
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

void RedisBus::dropSubscriber()
{
    std::lock_guard<std::mutex> lock(m_subMutex);
    m_sub.reset();
    m_subUp = false;
}

bool RedisBus::reconnectSubscriber(Backoff& backoff)
{
    if (!waitFor(backoff.next()))
        return false;
    std::unique_ptr<RedisConnection> connection;
    try {
        connection = std::make_unique<RedisConnection>(m_options.endpoint, m_options.ioTimeout);
    } catch (const std::exception&) {
        return false;
    }
    std::vector<std::uint32_t> videos;
    std::shared_ptr<const ReconnectedHandler> handler;
    {
        std::lock_guard<std::mutex> lock(m_subMutex);
        try {
            for (auto video : m_interest)
                connection->write(oneArg("SSUBSCRIBE", channelName(video)));
            connection->flush();
        } catch (const Poco::Exception&) {
            return false;
        }
        videos.assign(m_interest.begin(), m_interest.end());
        m_sub = std::move(connection);
        handler = m_reconnectedHandler;
    }
    backoff.reset();
    m_subUp = true;
    ++m_reconnects;
    // Outside the lock: the handler typically reads the store and may call setInterest().
    if (handler && *handler)
        (*handler)(videos);
    return true;
}

void RedisBus::subscriberLoop()
{
    Backoff backoff(m_options.reconnectBase, m_options.reconnectCap);
    auto lastData = Clock::now();
    bool pingPending = false;
    while (!m_stopping) {
        RedisConnection* connection = nullptr;
        {
            std::lock_guard<std::mutex> lock(m_subMutex);
            connection = m_sub.get();
        }
        if (!connection) {
            if (reconnectSubscriber(backoff)) {
                lastData = Clock::now();
                pingPending = false;
            }
            continue;
        }
        // Only this thread replaces m_sub, so `connection` stays valid while it is used here.
        try {
            if (connection->poll(kPollSlice)) {
                auto value = connection->readReply();
                lastData = Clock::now();
                pingPending = false;
                handlePush(value);
                continue;
            }
            const auto idle = Clock::now() - lastData;
            if (pingPending && idle > m_options.heartbeat + m_options.ioTimeout)
                throw Poco::TimeoutException("Redis did not answer PING");
            if (!pingPending && idle > m_options.heartbeat) {
                // A half-open TCP connection (Redis host gone, no RST) never fails a read; an
                // unanswered PING is how it is noticed.
                std::lock_guard<std::mutex> lock(m_subMutex);
                Array ping;
                ping << "PING";
                connection->write(ping);
                connection->flush();
                pingPending = true;
            }
        } catch (const Poco::Exception&) {
            dropSubscriber();
        }
    }
}

void RedisBus::handlePush(const RedisType::Ptr& value)
{
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

bool RedisBus::sendBatch(std::vector<Pending>& batch)
{
    std::vector<Array> commands;
    commands.reserve(batch.size());
    for (const auto& pending : batch) {
        Array cmd;
        cmd << "SPUBLISH" << pending.channel << pending.payload;
        commands.push_back(std::move(cmd));
    }
    try {
        const auto replies = m_pub->pipeline(commands);
        for (const auto& value : replies) {
            if (reply::isError(value))
                ++m_publishFailures;
            else
                ++m_messagesOut;
        }
        return true;
    } catch (const Poco::Exception&) {
        return false;
    }
}

void RedisBus::publisherLoop()
{
    Backoff backoff(m_options.reconnectBase, m_options.reconnectCap);
    auto lastPing = Clock::now();
    while (!m_stopping) {
        if (!m_pub) {
            if (!waitFor(backoff.next()))
                break;
            try {
                m_pub = std::make_unique<RedisConnection>(m_options.endpoint, m_options.ioTimeout);
                m_pubUp = true;
                backoff.reset();
            } catch (const std::exception&) {
                std::lock_guard<std::mutex> lock(m_queueMutex);
                dropExpired(m_queue);
                continue;
            }
        }
        std::vector<Pending> batch;
        {
            std::unique_lock<std::mutex> lock(m_queueMutex);
            m_queueCv.wait_for(lock, m_options.heartbeat,
                [this] { return m_stopping.load() || !m_queue.empty(); });
            if (m_stopping)
                break;
            dropExpired(m_queue);
            while (!m_queue.empty() && batch.size() < kMaxBatch) {
                batch.push_back(std::move(m_queue.front()));
                m_queue.pop_front();
            }
        }
        if (batch.empty()) {
            if (Clock::now() - lastPing < m_options.heartbeat)
                continue;
            // An idle publishing connection is PINGed so that healthy() turns false while Redis
            // is away even when nobody comments.
            lastPing = Clock::now();
            try {
                Array ping;
                ping << "PING";
                m_pub->command(ping);
            } catch (const std::exception&) {
                m_pub.reset();
                m_pubUp = false;
            }
            continue;
        }
        if (sendBatch(batch))
            continue;
        m_pub.reset();
        m_pubUp = false;
        // Put the batch back in front: it is retried after the reconnect until its retry window
        // ends (receivers skip ids they already have; see docs/operations.md "Cluster").
        std::lock_guard<std::mutex> lock(m_queueMutex);
        for (auto it = batch.rbegin(); it != batch.rend(); ++it)
            m_queue.push_front(std::move(*it));
    }
}

} // namespace livecomments::server::bus
