// SPDX-License-Identifier: MIT
#include "subscriber_loop.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace livecomments::bench {
namespace {
constexpr std::size_t kMaxHeadBytes = 16 * 1024;
constexpr std::size_t kMaxLineBytes = 1024 * 1024;
constexpr std::size_t kReadBuffer = 64 * 1024;
} // namespace

SharedState::SharedState(std::size_t count)
    : openPerVideo(new std::atomic<std::uint32_t>[count])
    , videoCount(count)
{
    for (std::size_t i = 0; i < count; ++i)
        openPerVideo[i].store(0);
}

struct SubscriberLoop::Subscriber {
    enum class Phase : std::uint8_t { Idle, Connecting, Head, Body, Closed };
    int fd = -1;
    std::size_t globalIndex = 0;
    std::size_t video = 0;
    Phase phase = Phase::Idle;
    bool chunked = false;
    ChunkedDecoder decoder;
    std::string head; ///< response head while it is incomplete
    std::string line; ///< partial body line carried over between reads
    std::uint64_t skipped = 0; ///< the last `"skipped":K` of a `stats` event (hot-stream shaping)
};

SubscriberLoop::SubscriberLoop(Config config,
    std::vector<std::pair<std::size_t, std::size_t>> subscribers, SharedState& shared)
    : m_config(std::move(config))
    , m_shared(shared)
{
    m_subs.resize(subscribers.size());
    for (std::size_t i = 0; i < subscribers.size(); ++i) {
        m_subs[i].globalIndex = subscribers[i].first;
        m_subs[i].video = subscribers[i].second;
    }
}

SubscriberLoop::~SubscriberLoop()
{
    if (m_thread.joinable()) {
        m_shared.stop = true;
        m_thread.join();
    }
}

void SubscriberLoop::start()
{
    m_thread = std::thread([this] { run(); });
}

void SubscriberLoop::join()
{
    if (m_thread.joinable())
        m_thread.join();
    m_result.shed = 0;
    for (const auto& s : m_subs)
        m_result.shed += s.skipped;
}

void SubscriberLoop::run()
{
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    std::vector<epoll_event> events(1024);
    while (!m_shared.stop.load(std::memory_order_relaxed)) {
        startConnects();
        const int n = epoll_wait(m_epoll, events.data(), static_cast<int>(events.size()), 20);
        m_now = nowNs();
        m_windowStart = m_shared.windowStartNs.load(std::memory_order_relaxed);
        m_windowEnd = m_shared.windowEndNs.load(std::memory_order_relaxed);
        for (int i = 0; i < n; ++i) {
            Subscriber& s = m_subs[events[i].data.u32];
            if (s.phase == Subscriber::Phase::Connecting)
                onWritable(s);
            else if (s.phase == Subscriber::Phase::Head || s.phase == Subscriber::Phase::Body)
                onReadable(s);
        }
        if (m_deliveredSinceFlush != 0) {
            m_shared.delivered.fetch_add(m_deliveredSinceFlush, std::memory_order_relaxed);
            m_deliveredSinceFlush = 0;
        }
    }
    for (Subscriber& s : m_subs) {
        if (s.fd >= 0)
            ::close(s.fd);
        s.fd = -1;
    }
    ::close(m_epoll);
}

void SubscriberLoop::startConnects()
{
    while (m_pending < m_config.maxPending && m_nextToStart < m_subs.size()) {
        const auto local = static_cast<std::uint32_t>(m_nextToStart);
        Subscriber& s = m_subs[m_nextToStart++];
        s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s.fd < 0) {
            fail(s, std::string("socket: ") + std::strerror(errno));
            continue;
        }
        ++m_pending;
        const int one = 1;
        setsockopt(s.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in source {};
        source.sin_family = AF_INET;
        source.sin_addr = loopbackSource(s.globalIndex, m_config.sources);
        if (::bind(s.fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
            fail(s, std::string("bind: ") + std::strerror(errno));
            continue;
        }
        const auto& target = m_config.endpoint.address;
        if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0
            && errno != EINPROGRESS) {
            fail(s, std::string("connect: ") + std::strerror(errno));
            continue;
        }
        s.phase = Subscriber::Phase::Connecting;
        epoll_event ev {};
        ev.events = EPOLLOUT;
        ev.data.u32 = local;
        epoll_ctl(m_epoll, EPOLL_CTL_ADD, s.fd, &ev);
    }
}

void SubscriberLoop::onWritable(Subscriber& s)
{
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
        fail(s, std::string("connect: ") + std::strerror(error));
        return;
    }
    const std::string& request = m_config.requests[s.video];
    // The request is a few hundred bytes: it fits any fresh socket buffer in one send.
    const ssize_t sent = ::send(s.fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (sent != static_cast<ssize_t>(request.size())) {
        fail(s, std::string("send: ") + std::strerror(errno));
        return;
    }
    s.phase = Subscriber::Phase::Head;
    epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<std::uint32_t>(&s - m_subs.data());
    epoll_ctl(m_epoll, EPOLL_CTL_MOD, s.fd, &ev);
}

void SubscriberLoop::onReadable(Subscriber& s)
{
    static thread_local std::vector<char> buffer(kReadBuffer);
    for (;;) {
        const ssize_t n = ::read(s.fd, buffer.data(), buffer.size());
        if (n > 0) {
            m_result.bytes += static_cast<std::uint64_t>(n);
            if (!consume(s, std::string_view(buffer.data(), static_cast<std::size_t>(n))))
                return;
            if (static_cast<std::size_t>(n) < buffer.size())
                return;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (s.phase == Subscriber::Phase::Head)
            fail(s,
                n == 0 ? "closed before response head"
                       : std::string("read: ") + std::strerror(errno));
        else
            closeSubscriber(s);
        return;
    }
}

bool SubscriberLoop::consume(Subscriber& s, std::string_view data)
{
    if (s.phase == Subscriber::Phase::Head) {
        const std::size_t before = s.head.size();
        s.head.append(data);
        const auto end = s.head.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (end == std::string::npos) {
            if (s.head.size() > kMaxHeadBytes)
                fail(s, "response head too large");
            return s.phase != Subscriber::Phase::Closed;
        }
        const int status = s.head.size() > 12 ? std::atoi(s.head.c_str() + 9) : 0;
        if (status != 200) {
            fail(s, "status " + std::to_string(status));
            return false;
        }
        std::string lower = s.head.substr(0, end);
        std::transform(lower.begin(), lower.end(), lower.begin(),
            [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        s.chunked = lower.find("\r\ntransfer-encoding: chunked") != std::string::npos;
        const std::string rest = s.head.substr(end + 4);
        s.head.clear();
        s.head.shrink_to_fit();
        s.phase = Subscriber::Phase::Body;
        --m_pending;
        m_shared.connected.fetch_add(1, std::memory_order_relaxed);
        m_shared.openPerVideo[s.video].fetch_add(1, std::memory_order_relaxed);
        consumeBody(s, rest);
        return s.phase == Subscriber::Phase::Body;
    }
    consumeBody(s, data);
    return s.phase == Subscriber::Phase::Body;
}

void SubscriberLoop::consumeBody(Subscriber& s, std::string_view data)
{
    auto lines = [this, &s](std::string_view chunk) {
        while (!chunk.empty()) {
            const void* nl = std::memchr(chunk.data(), '\n', chunk.size());
            if (nl == nullptr) {
                if (s.line.size() + chunk.size() > kMaxLineBytes)
                    s.line.clear(); // not an event we measure; keep memory bounded
                s.line.append(chunk);
                return;
            }
            const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - chunk.data());
            if (s.line.empty()) {
                onLine(s, chunk.substr(0, len));
            } else {
                s.line.append(chunk.substr(0, len));
                onLine(s, s.line);
                s.line.clear();
            }
            chunk.remove_prefix(len + 1);
        }
    };
    if (!s.chunked) {
        lines(data);
        return;
    }
    if (!s.decoder.feed(data, lines))
        closeSubscriber(s);
}

void SubscriberLoop::onLine(Subscriber& s, std::string_view line)
{
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    if (line.size() < 5)
        return;
    if (line.compare(0, 5, "data:") != 0) {
        if (line == "event: reset" || line == "event:reset")
            ++m_result.resets;
        return;
    }
    // The comment text is "bench:<send ns>:<seq>", whatever envelope carries it.
    const auto tag = line.find("bench:");
    if (tag == std::string_view::npos) {
        // livecomments-server's `stats` with shaping on: comments it did not send this stream.
        static constexpr std::string_view kSkipped = "\"skipped\":";
        const auto at = line.find(kSkipped);
        if (at != std::string_view::npos) {
            std::uint64_t k = 0;
            for (std::size_t i = at + kSkipped.size();
                 i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i)
                k = k * 10 + static_cast<std::uint64_t>(line[i] - '0');
            s.skipped = k;
        }
        return;
    }
    std::int64_t sentNs = 0;
    std::size_t i = tag + 6;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9')
        sentNs = sentNs * 10 + (line[i++] - '0');
    if (m_now >= m_windowStart && m_now < m_windowEnd)
        ++m_result.arrivedInWindow;
    if (sentNs >= m_windowStart && sentNs < m_windowEnd) {
        ++m_result.delivered;
        ++m_deliveredSinceFlush;
        const std::int64_t latency = std::max<std::int64_t>(0, m_now - sentNs);
        m_result.latency.record(static_cast<std::uint64_t>(latency / 1000));
    } else {
        ++m_result.outsideWindow;
    }
}

void SubscriberLoop::fail(Subscriber& s, const std::string& reason)
{
    ++m_result.errors[reason];
    m_shared.failed.fetch_add(1, std::memory_order_relaxed);
    if (s.phase != Subscriber::Phase::Body && m_pending > 0 && s.fd >= 0)
        --m_pending;
    if (s.fd >= 0)
        ::close(s.fd);
    s.fd = -1;
    s.phase = Subscriber::Phase::Closed;
}

void SubscriberLoop::closeSubscriber(Subscriber& s)
{
    if (s.phase == Subscriber::Phase::Body) {
        m_shared.disconnected.fetch_add(1, std::memory_order_relaxed);
        m_shared.openPerVideo[s.video].fetch_sub(1, std::memory_order_relaxed);
    }
    if (s.fd >= 0)
        ::close(s.fd);
    s.fd = -1;
    s.phase = Subscriber::Phase::Closed;
    s.line.clear();
    s.line.shrink_to_fit();
}

} // namespace livecomments::bench
