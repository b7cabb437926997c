// SPDX-License-Identifier: MIT
#include "crowd.h"

#include "http_util.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace livecomments::bench {

namespace {

enum class Kind { Idle, Slow, NonReader };

struct Pending {
    Kind kind = Kind::Idle;
    std::string out;
    std::string in;
    bool connected = false;
};

bool established(int fd)
{
    tcp_info info {};
    socklen_t len = sizeof info;
    return ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0
        && info.tcpi_state == TCP_ESTABLISHED;
}

int connectFrom(std::uint16_t port, in_addr source, bool smallReceiveBuffer)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    const int one = 1;
    // The port is chosen at connect() time per 4-tuple, so 10,000 sockets from a handful of
    // source addresses do not run out of ports.
    ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (smallReceiveBuffer) {
        const int small = 4096;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    sockaddr_in local {};
    local.sin_family = AF_INET;
    local.sin_addr = source;
    sockaddr_in server {};
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0
        || (::connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0
            && errno != EINPROGRESS)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace

std::uint64_t raiseNoFileLimit()
{
    rlimit limit {};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur;
}

Crowd::~Crowd()
{
    for (const auto* list : { &m_idle, &m_slow, &m_nonReaders }) {
        for (const int fd : *list)
            ::close(fd);
    }
}

bool Crowd::open(const CrowdOptions& o, std::string& error)
{
    const std::string host = "Host: crowd\r\n";
    const std::string idleRequest = "GET /healthz HTTP/1.1\r\n" + host + "\r\n";
    const std::string slowRequest = "GET /healthz HTTP/1.1\r\n" + host + "X-Slow: ";
    std::string burst;
    for (int i = 0; i < o.nonReaderRequests; ++i)
        burst += "GET " + o.nonReaderPath + " HTTP/1.1\r\n" + host + "\r\n";

    std::vector<Kind> kinds;
    kinds.insert(kinds.end(), static_cast<std::size_t>(o.idle), Kind::Idle);
    kinds.insert(kinds.end(), static_cast<std::size_t>(o.slowloris), Kind::Slow);
    kinds.insert(kinds.end(), static_cast<std::size_t>(o.nonReaders), Kind::NonReader);

    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    for (std::size_t start = 0; start < kinds.size(); start += static_cast<std::size_t>(o.batch)) {
        const std::size_t end = std::min(kinds.size(), start + static_cast<std::size_t>(o.batch));
        std::unordered_map<int, Pending> pending;
        for (std::size_t i = start; i < end; ++i) {
            const int fd = connectFrom(
                o.port, loopbackSource(i, o.sourceAddresses), kinds[i] == Kind::NonReader);
            if (fd < 0) {
                error = std::string("connect: ") + std::strerror(errno);
                ::close(epoll);
                return false;
            }
            Pending p;
            p.kind = kinds[i];
            p.out = kinds[i] == Kind::Idle ? idleRequest
                : kinds[i] == Kind::Slow   ? slowRequest
                                           : burst;
            epoll_event ev {};
            ev.events = EPOLLOUT | EPOLLIN;
            ev.data.fd = fd;
            ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
            pending.emplace(fd, std::move(p));
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        epoll_event events[256];
        while (!pending.empty()) {
            if (std::chrono::steady_clock::now() > deadline) {
                error = std::to_string(pending.size()) + " connections not ready after 60 s";
                ::close(epoll);
                return false;
            }
            const int n = ::epoll_wait(epoll, events, 256, 1000);
            for (int e = 0; e < n; ++e) {
                const int fd = events[e].data.fd;
                auto it = pending.find(fd);
                if (it == pending.end())
                    continue;
                Pending& p = it->second;
                if (events[e].events & (EPOLLERR | EPOLLHUP)) {
                    error = "a crowd connection failed (refused or reset)";
                    ::close(epoll);
                    return false;
                }
                if ((events[e].events & EPOLLOUT) && !p.out.empty()) {
                    const ssize_t w = ::send(fd, p.out.data(), p.out.size(), MSG_NOSIGNAL);
                    if (w > 0)
                        p.out.erase(0, static_cast<std::size_t>(w));
                }
                if ((events[e].events & EPOLLIN) && p.kind == Kind::Idle) {
                    char buffer[4096];
                    const ssize_t r = ::recv(fd, buffer, sizeof buffer, 0);
                    if (r > 0)
                        p.in.append(buffer, static_cast<std::size_t>(r));
                }
                const bool done = p.out.empty()
                    && (p.kind != Kind::Idle
                        || (p.in.find("\r\n\r\n") != std::string::npos && p.in.back() == '}'));
                if (p.kind == Kind::Idle && p.in.size() >= 12
                    && p.in.compare(0, 12, "HTTP/1.1 200") != 0) {
                    error = "an idle connection got: " + p.in.substr(0, p.in.find('\r'));
                    ::close(epoll);
                    return false;
                }
                if (done) {
                    ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
                    (p.kind == Kind::Idle          ? m_idle
                            : p.kind == Kind::Slow ? m_slow
                                                   : m_nonReaders)
                        .push_back(fd);
                    pending.erase(it);
                }
            }
        }
    }
    ::close(epoll);
    return true;
}

Crowd::Alive Crowd::alive() const
{
    Alive a;
    for (const int fd : m_idle)
        a.idle += established(fd) ? 1 : 0;
    for (const int fd : m_slow)
        a.slowloris += established(fd) ? 1 : 0;
    for (const int fd : m_nonReaders)
        a.nonReaders += established(fd) ? 1 : 0;
    return a;
}

} // namespace livecomments::bench
