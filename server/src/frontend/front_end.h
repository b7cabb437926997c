// SPDX-License-Identifier: MIT
#pragma once

#include "frontend/request_head.h"

#include <cstdint>
#include <memory>
#include <string>

namespace Poco::Net {
class HTTPRequestHandlerFactory;
}

namespace livecomments::server::frontend {

/// Limits and deadlines of the front end; every field has a production default
/// (docs/server.md "Front end" lists the options that set them).
struct FrontEndOptions {
    HeadLimits limits;
    int headTimeoutMs = 10000; ///< first byte of a head → its end; else 408 and close
    int bodyTimeoutMs = 30000; ///< end of the head → end of the body; else 408 and close
    int idleTimeoutMs = 30000; ///< keep-alive silence between requests; then closed silently
    int sendTimeoutMs = 30000; ///< a response making no progress this long: closed
    int lingerMs = 2000; ///< after a closing response, read and drop input this long
    std::size_t maxConnections = 16384; ///< per node; beyond → 503 + Retry-After
    std::size_t maxConnectionsPerIp = 512; ///< per client address; beyond → 429 + Retry-After
    double ipRateCount = 3000; ///< requests without Authorization per client address ...
    double ipRateSeconds = 10; ///< ... per this many seconds (burst = count); count 0 = off
    int workers = 16; ///< threads running handlers
    std::string serverHeader = "livecomments-server";
};

/// Counters since start (for tests, metrics and the bench).
struct FrontEndStats {
    std::uint64_t open = 0, accepted = 0, requests = 0, rejectedNode = 0, rejectedIp = 0,
                  rateLimited = 0, timedOut = 0, badRequests = 0;
};

/**
 * The HTTP/1.1 front end: one epoll thread accepts connections and reads request heads and
 * bodies into per-connection buffers (strict RFC 9112 parsing, request_head.h) under deadlines;
 * only a COMPLETE request goes to a worker thread, which runs the Poco handler from the factory
 * on an in-memory request/response (http/exchange.h); the response is written back
 * non-blocking by the epoll thread. Idle, slow and non-reading connections therefore cost a
 * buffer, never a thread. One request per connection is in flight at a time; pipelined requests
 * wait in the buffer and are served in order.
 *
 * Threading: start()/stopAccepting()/stop() from one controlling thread; handlers run on the
 * worker threads concurrently; stats() from any thread.
 */
class FrontEnd {
public:
    FrontEnd(FrontEndOptions options, Poco::Net::HTTPRequestHandlerFactory& factory);
    ~FrontEnd(); ///< stop() if still running
    FrontEnd(const FrontEnd&) = delete;
    FrontEnd& operator=(const FrontEnd&) = delete;

    /// Starts serving connections accepted on `listenFd` (a listening socket; the front end
    /// dups it, the caller keeps its own).
    void start(int listenFd);
    /// Refuses new connections from now on (the listening socket is shut down).
    void stopAccepting();
    /// Lets the workers finish what is queued, flushes responses (≤ 2 s), closes every
    /// connection and joins the threads. Idempotent.
    void stop();

    FrontEndStats stats() const;

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace livecomments::server::frontend
