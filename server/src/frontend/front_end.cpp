// SPDX-License-Identifier: MIT
// The event-driven front end (docs/server.md "Front end"). One epoll thread owns every
// connection that is not running a handler: it reads into a buffer until a request is complete,
// enforces the deadlines, and writes responses without blocking. Level-triggered epoll keeps the
// state machine simple; a connection whose request runs on a worker is taken out of epoll, so a
// pipelining client cannot make the loop spin while it waits.
#include "frontend/front_end.h"

#include "http/exchange.h"
#include "model/json_text.h"
#include "model/thread_name.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/Logger.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Timestamp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace livecomments::server::frontend {

namespace {

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr std::uint64_t kFirstConnId = 2;
constexpr int kSweepMs = 100; ///< deadline resolution
constexpr std::size_t kReadChunk = 16384;
constexpr std::size_t kMaxRejecting = 1024; ///< refused connections still getting their answer

std::int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Poco::Logger& log()
{
    static Poco::Logger& logger = Poco::Logger::get("livecomments.frontend");
    return logger;
}

enum class State { Reading, Dispatched, Writing, Lingering };
enum class Deadline { None, Idle, Head, Body, Send, Linger };

struct Conn {
    std::uint64_t id = 0;
    int fd = -1;
    State state = State::Reading;
    Deadline deadline = Deadline::None;
    std::int64_t deadlineMs = 0;
    std::string in;
    std::string out;
    std::size_t outOffset = 0;
    Poco::Net::SocketAddress client;
    std::string ip;
    bool counted = false; ///< counts towards the node and per-IP limits
    bool peerEof = false;
    bool closeAfterWrite = false;
    bool continueSent = false;
    bool inEpoll = false;
    std::uint32_t events = 0;
    bool headSeen = false; ///< the current request's head is complete (body deadline runs)
};

struct Job {
    std::uint64_t connId = 0;
    int fd = -1;
    RequestHead head;
    std::string body;
    Poco::Net::SocketAddress client;
    Poco::Net::SocketAddress server;
};

struct Completion {
    std::uint64_t connId = 0;
    std::string bytes;
    bool keepAlive = false;
    bool detached = false;
};

struct Bucket {
    double tokens = 0;
    std::int64_t updatedMs = 0;
};

const char* reasonOf(int status)
{
    return Poco::Net::HTTPResponse::getReasonForStatus(
        static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status))
        .c_str();
}

} // namespace

class FrontEnd::Impl {
public:
    Impl(FrontEndOptions options, Poco::Net::HTTPRequestHandlerFactory& factory)
        : m_options(std::move(options))
        , m_factory(factory)
    { }

    void start(int listenFd);
    void stopAccepting();
    void stop();
    FrontEndStats stats() const;

private:
    // Loop thread.
    void run();
    void acceptAll();
    void onEvent(std::uint64_t tag, std::uint32_t events);
    void readInput(Conn& c);
    void process(Conn& c);
    void dispatch(Conn& c, RequestHead head, std::string body);
    void fail(Conn& c, int status, const char* code, const char* message, int retryAfter = 0);
    void startWrite(Conn& c, std::string bytes, bool closeAfter);
    void writeOutput(Conn& c);
    void afterResponse(Conn& c);
    void startLinger(Conn& c);
    void closeConn(std::uint64_t id);
    void setInterest(Conn& c, std::uint32_t events);
    void setDeadline(Conn& c, Deadline kind, int ms);
    void sweep();
    void drainCompletions();
    bool allowUnauthenticated(const std::string& ip, int& retryAfter);
    /// Most input buffered per connection: a whole request plus some pipelined bytes.
    std::size_t inputCap() const
    {
        return m_options.limits.maxHeadBytes + m_options.limits.maxBodyBytes + 65536;
    }

    // Workers.
    void workerRun();
    Completion handle(Job& job);

    const FrontEndOptions m_options;
    Poco::Net::HTTPRequestHandlerFactory& m_factory;
    std::thread m_loop;
    std::vector<std::thread> m_workers;
    int m_epoll = -1;
    int m_wake = -1;
    int m_listen = -1;
    int m_listenForShutdown = -1; ///< m_listen as set by start(); read by stopAccepting()
    std::atomic<bool> m_acceptStopRequested { false };
    std::atomic<bool> m_acceptStopped { false }; ///< set after the shutdown(): the loop may close
    std::atomic<bool> m_loopStop { false };
    std::atomic<bool> m_stopping { false }; ///< stop() began: no keep-alive any more
    bool m_started = false;
    bool m_stopped = false;

    // Loop-thread state.
    std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> m_conns;
    std::unordered_map<std::string, std::size_t> m_perIp;
    std::unordered_map<std::string, Bucket> m_buckets;
    std::size_t m_counted = 0;
    std::size_t m_rejecting = 0;
    std::uint64_t m_nextId = kFirstConnId;
    std::int64_t m_acceptPausedUntil = 0;

    // Worker queue.
    std::mutex m_jobMutex;
    std::condition_variable m_jobCv;
    std::deque<Job> m_jobs;
    bool m_workersStop = false;

    // Completions (workers → loop).
    std::mutex m_doneMutex;
    std::vector<Completion> m_done;

    mutable std::mutex m_statsMutex;
    FrontEndStats m_stats;
};

FrontEnd::FrontEnd(FrontEndOptions options, Poco::Net::HTTPRequestHandlerFactory& factory)
    : m_impl(std::make_unique<Impl>(std::move(options), factory))
{ }

FrontEnd::~FrontEnd()
{
    stop();
}

void FrontEnd::start(int listenFd)
{
    m_impl->start(listenFd);
}

void FrontEnd::stopAccepting()
{
    m_impl->stopAccepting();
}

void FrontEnd::stop()
{
    m_impl->stop();
}

FrontEndStats FrontEnd::stats() const
{
    return m_impl->stats();
}

void FrontEnd::Impl::start(int listenFd)
{
    m_listen = ::dup(listenFd);
    m_listenForShutdown = m_listen;
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    m_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_listen < 0 || m_epoll < 0 || m_wake < 0)
        throw Poco::IOException("front end: cannot create descriptors");
    ::fcntl(m_listen, F_SETFL, ::fcntl(m_listen, F_GETFL) | O_NONBLOCK);
    epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = kListenTag;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_listen, &ev);
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake, &ev);
    m_started = true;
    for (int i = 0; i < std::max(1, m_options.workers); ++i)
        m_workers.emplace_back([this] {
            setThreadName("lc-worker");
            workerRun();
        });
    m_loop = std::thread([this] {
        setThreadName("lc-frontend");
        run();
    });
}

void FrontEnd::Impl::stopAccepting()
{
    if (!m_started || m_acceptStopRequested.exchange(true))
        return;
    // Refuses new connections at once (the kernel answers SYN with RST). The loop closes the
    // descriptor only after m_acceptStopped is set, i.e. after this shutdown.
    ::shutdown(m_listenForShutdown, SHUT_RDWR);
    m_acceptStopped = true;
    const std::uint64_t one = 1;
    (void)!::write(m_wake, &one, sizeof one);
}

void FrontEnd::Impl::stop()
{
    if (!m_started || m_stopped)
        return;
    m_stopped = true;
    m_stopping = true;
    stopAccepting();
    // Workers first: they finish the queue (handlers answer 503 while shutting down) and post
    // their completions to the loop, which is still writing.
    {
        std::lock_guard lock(m_jobMutex);
        m_workersStop = true;
    }
    m_jobCv.notify_all();
    for (auto& t : m_workers)
        t.join();
    m_loopStop = true;
    const std::uint64_t one = 1;
    (void)!::write(m_wake, &one, sizeof one);
    m_loop.join();
    for (auto& [id, c] : m_conns)
        ::close(c->fd);
    m_conns.clear();
    if (m_listen >= 0)
        ::close(m_listen);
    ::close(m_epoll);
    ::close(m_wake);
}

FrontEndStats FrontEnd::Impl::stats() const
{
    std::lock_guard lock(m_statsMutex);
    return m_stats;
}

void FrontEnd::Impl::run()
{
    std::vector<epoll_event> events(512);
    std::int64_t nextSweep = nowMs() + kSweepMs;
    std::int64_t stopDeadline = 0;
    for (;;) {
        const std::int64_t now = nowMs();
        int timeout = static_cast<int>(std::max<std::int64_t>(0, nextSweep - now));
        const int n
            = ::epoll_wait(m_epoll, events.data(), static_cast<int>(events.size()), timeout);
        for (int i = 0; i < n; ++i)
            onEvent(events[static_cast<std::size_t>(i)].data.u64,
                events[static_cast<std::size_t>(i)].events);
        drainCompletions();
        if (m_acceptStopped && m_listen >= 0) {
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, m_listen, nullptr);
            ::close(m_listen);
            m_listen = -1;
        }
        if (nowMs() >= nextSweep) {
            sweep();
            nextSweep = nowMs() + kSweepMs;
        }
        if (m_loopStop) {
            // Final flush: idle connections go now, responses being written get a moment.
            if (stopDeadline == 0)
                stopDeadline = nowMs() + 2000;
            std::vector<std::uint64_t> idle;
            for (auto& [id, c] : m_conns) {
                if (c->state != State::Writing)
                    idle.push_back(id);
            }
            for (const auto id : idle)
                closeConn(id);
            if (m_conns.empty() || nowMs() >= stopDeadline)
                return;
        }
    }
}

void FrontEnd::Impl::onEvent(std::uint64_t tag, std::uint32_t events)
{
    if (tag == kWakeTag) {
        std::uint64_t value = 0;
        (void)!::read(m_wake, &value, sizeof value);
        return;
    }
    if (tag == kListenTag) {
        acceptAll();
        return;
    }
    const auto it = m_conns.find(tag);
    if (it == m_conns.end())
        return;
    Conn& c = *it->second;
    if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
        closeConn(c.id);
        return;
    }
    if (c.state == State::Writing && (events & EPOLLOUT)) {
        writeOutput(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        readInput(c);
}

void FrontEnd::Impl::acceptAll()
{
    if (m_acceptStopped || m_listen < 0 || nowMs() < m_acceptPausedUntil)
        return;
    for (int i = 0; i < 256; ++i) {
        sockaddr_storage addr {};
        socklen_t len = sizeof addr;
        const int fd = ::accept4(
            m_listen, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                // Out of descriptors: stop accepting for a moment instead of spinning on a
                // listening socket that stays readable.
                log().warning("front end: out of file descriptors; pausing accept");
                m_acceptPausedUntil = nowMs() + 100;
                ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, m_listen, nullptr);
            }
            return;
        }
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto conn = std::make_unique<Conn>();
        Conn& c = *conn;
        c.id = m_nextId++;
        c.fd = fd;
        c.client = Poco::Net::SocketAddress(reinterpret_cast<sockaddr*>(&addr), len);
        c.ip = c.client.host().toString();
        m_conns.emplace(c.id, std::move(conn));
        {
            std::lock_guard lock(m_statsMutex);
            ++m_stats.accepted;
        }
        std::size_t& perIp = m_perIp[c.ip];
        const bool nodeFull = m_counted >= m_options.maxConnections;
        const bool ipFull = perIp >= m_options.maxConnectionsPerIp;
        if (nodeFull || ipFull) {
            if (perIp == 0)
                m_perIp.erase(c.ip);
            {
                std::lock_guard lock(m_statsMutex);
                ++(nodeFull ? m_stats.rejectedNode : m_stats.rejectedIp);
            }
            if (m_rejecting >= kMaxRejecting) { // a flood: no answer, just close
                closeConn(c.id);
                continue;
            }
            ++m_rejecting;
            if (nodeFull)
                fail(c, 503, "server_busy", "too many connections to this server", 5);
            else
                fail(c, 429, "too_many_connections", "too many connections from this address", 5);
            continue;
        }
        ++perIp;
        ++m_counted;
        c.counted = true;
        setInterest(c, EPOLLIN | EPOLLRDHUP);
        setDeadline(c, Deadline::Idle, m_options.headTimeoutMs);
    }
}

void FrontEnd::Impl::readInput(Conn& c)
{
    const std::size_t cap = inputCap();
    char buffer[kReadChunk];
    for (;;) {
        if (c.state == State::Reading && c.in.size() >= cap)
            break; // enough to decide; the rest waits in the kernel
        const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            if (c.state == State::Lingering)
                continue; // dropped: we are closing
            if (c.in.empty() && !c.headSeen)
                setDeadline(c, Deadline::Head, m_options.headTimeoutMs);
            c.in.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            c.peerEof = true;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            closeConn(c.id);
            return;
        }
        break;
    }
    if (c.state == State::Lingering) {
        if (c.peerEof)
            closeConn(c.id);
        return;
    }
    if (c.state == State::Reading)
        process(c);
}

void FrontEnd::Impl::process(Conn& c)
{
    if (c.in.empty()) {
        if (c.peerEof)
            closeConn(c.id);
        return;
    }
    RequestHead head;
    HeadError error;
    const ParseResult parsed = parseRequestHead(c.in, m_options.limits, head, error);
    if (parsed == ParseResult::Error) {
        fail(c, error.status, error.code, error.message);
        return;
    }
    if (parsed == ParseResult::Incomplete) {
        if (c.peerEof)
            fail(c, 400, "bad_request", "connection closed inside the request head");
        return;
    }
    if (!c.headSeen) {
        c.headSeen = true;
        setDeadline(c, Deadline::Body, m_options.bodyTimeoutMs);
    }
    std::string body;
    std::size_t consumed = head.headBytes;
    ParseResult bodyState = ParseResult::Complete;
    if (head.framing == BodyFraming::Length) {
        if (c.in.size() - head.headBytes >= head.contentLength) {
            body = c.in.substr(head.headBytes, head.contentLength);
            consumed += head.contentLength;
        } else {
            bodyState = ParseResult::Incomplete;
        }
    } else if (head.framing == BodyFraming::Chunked) {
        std::size_t used = 0;
        bodyState = decodeChunked(std::string_view(c.in).substr(head.headBytes),
            m_options.limits.maxBodyBytes, body, used, error);
        consumed += used;
        if (bodyState == ParseResult::Error) {
            fail(c, error.status, error.code, error.message);
            return;
        }
    }
    if (bodyState == ParseResult::Incomplete) {
        if (c.peerEof) { // RFC 9112 §8: an incomplete message is never processed
            fail(c, 400, "bad_request", "connection closed before the end of the body");
            return;
        }
        if (c.in.size() >= inputCap()) { // e.g. 1-byte chunks: small body, huge encoding
            fail(c, 413, "payload_too_large", "request body too large");
            return;
        }
        if (head.expectContinue && !c.continueSent && head.minorVersion == 1) {
            c.continueSent = true;
            static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
            // A few bytes into an empty socket buffer: a short write means a broken peer.
            if (::send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL)
                != static_cast<ssize_t>(sizeof kContinue - 1))
                closeConn(c.id);
        }
        return;
    }
    c.in.erase(0, consumed);
    c.headSeen = false;
    c.continueSent = false;
    dispatch(c, std::move(head), std::move(body));
}

bool FrontEnd::Impl::allowUnauthenticated(const std::string& ip, int& retryAfter)
{
    if (m_options.ipRateCount <= 0)
        return true;
    const std::int64_t now = nowMs();
    const double rate = m_options.ipRateCount / m_options.ipRateSeconds / 1000.0; // per ms
    if (m_buckets.size() > 100000) { // drop full buckets: they carry no state
        for (auto it = m_buckets.begin(); it != m_buckets.end();) {
            const double tokens
                = it->second.tokens + static_cast<double>(now - it->second.updatedMs) * rate;
            it = tokens >= m_options.ipRateCount ? m_buckets.erase(it) : std::next(it);
        }
    }
    auto [it, inserted] = m_buckets.try_emplace(ip);
    Bucket& b = it->second;
    if (inserted)
        b.tokens = m_options.ipRateCount;
    else
        b.tokens = std::min(
            m_options.ipRateCount, b.tokens + static_cast<double>(now - b.updatedMs) * rate);
    b.updatedMs = now;
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
    }
    retryAfter = std::max(1, static_cast<int>((1 - b.tokens) / rate / 1000.0 + 0.999));
    return false;
}

void FrontEnd::Impl::dispatch(Conn& c, RequestHead head, std::string body)
{
    if (m_stopping) { // the workers may be gone already: answer here, like the handlers do
        fail(c, 503, "shutting_down", "the server is shutting down", 2);
        return;
    }
    bool authenticated = false;
    for (const auto& [name, value] : head.fields)
        authenticated = authenticated || equalsIgnoreCase(name, "authorization");
    int retryAfter = 0;
    if (!authenticated && !allowUnauthenticated(c.ip, retryAfter)) {
        {
            std::lock_guard lock(m_statsMutex);
            ++m_stats.rateLimited;
        }
        fail(c, 429, "rate_limited", "too many requests from this address", retryAfter);
        return;
    }
    {
        std::lock_guard lock(m_statsMutex);
        ++m_stats.requests;
    }
    c.state = State::Dispatched;
    c.deadline = Deadline::None;
    setInterest(c, 0);
    Job job;
    job.connId = c.id;
    job.fd = c.fd;
    job.head = std::move(head);
    job.body = std::move(body);
    job.client = c.client;
    {
        std::lock_guard lock(m_jobMutex);
        m_jobs.push_back(std::move(job));
    }
    m_jobCv.notify_one();
}

void FrontEnd::Impl::fail(
    Conn& c, int status, const char* code, const char* message, int retryAfter)
{
    if (status == 408) {
        std::lock_guard lock(m_statsMutex);
        ++m_stats.timedOut;
    } else if (status != 429 && status != 503) {
        std::lock_guard lock(m_statsMutex);
        ++m_stats.badRequests;
    }
    // The address and the fixed code only: never the request's bytes (tokens, invalid UTF-8).
    if (log().debug())
        log().debug("refused %s: %d %s", c.ip, status, std::string(code));
    const std::string body = errorJson(code, message);
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reasonOf(status) + "\r\n";
    out += "Date: "
        + Poco::DateTimeFormatter::format(Poco::Timestamp(), Poco::DateTimeFormat::HTTP_FORMAT)
        + "\r\n";
    out += "Server: " + m_options.serverHeader + "\r\n";
    out += "Content-Type: application/json\r\n";
    out += "Access-Control-Allow-Origin: *\r\n";
    if (retryAfter > 0)
        out += "Retry-After: " + std::to_string(retryAfter) + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    // After a framing error the rest of the input cannot be trusted: always close.
    out += "Connection: close\r\n\r\n";
    out += body;
    c.in.clear();
    startWrite(c, std::move(out), true);
}

void FrontEnd::Impl::startWrite(Conn& c, std::string bytes, bool closeAfter)
{
    c.state = State::Writing;
    c.out = std::move(bytes);
    c.outOffset = 0;
    c.closeAfterWrite = closeAfter;
    setDeadline(c, Deadline::Send, m_options.sendTimeoutMs);
    writeOutput(c);
}

void FrontEnd::Impl::writeOutput(Conn& c)
{
    while (c.outOffset < c.out.size()) {
        const ssize_t n = ::send(c.fd, c.out.data() + c.outOffset, c.out.size() - c.outOffset,
            MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.outOffset += static_cast<std::size_t>(n);
            setDeadline(c, Deadline::Send, m_options.sendTimeoutMs); // progress
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            setInterest(c, EPOLLOUT);
            return;
        }
        closeConn(c.id);
        return;
    }
    c.out.clear();
    c.out.shrink_to_fit();
    c.outOffset = 0;
    afterResponse(c);
}

void FrontEnd::Impl::afterResponse(Conn& c)
{
    if (c.closeAfterWrite || m_loopStop) {
        startLinger(c);
        return;
    }
    c.state = State::Reading;
    setInterest(c, EPOLLIN | EPOLLRDHUP);
    if (c.in.empty()) {
        if (c.peerEof) {
            closeConn(c.id);
            return;
        }
        setDeadline(c, Deadline::Idle, m_options.idleTimeoutMs);
        return;
    }
    // Pipelined: the next request may already be complete in the buffer.
    setDeadline(c, Deadline::Head, m_options.headTimeoutMs);
    process(c);
}

void FrontEnd::Impl::startLinger(Conn& c)
{
    // Closing with unread input would make the kernel send RST, which can destroy the response
    // before the client reads it: half-close, then read and drop for a moment (like nginx's
    // lingering_close).
    ::shutdown(c.fd, SHUT_WR);
    c.state = State::Lingering;
    c.in.clear();
    if (c.peerEof) {
        closeConn(c.id);
        return;
    }
    setInterest(c, EPOLLIN | EPOLLRDHUP);
    setDeadline(c, Deadline::Linger, m_options.lingerMs);
}

void FrontEnd::Impl::closeConn(std::uint64_t id)
{
    const auto it = m_conns.find(id);
    if (it == m_conns.end())
        return;
    Conn& c = *it->second;
    if (c.inEpoll)
        ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    if (c.counted) {
        --m_counted;
        const auto ip = m_perIp.find(c.ip);
        if (ip != m_perIp.end() && --ip->second == 0)
            m_perIp.erase(ip);
    } else if (m_rejecting > 0) {
        --m_rejecting;
    }
    m_conns.erase(it);
}

void FrontEnd::Impl::setInterest(Conn& c, std::uint32_t events)
{
    if (events == 0) {
        if (c.inEpoll)
            ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, c.fd, nullptr);
        c.inEpoll = false;
        c.events = 0;
        return;
    }
    if (c.inEpoll && c.events == events)
        return;
    epoll_event ev {};
    ev.events = events;
    ev.data.u64 = c.id;
    ::epoll_ctl(m_epoll, c.inEpoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev);
    c.inEpoll = true;
    c.events = events;
}

void FrontEnd::Impl::setDeadline(Conn& c, Deadline kind, int ms)
{
    c.deadline = kind;
    c.deadlineMs = nowMs() + ms;
}

void FrontEnd::Impl::sweep()
{
    if (m_listen >= 0 && m_acceptPausedUntil != 0 && nowMs() >= m_acceptPausedUntil) {
        m_acceptPausedUntil = 0;
        epoll_event ev {};
        ev.events = EPOLLIN;
        ev.data.u64 = kListenTag;
        ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_listen, &ev);
    }
    const std::int64_t now = nowMs();
    std::vector<std::uint64_t> expired;
    for (const auto& [id, c] : m_conns) {
        if (c->deadline != Deadline::None && now >= c->deadlineMs)
            expired.push_back(id);
    }
    for (const auto id : expired) {
        const auto it = m_conns.find(id);
        if (it == m_conns.end())
            continue;
        Conn& c = *it->second;
        switch (c.deadline) {
        case Deadline::Head:
        case Deadline::Body:
            if (c.state == State::Reading) {
                fail(c, 408, "request_timeout",
                    c.deadline == Deadline::Head ? "request head not received in time"
                                                 : "request body not received in time");
                break;
            }
            closeConn(id);
            break;
        case Deadline::Send: {
            // Abortive close (RST): a plain close would leave the unsent bytes to the kernel,
            // which keeps probing a zero window for minutes (like nginx's
            // reset_timedout_connection).
            const linger abort { 1, 0 };
            ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
            closeConn(id);
            break;
        }
        default: // idle keep-alive, the end of lingering
            closeConn(id);
            break;
        }
    }
    std::lock_guard lock(m_statsMutex);
    m_stats.open = m_counted;
}

void FrontEnd::Impl::drainCompletions()
{
    std::vector<Completion> done;
    {
        std::lock_guard lock(m_doneMutex);
        done.swap(m_done);
    }
    for (auto& d : done) {
        const auto it = m_conns.find(d.connId);
        if (it == m_conns.end())
            continue;
        Conn& c = *it->second;
        if (d.detached) { // the stream engine owns a dup of the socket now
            closeConn(c.id);
            continue;
        }
        startWrite(c, std::move(d.bytes), !d.keepAlive);
    }
}

void FrontEnd::Impl::workerRun()
{
    for (;;) {
        Job job;
        {
            std::unique_lock lock(m_jobMutex);
            m_jobCv.wait(lock, [&] { return m_workersStop || !m_jobs.empty(); });
            if (m_jobs.empty())
                return;
            job = std::move(m_jobs.front());
            m_jobs.pop_front();
        }
        Completion done = handle(job);
        {
            std::lock_guard lock(m_doneMutex);
            m_done.push_back(std::move(done));
        }
        const std::uint64_t one = 1;
        (void)!::write(m_wake, &one, sizeof one);
    }
}

Completion FrontEnd::Impl::handle(Job& job)
{
    Completion done;
    done.connId = job.connId;
    http::BufferedResponse response;
    const int fd = job.fd;
    // The loop does not touch a dispatched connection, so a handler may take the socket (SSE).
    http::BufferedRequest request(
        response, std::move(job.body), job.client, job.server, [fd] { return ::dup(fd); });
    request.setMethod(job.head.method);
    request.setURI(job.head.target);
    request.setVersion(job.head.minorVersion == 0 ? Poco::Net::HTTPMessage::HTTP_1_0
                                                  : Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [name, value] : job.head.fields)
        request.add(name, value);
    response.set("Server", m_options.serverHeader);
    try {
        std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(
            m_factory.createRequestHandler(request));
        if (handler)
            handler->handleRequest(request, response);
    } catch (const std::exception& e) {
        const auto* poco = dynamic_cast<const Poco::Exception*>(&e);
        log().error("handler failed: %s", poco ? poco->displayText() : std::string(e.what()));
        if (!response.sent()) {
            response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_INTERNAL_SERVER_ERROR);
            response.setContentType("application/json");
            response.send() << errorJson("internal", "internal error");
        }
    }
    if (request.detached()) {
        done.detached = true;
        return done;
    }
    if (!response.sent()) {
        response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_INTERNAL_SERVER_ERROR);
        response.setContentType("application/json");
        response.send() << errorJson("internal", "no response");
    }
    done.keepAlive = response.serialize(done.bytes, job.head.keepAlive && !m_stopping,
        job.head.method == "HEAD", job.head.minorVersion == 0);
    return done;
}

} // namespace livecomments::server::frontend
