// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace livecomments::bench {

/// What a Crowd holds open against one server.
struct CrowdOptions {
    std::uint16_t port = 0; ///< the server on 127.0.0.1
    int idle = 10000; ///< keep-alive connections that made one request and then stay silent
    int slowloris = 1000; ///< connections that sent part of a request head and stop
    int nonReaders = 20; ///< connections that pipeline many requests and never read
    std::string nonReaderPath = "/healthz"; ///< what the non-readers ask for
    int nonReaderRequests = 200; ///< pipelined requests per non-reader
    unsigned sourceAddresses = 40; ///< spread over 127.0.0.1 .. 127.0.0.N
    int batch = 500; ///< connections opened at a time
};

/**
 * A crowd of hostile-but-legal clients on plain non-blocking sockets: idle keep-alive,
 * slowloris and non-reading connections, as an attacker (or a page of browser tabs) holds them.
 * Used by the front-end crowd test and by `livecomments-crowd-bench`.
 *
 * Threading: one thread.
 */
class Crowd {
public:
    Crowd() = default;
    ~Crowd(); ///< closes every socket
    Crowd(const Crowd&) = delete;
    Crowd& operator=(const Crowd&) = delete;

    /// Opens the crowd; blocks until every idle connection got its response, every slowloris
    /// its partial head and every non-reader its burst into the kernel. False with `error`.
    bool open(const CrowdOptions& options, std::string& error);

    /// Connections of each kind whose TCP state is still ESTABLISHED (the server kept them).
    struct Alive {
        int idle = 0, slowloris = 0, nonReaders = 0;
    };
    Alive alive() const;

private:
    std::vector<int> m_idle, m_slow, m_nonReaders;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
std::uint64_t raiseNoFileLimit();

} // namespace livecomments::bench
