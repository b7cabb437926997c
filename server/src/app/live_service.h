// SPDX-License-Identifier: MIT
#pragma once

#include "app/rate_limiter.h"
#include "app/settings.h"
#include "auth/jwt_auth.h"
#include "bus/bus.h"
#include "cache/recent_cache.h"
#include "fanout_engine.h"
#include "ids/snowflake.h"
#include "metrics/metrics.h"
#include "model/types.h"
#include "store/comment_store.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace livecomments::server {

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

/**
 * The server's application layer: validation, rate limiting, storage, the recent cache, the bus
 * and the fan-out engine wired together. HTTP handlers call it; it never sees HTTP.
 *
 * Data flow of a comment: postComment() → CommentStore (group commit) → onCommitted (writer
 * thread) → Bus::publish → bus handler → RecentCache::append + Engine::publish.
 *
 * Threading: every public method is thread-safe and is called from HTTP worker threads;
 * bus/engine callbacks run on the store's writer thread and on engine loop threads.
 */
class LiveService {
public:
    explicit LiveService(Settings settings);
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
    fanout::Engine& engine() { return *m_engine; }

    // --- videos ---
    store::IdempotentResult createVideo(
        const Principal& streamer, const std::string& title, const std::string& idempotencyKey);
    /// Video JSON with the live viewer count; 404 when unknown.
    std::string videoJson(std::uint32_t videoId);
    /// {"videos":[…]} newest first, each with its live viewer count.
    std::string videosJson(std::optional<VideoStatus> status, std::size_t limit);
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
    /// Decides resumed/reset for a Last-Event-ID (nullopt = none or garbage) before open().
    ResumePlan planResume(std::uint32_t videoId, std::optional<std::uint64_t> lastEventId);
    /// The frames to send after open(): the replay (oldest first) or a single `reset` frame.
    std::vector<fanout::FramePtr> replayFrames(std::uint32_t videoId, const ResumePlan& plan);
    /// A fresh unguessable subscription id: "s-" + 32 hex digits (128 random bits).
    static std::string newSubscriptionId();

    /// Prometheus text of every metric.
    std::string renderMetrics();

private:
    void onCommitted(const std::vector<store::CommitEvent>& events);
    void onBusEvent(const bus::BusEvent& event);
    void onStatsTick();

    Settings m_settings;
    auth::JwtAuth m_auth;
    ids::SnowflakeGenerator m_ids;
    metrics::Metrics m_metrics;
    RateLimiter m_limiter;
    cache::RecentCache m_cache;
    std::unique_ptr<bus::Bus> m_bus;
    std::unique_ptr<fanout::Engine> m_engine;
    std::unique_ptr<store::CommentStore> m_store;
    std::atomic<bool> m_shuttingDown { false };
    std::atomic<bool> m_started { false };
    std::atomic<bool> m_stopped { false };
    std::mutex m_activeMutex;
    std::set<std::uint32_t> m_activeVideos;
};

} // namespace livecomments::server
