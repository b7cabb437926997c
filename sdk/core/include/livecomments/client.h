// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/backoff.h"
#include "livecomments/comment.h"
#include "livecomments/error.h"
#include "livecomments/event_source.h"
#include "livecomments/http_backend.h"
#include "livecomments/outbox.h"
#include "livecomments/result.h"
#include "livecomments/subscription.h"
#include "livecomments/timeline.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace livecomments {

namespace detail {
class ClientCore;
}

/// Runs a task somewhere (e.g. posts it to a GUI thread's event loop). Must not run it inline
/// on the calling thread if the caller must not block; tasks may be dropped silently once the
/// Client is gone (the SDK then skips them).
using Executor = std::function<void(std::function<void()>)>;

/// Severity of a ClientConfig::onLog message.
enum class LogLevel {
    Debug, ///< every connection attempt, redirect hop and request
    Info, ///< streams going live, suspend/resume, network changes
    Warning, ///< reconnects, outbox retries, cache recreated
    Error, ///< streams or posts that failed for good
};

/// Stable lower-case name, e.g. "warning".
const char* logLevelName(LogLevel level) noexcept;

/// Local SQLite cache settings.
struct CacheOptions {
    std::string path; ///< SQLite file; empty = no cache (outbox kept in memory only)
    std::int64_t maxBytes = 64ll * 1024 * 1024; ///< evict least-recently-viewed videos beyond this
};

/// Configuration of a Client.
struct ClientConfig {
    std::string baseUrl; ///< e.g. "http://127.0.0.1:8080" (http or https, no trailing path needed)
    /// Returns the bearer token (without "Bearer "), or "" for anonymous. Called on the I/O
    /// thread before each request; must be quick and must not call back into the Client.
    std::function<std::string()> tokenProvider;
    /// Asynchronous token refresh, used when the server answers 401 to a request or stream that
    /// carried a token: called on the I/O thread with a `done` callback that the app calls
    /// once, from any thread and at any later time, with a new token ("" = none). The failed
    /// request (or stream connection) is then retried once with it; a second 401 is final.
    /// From then on that token is used instead of tokenProvider's. Concurrent 401s share one
    /// refresh. Empty = a 401 is final at once.
    std::function<void(std::function<void(std::string token)> done)> tokenRefresher;
    /// Who the outbox belongs to. Empty = the user the token names (its JWT `sub`; an opaque
    /// token is its own identity), read once in create(). Posts queued by one user are only ever
    /// sent with a token of that user, and only to the baseUrl they were written for.
    std::string userId;
    std::string userAgent = "livecomments-sdk/0.1";
    /// Which certificates https:// requests and streams trust (CA file or in-memory PEM bundle;
    /// default: the system store). A certificate that does not verify fails with ErrorCode::Tls.
    TlsOptions tls;
    CacheOptions cache;
    /// Where callbacks run; empty = directly on the Client's I/O thread.
    Executor executor;
    std::chrono::milliseconds connectTimeout { 10000 };
    std::chrono::milliseconds requestTimeout { 30000 }; ///< whole-request limit (not streams)
    Backoff::Options backoff; ///< reconnect/retry policy for streams and the outbox
    /// Receives every outbox state change, also for entries restored from the cache at start.
    std::function<void(const OutboxEntry&)> onOutbox;
    /// Runs once, after the outbox was restored from the cache (or found empty, or there is no
    /// cache) and every restored entry was reported to onOutbox: from then on pendingPosts()
    /// includes them. @p restored = number of entries restored.
    std::function<void(std::size_t restored)> onOutboxLoaded;
    /// Log hook: what the SDK does and why (connections, redirects, reconnects, retries). Called
    /// synchronously on the I/O thread (not through the executor, so lines keep their order);
    /// must be quick and must not call back into the Client. Empty = no logging.
    std::function<void(LogLevel, const std::string&)> onLog;
    /// Asynchronous errors that belong to no single call (e.g. the cache had to be recreated).
    std::function<void(const Error&)> onError;
    /// How bytes move (see HttpBackend); empty = libcurl. The Qt binding passes its
    /// QNetworkAccessManager backend here. Everything else in the Client is the same either way.
    std::shared_ptr<HttpBackend> httpBackend;
};

/// Entry point of the SDK. Owns one I/O thread that serves every stream, request and the outbox
/// over its HttpBackend (libcurl unless ClientConfig::httpBackend says otherwise), and owns the
/// SQLite cache connection.
///
/// Threading: every public method is thread-safe and non-blocking (it queues a command and wakes
/// the I/O thread). Callbacks run on the I/O thread or through ClientConfig::executor, and never
/// after ~Client() has returned. The destructor stops the I/O thread promptly (in-flight requests
/// are abandoned; pending outbox entries stay in the cache for the next Client). Handles
/// (Subscription, EventSource, Timeline) may outlive the Client; they are then closed.
class Client {
public:
    /// Validates @p config, opens (or recreates) the cache, restores the outbox of this server and
    /// user (calls the token provider once, on this thread, unless ClientConfig::userId is set)
    /// and starts the I/O thread.
    static Result<std::unique_ptr<Client>> create(ClientConfig config);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Opens the live stream of @p videoId.
    Result<std::unique_ptr<Subscription>> subscribe(
        VideoId videoId, SubscriptionCallbacks callbacks, SubscriptionOptions options = {});

    /// Opens a generic reconnecting SSE stream (raw events), e.g. for the CLI `events` command.
    Result<std::unique_ptr<EventSource>> openEventSource(
        EventSourceRequest request, EventSourceCallbacks callbacks);

    /// Opens a merged history+live view of @p videoId.
    Result<std::unique_ptr<Timeline>> openTimeline(
        VideoId videoId, TimelineCallbacks callbacks, TimelineOptions options = {});

    /// Queues a comment in the outbox and sends it (Idempotency-Key = OutboxEntry::key, retried
    /// with the same key on network errors, 5xx and 429 until sent or failed for good).
    /// Returns the key at once; @p onUpdate (and ClientConfig::onOutbox) get every state change.
    /// Text must be 1..500 characters of valid UTF-8 after trimming (checked by the server;
    /// the SDK rejects empty text and text over 64 KiB at once).
    Result<std::string> post(
        VideoId videoId, std::string text, std::function<void(const OutboxEntry&)> onUpdate = {});

    /// Gives up on a pending outbox entry (it becomes Failed with ErrorCode::Closed).
    void cancelPost(const std::string& key);

    /// Outbox entries not yet sent (snapshot; includes those restored from the cache, already
    /// right after create() returns).
    std::vector<OutboxEntry> pendingPosts() const;

    /// One history request (network; the result is also stored in the cache).
    void fetchHistory(
        VideoId videoId, HistoryQuery query, std::function<void(Result<HistoryPage>)> onDone);

    /// GET /videos/{id}.
    void fetchVideo(VideoId videoId, std::function<void(Result<Video>)> onDone);
    /// POST /videos {"title": …} (needs a token).
    void createVideo(std::string title, std::function<void(Result<Video>)> onDone);
    /// POST /videos/{id}/end (the video's streamer or a moderator; idempotent). Every stream of
    /// the video then gets `ended` (SubscriptionCallbacks::onEnded).
    void endVideo(VideoId videoId, std::function<void(Result<Video>)> onDone);
    /// GET /videos?status=…&limit=… (newest first): e.g. the newest live video with limit 1.
    void listVideos(VideoQuery query, std::function<void(Result<std::vector<Video>>)> onDone);
    /// DELETE /videos/{id}/comments/{commentId} (the author or a moderator). Success = the
    /// server removed it (or it was already gone); every stream then gets `deleted`.
    void deleteComment(
        VideoId videoId, CommentId commentId, std::function<void(Result<void>)> onDone);

    /// The app goes to the background: every stream is closed (each reports Reconnecting with
    /// StreamStatus::suspended) but keeps its state (resume point, timeline sequence), and the
    /// outbox stops sending (a post on the wire finishes; new posts are queued). Requests
    /// (history, videos) still work. Idempotent.
    void suspend();
    /// Back to the foreground: streams reconnect at once with Last-Event-ID (what was missed is
    /// replayed, each comment once) and the outbox resumes. Idempotent.
    void resume();
    /// The device's network changed (e.g. Wi-Fi to cellular): every stream reconnects now, even
    /// a live one (its socket may be bound to the old interface), skipping any backoff wait; a
    /// waiting outbox retry runs now. Ignored while suspended.
    void networkChanged();
    /// Retries everything now (same as networkChanged()), e.g. behind a "retry" button.
    void reconnectNow();

    /// Total HTTP requests started by this Client so far (streams, history, posts).
    std::int64_t requestCount() const;

    /// Closes every handle, stops retrying (pending posts stay in the cache). Idempotent.
    /// After close() every method returns ErrorCode::Closed.
    void close();

private:
    explicit Client(std::shared_ptr<detail::ClientCore> core);
    std::shared_ptr<detail::ClientCore> m_core;
};

} // namespace livecomments
