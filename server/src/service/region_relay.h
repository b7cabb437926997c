// SPDX-License-Identifier: MIT
#pragma once

#include "service/settings.h"
#include "store/comment_store.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>

#include <chrono>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace livecomments::server {

/// The ingest route every node serves (docs/protocol.md "Region relay").
inline constexpr char kRegionIngestPath[] = "/internal/region/ingest";
/// Largest accepted difference between X-LC-Timestamp and this node's clock.
inline constexpr std::int64_t kRegionMaxSkewSeconds = 300;

/// HMAC-SHA256(secret, timestamp + "\n" + body) as lower-case hex: the X-LC-Signature value.
std::string regionSignature(
    const std::string& secret, const std::string& timestamp, const std::string& body);

/**
 * The sending half of the region relay (docs/operations.md "Regions"): one thread per peer region
 * drains that peer's relay queue (the store's outbox) in queue order, in batches, POSTs each batch
 * to the peer's ingest route with the HMAC headers, deletes the rows on a 2xx answer and backs
 * off on anything else, so a link outage only delays. Each thread keeps one keep-alive
 * connection (and TLS session) to its peer for every batch; any error, a `Connection: close` or
 * an idle pause closes it and the next batch connects anew. On PostgreSQL a thread drains only
 * while it holds the peer's relay lease (one node per region and peer). It also checks the headers
 * of incoming batches (verify()) and counts what ingest did, for the metrics.
 *
 * Threading: wake(), verify(), the note*() counters and renderMetrics() are thread-safe;
 * start()/stop() from the owning thread.
 */
class RegionRelay {
public:
    RegionRelay(const Settings& settings, store::CommentStore& store);
    ~RegionRelay();
    RegionRelay(const RegionRelay&) = delete;
    RegionRelay& operator=(const RegionRelay&) = delete;

    void start();
    /// Stops the peer threads (undelivered rows stay queued for the next start). Idempotent.
    void stop();
    /// A local write committed: the peer threads look at their queues now.
    void wake();

    /// Checks an incoming batch's headers: a known peer region, a timestamp within
    /// kRegionMaxSkewSeconds, a valid signature over the body. Throws a 401 ApiError otherwise.
    void verify(const std::string& region, const std::string& timestamp,
        const std::string& signature, const std::string& body) const;
    void noteIngested(std::size_t applied, std::size_t duplicates);
    void noteRejected();

    /// The relay's Prometheus series (queue depth and lag per peer, batches, events, errors).
    std::string renderMetrics() const;

private:
    struct Peer {
        std::string name;
        std::string url;
        std::thread thread;
        std::size_t batchLimit = 0; ///< rows per batch; halved on a 413
        std::atomic<std::uint64_t> batches { 0 };
        std::atomic<std::uint64_t> events { 0 };
        std::atomic<std::uint64_t> errors { 0 };
        std::atomic<std::uint64_t> connections { 0 }; ///< sessions opened or tried
        /// The kept-alive connection (peer thread only); null until the next batch connects.
        std::unique_ptr<Poco::Net::HTTPClientSession> session;
        bool sessionUsed = false; ///< a request already went over `session`
        std::chrono::steady_clock::time_point lastUsed; ///< end of the last exchange on it
    };
    void run(Peer& peer);
    /// POSTs one batch; true on a 2xx answer. A failure on a reused connection (the peer closed
    /// it meanwhile) is retried once on a new connection.
    bool post(Peer& peer, const std::string& body, int& status);
    /// One request/response on the peer's session (connecting first when it has none). Throws
    /// on network and TLS errors.
    bool exchange(Peer& peer, const std::string& body, int& status);
    /// Waits until stopped, `ms` passed or (when `wakeable`) woken since `seenGeneration`; false
    /// when stopping.
    bool pause(std::uint64_t seenGeneration, int ms, bool wakeable);

    store::CommentStore& m_store;
    std::string m_region;
    std::string m_secret;
    std::size_t m_maxBatchBytes;
    /// TLS client context of the https:// peers (null when every peer is plain HTTP).
    Poco::Net::Context::Ptr m_tls;
    std::vector<std::unique_ptr<Peer>> m_peers;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::uint64_t m_generation = 0; ///< bumped by wake()
    bool m_stopping = false;
    bool m_started = false;
    std::atomic<std::uint64_t> m_ingestApplied { 0 };
    std::atomic<std::uint64_t> m_ingestDuplicates { 0 };
    std::atomic<std::uint64_t> m_ingestRejected { 0 };
};

} // namespace livecomments::server
