// SPDX-License-Identifier: MIT
#pragma once

#include "auth/jwt_auth.h"
#include "bus/bus.h"
#include "bus/node_id_lease.h"
#include "bus/redis_bus.h"
#include "bus/viewer_counts.h"
#include "cache/recent_cache.h"
#include "fanout/fanout_engine.h"
#include "ids/snowflake.h"
#include "metrics/metrics.h"
#include "model/frame.h"
#include "model/types.h"
#include "service/chain_delivery.h"
#include "service/rate_limiter.h"
#include "service/region_relay.h"
#include "service/settings.h"
#include "store/comment_store.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace livecomments::server {

/**
 * What makes a node part of a cluster (docs/operations.md "Cluster"): the node-id lease, the
 * Redis bus and the cluster viewer counts, all made (and connected) by the composition root
 * before the service, since the lease decides the node id the snowflake ids need. Empty: a single
 * node with the in-process bus.
 */
struct ClusterParts {
    std::unique_ptr<bus::NodeIdLease> lease;
    std::unique_ptr<bus::RedisBus> bus;
    std::unique_ptr<bus::ViewerCounts> counts;
};

/// One page of history as the HTTP layer sends it.
struct HistoryPage {
    std::vector<std::string> comments; ///< comment JSON objects, in page order
    std::optional<std::uint64_t> nextCursor;
    bool immutable = false; ///< wholly in the past: cacheable (changes only by deletions)
};

/// What a stream resume will do, decided before the preamble is written.
struct ResumePlan {
    bool requested = false; ///< a usable Last-Event-ID was given
    bool resumed = false; ///< replay is complete (hello.resumed)
    bool reset = false; ///< too many missed: send `reset` instead of a replay
    std::uint64_t lastEventId = 0;
};

/// A stream about to be opened: everything the `hello` event reports, decided before the
/// preamble is written.
struct StreamOpening {
    std::string subscriptionId; ///< "s-" + 32 hex digits, see LiveService::newSubscriptionId()
    std::uint32_t videoId = 0;
    std::string userId; ///< empty = anonymous
    ResumePlan plan;
    std::optional<std::uint64_t> lastId; ///< newest stored comment of the video (hello.last_id)
};

/**
 * The server's service layer: validation, rate limiting, storage, the recent cache, the bus
 * and the fan-out engine wired together. HTTP handlers call it (never the engine, store or cache
 * directly); it never sees HTTP.
 *
 * Data flow of a comment: postComment() → CommentStore (group commit) → onCommitted (writer
 * thread) → Bus::publish → bus handler → RecentCache::append + Engine::publish.
 *
 * Threading: every public method is thread-safe and is called from HTTP worker threads;
 * bus/engine callbacks run on the store's writer thread and on engine loop threads.
 */
class LiveService {
public:
    /// Makes the store for settings.storeUrl (throws std::invalid_argument for a malformed one).
    explicit LiveService(Settings settings, ClusterParts cluster = {});
    ~LiveService();

    /// Opens the store and starts the engine. Throws on failure.
    void start();
    /// From now on every request gets 503 (in-flight commits still complete).
    void beginShutdown() { m_shuttingDown = true; }
    /// Graceful stop: refuse new work, close every stream with a spread `retry:`, finish commits.
    /// Idempotent.
    void shutdown();
    bool shuttingDown() const { return m_shuttingDown.load(); }

    const Settings& settings() const { return m_settings; }
    const auth::JwtAuth& auth() const { return m_auth; }
    metrics::Metrics& metrics() { return m_metrics; }

    // --- videos ---
    store::IdempotentResult createVideo(
        const Principal& streamer, const std::string& title, const std::string& idempotencyKey);
    /// Video JSON with the live viewer count; 404 when unknown.
    std::string videoJson(std::uint32_t videoId);
    /// {"videos":[…]} newest first, each with its live viewer count.
    std::string videosJson(std::optional<VideoStatus> status, std::size_t limit);
    /// A history page as the `{"comments":[…],"next_cursor":…}` body.
    std::string historyJson(const HistoryPage& page);
    std::string endVideo(std::uint32_t videoId, const Principal& caller);
    bool videoExists(std::uint32_t videoId);

    // --- comments ---
    /// Validates, rate-limits (429), stores (404/409) and publishes a comment. Rejections are
    /// counted by the HTTP handler (it also sees auth and body errors).
    /// `field` names the body field in validation errors.
    store::IdempotentResult postComment(std::uint32_t videoId, const Principal& author,
        const std::string& rawText, const std::string& idempotencyKey,
        const std::string& field = "text");
    void deleteComment(std::uint32_t videoId, std::uint64_t commentId, const Principal& caller);
    HistoryPage history(std::uint32_t videoId, const store::PageQuery& query);

    // --- streams ---
    /// Step 1 of a stream: 404 for an unknown video; decides resumed/reset for a Last-Event-ID
    /// (nullopt = none or garbage), makes the subscription id and reads the newest comment id.
    StreamOpening prepareStream(std::uint32_t videoId, const std::optional<Principal>& user,
        std::optional<std::uint64_t> lastEventId);
    /// The `hello` event frame of `opening`.
    std::string helloFrame(const StreamOpening& opening) const;
    /// Step 2: hands the connected socket `fd` (owned from now on) with its `preamble` (response
    /// head + retry + hello) to the fan-out engine, then writes the replay. False when the
    /// server is shutting down (fd is closed).
    bool openStream(int fd, const StreamOpening& opening, std::string preamble);
    /// Server-side close (DELETE of a subscription). Idempotent: an id this deployment issued for
    /// `videoId` whose stream is already gone is a success; an id it never issued is 404.
    /// 401/403 when the open stream belongs to someone else.
    void closeStream(std::uint32_t videoId, const std::string& subscriptionId,
        const std::optional<Principal>& caller);
    /// Whether `subscriptionId` carries a valid MAC for `videoId` (issued by a node sharing this
    /// JWT secret).
    bool issuedSubscriptionId(const std::string& subscriptionId, std::uint32_t videoId) const;

    // --- regions (docs/operations.md "Regions") ---
    /// Whether this node relays to peer regions (and serves the ingest route).
    bool regional() const { return m_relay != nullptr; }
    /// A batch from a peer region (docs/protocol.md "Region relay"): 401 for bad headers or
    /// signature, 400 for a malformed body, 409 when an event's video is not here yet (the peer
    /// retries). Stores every event under its own id and fans it out; returns the answer body.
    std::string ingestRegionBatch(const std::string& region, const std::string& timestamp,
        const std::string& signature, const std::string& body);

    /// Test hook (--test-hooks): throws an unexpected exception (a 500 for the handler).
    [[noreturn]] static void failForTest();

    /// Prometheus text of every metric.
    std::string renderMetrics();
    /// Text appended to renderMetrics() (the app's front-end counters). Set once, before the
    /// first request is served; called on the thread that renders.
    void setExtraMetrics(std::function<std::string()> render)
    {
        m_extraMetrics = std::move(render);
    }
    /// The /healthz body: {"status":"ok"} on a single node; with a bus also the node id and the
    /// bus state, "degraded" while Redis is unreachable (docs/operations.md "Health").
    std::string healthJson() const;
    bool clustered() const { return m_redisBus != nullptr; }
    /// Engine and location of the store, e.g. `sqlite:livecomments.db` (never a password).
    std::string storeDescription() const { return m_store->describe(); }

private:
    ResumePlan planResume(std::uint32_t videoId, std::optional<std::uint64_t> lastEventId);
    std::vector<FramePtr> replayFrames(std::uint32_t videoId, const ResumePlan& plan);
    std::optional<std::uint64_t> newestCommentId(std::uint32_t videoId);
    std::string newSubscriptionId(std::uint32_t videoId) const;
    std::string subscriptionMac(const std::string& nonceHex, std::uint32_t videoId) const;
    void onCommitted(const std::vector<store::CommitEvent>& events);
    void onBusEvent(const bus::BusEvent& event);
    void onStatsTick();
    // Hot-stream shaping (docs/fanout.md "Hot-stream shaping").
    void noteStreamer(const Video& video);
    /// Whether a comment by `userId` with `role` (both from the comment itself) is never skipped.
    bool privilegedAuthor(std::uint32_t videoId, const std::string& userId, Role role);
    /// The store's part of a chain gap (ChainDelivery::FillFn); nullopt when the store failed.
    std::optional<ChainDelivery::Fill> readGap(std::uint32_t videoId, std::uint64_t afterId);
    /// Tracks (or checks the chain of) each video against the store's chain head.
    void checkChains(const std::vector<std::uint32_t>& videos);
    void clusterLoop();
    /// Viewer counts for the JSON of these videos: cluster totals with a bus (cached), else local.
    std::map<std::uint32_t, std::uint64_t> viewerCounts(const std::vector<std::uint32_t>& videos);
    std::uint64_t viewerCount(std::uint32_t videoId);
    /// Whether the recent cache may answer "everything after X": only on a single node, where
    /// every comment passes through this node's commit order.
    bool cacheIsComplete() const { return m_redisBus == nullptr; }

    Settings m_settings;
    auth::JwtAuth m_auth;
    ids::SnowflakeGenerator m_ids;
    metrics::Metrics m_metrics;
    RateLimiter m_limiter;
    cache::RecentCache m_cache;
    std::unique_ptr<bus::Bus> m_bus;
    std::unique_ptr<fanout::Engine> m_engine;
    std::unique_ptr<store::CommentStore> m_store;
    std::unique_ptr<RegionRelay> m_relay; ///< with --peer-region only
    std::function<std::string()> m_extraMetrics;
    std::atomic<bool> m_shuttingDown { false };
    std::atomic<bool> m_started { false };
    std::atomic<bool> m_stopped { false };
    std::mutex m_activeMutex;
    std::set<std::uint32_t> m_activeVideos;
    std::mutex m_streamersMutex; ///< guards m_streamers
    std::unordered_map<std::uint32_t, std::string> m_streamers; ///< video → streamer user id

    // --- cluster (all empty on a single node) ---
    ClusterParts m_cluster; ///< lease and counts (the bus moved to m_bus)
    bus::RedisBus* m_redisBus = nullptr; ///< m_bus when it is a RedisBus
    std::unique_ptr<ChainDelivery> m_chain;
    std::thread m_clusterThread; ///< viewer counts and chain checks
    std::mutex m_clusterMutex; ///< guards the fields below
    std::condition_variable m_clusterWake;
    bool m_clusterStopping = false;
    std::map<std::uint32_t, std::pair<std::uint64_t, std::int64_t>> m_clusterCounts; ///< → (n, ms)
    /// Videos that just got their first local viewer → when to check their chain against the
    /// store: comments other nodes published before this node's SSUBSCRIBE took effect.
    std::map<std::uint32_t, std::int64_t> m_pendingChecks;
    bool m_checksAdded = false; ///< wakes the cluster thread for m_pendingChecks
};

} // namespace livecomments::server
