// SPDX-License-Identifier: MIT
#include "http_util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace livecomments::bench {

std::int64_t nowNs()
{
    timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

bool parseUrl(const std::string& url, Endpoint& out, std::string& error)
{
    const std::string scheme = "http://";
    if (url.compare(0, scheme.size(), scheme) != 0) {
        error = "only http:// URLs are supported: " + url;
        return false;
    }
    std::string rest = url.substr(scheme.size());
    rest = rest.substr(0, rest.find('/'));
    std::string host = rest;
    std::string port = "80";
    if (const auto colon = rest.rfind(':'); colon != std::string::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    addrinfo hints {};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &result); rc != 0) {
        error = "cannot resolve " + rest + ": " + gai_strerror(rc);
        return false;
    }
    std::memcpy(&out.address, result->ai_addr, sizeof(sockaddr_in));
    freeaddrinfo(result);
    out.hostHeader = rest;
    return true;
}

in_addr loopbackSource(std::size_t index, unsigned sources)
{
    const unsigned n = std::max(1u, std::min(sources, 254u));
    in_addr a {};
    a.s_addr = htonl((127u << 24) | static_cast<unsigned>(1 + index % n));
    return a;
}

HttpClient::HttpClient(Endpoint endpoint, in_addr source)
    : m_endpoint(std::move(endpoint))
    , m_source(source)
{ }

HttpClient::~HttpClient()
{
    disconnect();
}

void HttpClient::disconnect()
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
    m_buffer.clear();
}

bool HttpClient::ensureConnected(int timeoutMs, std::string& error)
{
    if (m_fd >= 0)
        return true;
    m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return false;
    }
    const int one = 1;
    setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(m_fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in local {};
    local.sin_family = AF_INET;
    local.sin_addr = m_source;
    if (::bind(m_fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0
        || ::connect(m_fd, reinterpret_cast<const sockaddr*>(&m_endpoint.address),
               sizeof m_endpoint.address)
            != 0) {
        error = std::string("connect: ") + std::strerror(errno);
        disconnect();
        return false;
    }
    timeval tv { timeoutMs / 1000, (timeoutMs % 1000) * 1000 };
    setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

int HttpClient::request(std::string_view method, std::string_view path,
    std::string_view extraHeaders, std::string_view body, std::string& responseBody, int timeoutMs)
{
    // One retry: a keep-alive connection the server closed in the meantime fails on first use.
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::string error;
        const bool fresh = m_fd < 0;
        if (!ensureConnected(timeoutMs, error)) {
            responseBody = error;
            return -1;
        }
        std::string head;
        head.reserve(256 + body.size());
        head.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
        head.append(m_endpoint.hostHeader).append("\r\n");
        head.append(extraHeaders);
        if (!body.empty() || method == "POST" || method == "PUT") {
            head.append("Content-Type: application/json\r\nContent-Length: ");
            head.append(std::to_string(body.size())).append("\r\n");
        }
        head.append("\r\n").append(body);
        std::size_t sent = 0;
        while (sent < head.size()) {
            const ssize_t n = ::send(m_fd, head.data() + sent, head.size() - sent, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            sent += static_cast<std::size_t>(n);
        }
        if (sent < head.size()) {
            responseBody = std::string("send: ") + std::strerror(errno);
            disconnect();
            if (fresh)
                return -1;
            continue;
        }
        bool keepAlive = true;
        m_staleClose = false;
        const int status = readResponse(responseBody, keepAlive);
        if (status < 0) {
            disconnect();
            // Resend only when a reused keep-alive connection was closed before answering
            // (the server never saw the request); never after a timeout, which could publish twice.
            if (fresh || !m_staleClose)
                return -1;
            continue;
        }
        if (!keepAlive)
            disconnect();
        return status;
    }
    return -1;
}

bool HttpClient::fill(std::string& why)
{
    char chunk[16384];
    const ssize_t n = ::recv(m_fd, chunk, sizeof chunk, 0);
    if (n > 0) {
        m_buffer.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
    if (n == 0 || errno == ECONNRESET) {
        why = "connection closed";
        m_staleClose = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        why = "timeout";
    } else {
        why = std::string("recv: ") + std::strerror(errno);
    }
    return false;
}

int HttpClient::readResponse(std::string& body, bool& keepAlive)
{
    std::size_t headerEnd;
    while ((headerEnd = m_buffer.find("\r\n\r\n")) == std::string::npos) {
        const bool empty = m_buffer.empty();
        if (!fill(body)) {
            m_staleClose = m_staleClose && empty;
            body += " before the response head";
            return -1;
        }
    }
    m_staleClose = false;
    std::string head = m_buffer.substr(0, headerEnd + 2);
    m_buffer.erase(0, headerEnd + 4);
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) {
        body = "bad status line";
        return -1;
    }
    const int status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
        [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    keepAlive = lower.find("\r\nconnection: close") == std::string::npos;
    body.clear();
    std::string why;
    if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
        ChunkedDecoder decoder;
        for (;;) {
            // Feed byte by byte so bytes after the last chunk stay for the next response.
            std::size_t used = 0;
            bool ok = true;
            for (; used < m_buffer.size() && !decoder.finished() && ok; ++used)
                ok = decoder.feed(std::string_view(m_buffer).substr(used, 1),
                    [&](std::string_view s) { body.append(s); });
            m_buffer.erase(0, used);
            if (!ok) {
                body = "bad chunked body";
                return -1;
            }
            if (decoder.finished())
                return status;
            if (!fill(why)) {
                body = why + " inside a chunked body";
                return -1;
            }
        }
    }
    std::size_t length = 0;
    if (const auto p = lower.find("\r\ncontent-length:"); p != std::string::npos) {
        length = static_cast<std::size_t>(std::strtoull(lower.c_str() + p + 17, nullptr, 10));
    } else if (status != 204 && status != 304 && !keepAlive) {
        // Body delimited by the close of the connection.
        while (fill(why)) { }
        body = std::move(m_buffer);
        m_buffer.clear();
        return status;
    }
    while (m_buffer.size() < length) {
        if (!fill(why)) {
            body = why + " inside the body";
            return -1;
        }
    }
    body = m_buffer.substr(0, length);
    m_buffer.erase(0, length);
    return status;
}

} // namespace livecomments::bench
