// SPDX-License-Identifier: MIT
// livecomments-crowd-bench: the latency of a normal posting client while a crowd of idle
// keep-alive, slowloris and non-reading connections is held against the server
// (docs/performance.md "Front end under a hostile crowd").
#include "crowd.h"
#include "http_util.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace livecomments::bench;

namespace {

std::string argValue(int argc, char** argv, const char* name, const char* fallback)
{
    const std::string prefix = std::string("--") + name + "=";
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0)
            return argv[i] + prefix.size();
    }
    return fallback;
}

/// One request/response on a blocking socket; returns the status (0 on failure).
int roundTrip(int fd, const std::string& request)
{
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL)
        != static_cast<ssize_t>(request.size()))
        return 0;
    std::string in;
    char buffer[8192];
    for (;;) {
        const auto headEnd = in.find("\r\n\r\n");
        if (headEnd != std::string::npos) {
            const auto cl = in.find("Content-Length: ");
            const std::size_t length
                = cl == std::string::npos ? 0 : std::strtoul(in.c_str() + cl + 16, nullptr, 10);
            if (in.size() >= headEnd + 4 + length)
                return std::atoi(in.c_str() + 9);
        }
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0)
            return 0;
        in.append(buffer, static_cast<std::size_t>(n));
    }
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2 || std::string(argv[1]) == "--help") {
        std::printf("usage: livecomments-crowd-bench --url=http://127.0.0.1:PORT --token=JWT "
                    "--video=ID [--idle=10000] [--slowloris=1000] [--non-readers=20] "
                    "[--posts=100] [--sources=40]\n");
        return argc < 2 ? 2 : 0;
    }
    Endpoint endpoint;
    std::string error;
    if (!parseUrl(argValue(argc, argv, "url", ""), endpoint, error)) {
        std::fprintf(stderr, "crowd-bench: %s\n", error.c_str());
        return 2;
    }
    const std::string token = argValue(argc, argv, "token", "");
    const std::string video = argValue(argc, argv, "video", "1");
    CrowdOptions o;
    o.port = ntohs(endpoint.address.sin_port);
    o.idle = std::atoi(argValue(argc, argv, "idle", "10000").c_str());
    o.slowloris = std::atoi(argValue(argc, argv, "slowloris", "1000").c_str());
    o.nonReaders = std::atoi(argValue(argc, argv, "non-readers", "20").c_str());
    o.sourceAddresses
        = static_cast<unsigned>(std::atoi(argValue(argc, argv, "sources", "40").c_str()));
    o.nonReaderPath = "/videos/" + video + "/comments?limit=200";
    const int posts = std::atoi(argValue(argc, argv, "posts", "100").c_str());

    std::printf("nofile soft limit %llu\n", static_cast<unsigned long long>(raiseNoFileLimit()));
    const std::int64_t crowdStart = nowNs();
    Crowd crowd;
    if (!crowd.open(o, error)) {
        std::fprintf(stderr, "crowd-bench: %s\n", error.c_str());
        return 1;
    }
    std::printf("crowd: %d idle keep-alive + %d slowloris + %d non-reading over %u addresses, "
                "opened in %.1f s\n",
        o.idle, o.slowloris, o.nonReaders, o.sourceAddresses,
        static_cast<double>(nowNs() - crowdStart) / 1e9);

    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const std::int64_t connectStart = nowNs();
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&endpoint.address), sizeof endpoint.address)
        != 0) {
        std::perror("crowd-bench: connect");
        return 1;
    }
    std::vector<double> ms;
    int created = 0;
    for (int i = 0; i < posts; ++i) {
        const std::string body = "{\"text\":\"crowd bench " + std::to_string(i) + "\"}";
        const std::string request = "POST /videos/" + video + "/comments HTTP/1.1\r\nHost: "
            + endpoint.hostHeader + "\r\nAuthorization: Bearer " + token
            + "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size())
            + "\r\n\r\n" + body;
        const std::int64_t start = i == 0 ? connectStart : nowNs();
        created += roundTrip(fd, request) == 201 ? 1 : 0;
        ms.push_back(static_cast<double>(nowNs() - start) / 1e6);
    }
    ::close(fd);
    const double first = ms.empty() ? 0 : ms.front();
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
        return ms.empty() ? 0.0
                          : ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))];
    };
    std::printf("normal client: %d/%d posts 201; first (incl. connect) %.2f ms; p50 %.2f ms, p99 "
                "%.2f ms, max %.2f ms\n",
        created, posts, first, pct(0.5), pct(0.99), ms.empty() ? 0.0 : ms.back());
    const auto alive = crowd.alive();
    std::printf("still held by the server: %d idle, %d slowloris, %d non-reading\n", alive.idle,
        alive.slowloris, alive.nonReaders);
    return created == posts ? 0 : 1;
}
