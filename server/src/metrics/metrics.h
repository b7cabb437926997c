// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace livecomments::server::metrics {

/// A Prometheus histogram with fixed upper bounds (seconds). Thread-safe (one mutex).
class Histogram {
public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    /// Appends the `_bucket`/`_sum`/`_count` lines; `labels` is e.g. `route="x"` or empty.
    void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
    std::vector<double> m_bounds;
    mutable std::mutex m_mutex;
    std::vector<std::uint64_t> m_counts; // per bound, non-cumulative; last = +Inf
    double m_sum = 0;
    std::uint64_t m_count = 0;
};

/// Gauges/counters that other components own (the fan-out engine) and hand over at scrape time.
struct ExternalGauges {
    std::uint64_t openStreams = 0;
    std::uint64_t deliveries = 0;
    std::uint64_t slowDisconnects = 0;
    std::uint64_t clientDisconnects = 0;
    std::uint64_t heartbeats = 0;
    std::uint64_t bytesWritten = 0;
    std::uint64_t framesPublished = 0;
    std::uint32_t nodeId = 0; ///< the snowflake node id in use
    // Cluster (rendered only when clustered):
    bool clustered = false;
    bool busUp = false;
    std::uint64_t busReconnects = 0;
    std::uint64_t busMessagesIn = 0;
    std::uint64_t busMessagesOut = 0;
    std::uint64_t busPublishFailures = 0;
    std::uint64_t gapFills = 0; ///< comments fetched from the store after a bus gap
    /// store fills run because a comment's predecessor had not arrived within the gap wait
    std::uint64_t chainGapFills = 0;
    std::uint64_t lateComments = 0; ///< released after a larger id (outside the chain)
    std::uint64_t duplicatesDropped = 0;
    std::uint64_t leaseRenewFailures = 0;
    std::uint64_t countWriteFailures = 0;
};

/// The HTTP front end's connection counters (frontend/front_end.h FrontEndStats), since start.
struct FrontEndGauges {
    std::uint64_t open = 0; ///< connections open now (streams excluded: they left the front end)
    std::uint64_t accepted = 0;
    std::uint64_t requests = 0; ///< complete requests handed to a worker
    std::uint64_t rejectedNode = 0; ///< 503: the node's connection limit
    std::uint64_t rejectedIp = 0; ///< 429: the per-address connection limit
    std::uint64_t rateLimited = 0; ///< 429: the per-address request rate
    std::uint64_t timedOut = 0; ///< closed by a header, body, idle or write deadline
    std::uint64_t badRequests = 0; ///< 400/413/414/431/501 from the request parser
};

/// Renders `g` in the Prometheus text format (livecomments_http_connections*,
/// livecomments_http_rejected_total{reason=…}).
std::string renderFrontEnd(const FrontEndGauges& g);

/**
 * The server's metrics registry, rendered in the Prometheus text format (version 0.0.4).
 *
 * Threading: every method is thread-safe; counters are atomics or mutex-guarded maps.
 */
class Metrics {
public:
    Metrics();

    void commentAccepted() { m_commentsAccepted.fetch_add(1, std::memory_order_relaxed); }
    /// `reason`: e.g. invalid, rate_limited, video_ended, unauthorized, not_found.
    void commentRejected(const std::string& reason);
    void commitObserved(double seconds, std::size_t ops);
    void requestObserved(const std::string& route, int status, double seconds);
    void streamOpened() { m_streamsOpened.fetch_add(1, std::memory_order_relaxed); }
    void streamResumed(bool complete);

    std::string render(const ExternalGauges& gauges) const;

private:
    static void renderCluster(std::string& out, const ExternalGauges& g);

    std::atomic<std::uint64_t> m_commentsAccepted { 0 };
    std::atomic<std::uint64_t> m_streamsOpened { 0 };
    std::atomic<std::uint64_t> m_resumesComplete { 0 };
    std::atomic<std::uint64_t> m_resumesReset { 0 };
    std::atomic<std::uint64_t> m_commitBatches { 0 };
    std::atomic<std::uint64_t> m_commitOps { 0 };
    Histogram m_commitLatency;
    mutable std::mutex m_mutex;
    std::map<std::string, std::uint64_t> m_rejected;
    std::map<std::pair<std::string, int>, std::uint64_t> m_requests;
    std::map<std::string, Histogram> m_requestLatency;
};

} // namespace livecomments::server::metrics
