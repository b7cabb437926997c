// SPDX-License-Identifier: MIT
#pragma once
// Shared state behind Client and every handle: configuration, the I/O loop and its thread, the
// callback gate, the cache, the outbox.

#include "cache/cache.h"
#include "http/io_loop.h"
#include "livecomments/client.h"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace livecomments::detail {

class SubscriptionImpl;

/// The user a token belongs to: the JWT `sub` claim, "" for no token, or "token:<hash>" for an
/// opaque token (never decoded as anyone else).
std::string identityOfToken(const std::string& token);

/// Per-handle switch: once closed, no callback of that handle runs.
struct HandleGate {
    std::atomic<bool> open { true };
};

/// Something the core must close when the Client closes (runs on the loop thread).
class Closable {
public:
    virtual ~Closable() = default;
    virtual void shutdownOnLoop() = 0;
    /// Client::suspend(): drop the connection, keep the state (resume point, sequence).
    virtual void suspendOnLoop() { }
    /// Client::resume(): reconnect at once from the kept state.
    virtual void resumeOnLoop() { }
    /// Client::networkChanged() / reconnectNow(): reconnect at once, skipping any backoff wait.
    virtual void reconnectNowOnLoop() { }
    /// Every outbox state change (also of entries restored from the cache).
    virtual void outboxChangedOnLoop(const OutboxEntry&) { }
};

/// Threading: created by Client::create(); post(), deliver-gate closing, shutdown() and the
/// outbox snapshot are thread-safe; everything else runs on the loop thread.
class ClientCore : public std::enable_shared_from_this<ClientCore> {
public:
    static Result<std::shared_ptr<ClientCore>> create(ClientConfig config);
    ~ClientCore();

    const ClientConfig& config() const { return m_config; }
    IoLoop& loop() { return *m_loop; }
    Cache* cache() { return m_cache.get(); }
    bool closed() const { return m_closed.load(); }

    /// Runs @p fn on the loop thread (false when the Client is closed).
    bool post(std::function<void()> fn);
    /// Runs a user callback through the executor (or inline on the loop thread), unless the
    /// Client or @p handle was closed in the meantime. Exceptions from user code are swallowed.
    void deliver(const std::shared_ptr<HandleGate>& handle, std::function<void()> fn);
    /// Closes @p handle's gate; waits for a callback running on another thread to finish.
    void closeGate(HandleGate& handle);
    void registerHandle(const std::shared_ptr<Closable>& handle);
    /// Stops everything; returns after the loop thread has ended (or at once when called on it).
    void shutdown();

    /// Absolute URL for @p path ("/videos/1").
    std::string url(const std::string& path) const;
    /// A request with User-Agent, timeouts and (when a token is available) Authorization.
    HttpRequest makeRequest(std::string method, const std::string& path);
    /// Same, with the token @p token (already fetched from the provider).
    HttpRequest makeRequest(std::string method, const std::string& path, const std::string& token);
    std::string token();
    /// ClientConfig::onLog, if set (loop thread; exceptions swallowed).
    void log(LogLevel level, const std::string& message) const;
    bool logs() const { return static_cast<bool>(m_config.onLog); }
    /// Starts a (non-stream) request on the loop, following up to kMaxRedirects redirects (see
    /// client/redirect.h); onDone sees the final answer. Loop thread.
    /// A 401 answer to a request that carried a token is retried once after
    /// ClientConfig::tokenRefresher handed over a new token (@p refreshed: already done).
    void startRequest(
        HttpRequest request, TransferCallbacks callbacks, int hops = 0, bool refreshed = false);
    /// Asks ClientConfig::tokenRefresher for a new token (one at a time; concurrent callers
    /// share the answer); @p then runs on the loop with true when a token came. Loop thread.
    void refreshToken(std::function<void(bool ok)> then);
    bool canRefreshToken() const { return static_cast<bool>(m_config.tokenRefresher); }
    /// The user the outbox belongs to (the token's `sub`, or ClientConfig::userId).
    const std::string& ownerUser() const { return m_owner.user; }

    // History (loop thread; callbacks are internal, not gated).
    void fetchHistoryOnLoop(
        VideoId video, const HistoryQuery& query, std::function<void(Result<HistoryPage>)> done);

    // Outbox.
    Result<std::string> enqueuePost(
        VideoId video, std::string text, std::function<void(const OutboxEntry&)> onUpdate);
    void cancelPost(const std::string& key);
    std::vector<OutboxEntry> pendingPosts() const;
    /// A stream reached the server: retry a waiting outbox entry now.
    void serverReachable();

    /// The shared comment stream of each video (see SubscriptionImpl::acquireOnLoop()). Loop
    /// thread.
    std::map<VideoId, std::weak_ptr<SubscriptionImpl>>& streams() { return m_streams; }

    // Mobile life cycle (Client::suspend/resume/networkChanged), loop thread.
    void suspendOnLoop();
    void resumeOnLoop();
    void reconnectNowOnLoop();
    bool suspended() const { return m_suspended; }

private:
    struct OutboxItem {
        OutboxEntry entry;
        std::function<void(const OutboxEntry&)> onUpdate;
    };
    explicit ClientCore(ClientConfig config);
    /// Opens the cache, binds it to the server and restores this user's outbox (before the
    /// loop thread starts).
    void openCache();
    void startOnLoop();
    void outboxPump();
    /// The outbox may be sent with @p token (it names the outbox's owner).
    bool tokenIsOwners(const std::string& token) const;
    void outboxReport(const OutboxItem& item);
    void outboxFinish(const std::string& key);
    /// Upserts (or removes) @p entry in the thread-safe snapshot behind pendingPosts().
    void updateSnapshot(const OutboxEntry& entry, bool remove);

    ClientConfig m_config;
    std::unique_ptr<IoLoop> m_loop;
    std::thread m_thread;
    std::atomic<bool> m_closed { false };
    std::recursive_mutex m_gateMutex;
    bool m_gateOpen = true;
    std::unique_ptr<Cache> m_cache;
    OutboxOwner m_owner;
    std::mutex m_tokenMutex;
    std::optional<std::string> m_refreshedToken; ///< from tokenRefresher; wins over tokenProvider
    std::vector<std::function<void(bool)>> m_refreshWaiters;
    std::string m_cacheNote;
    Error m_cacheError;
    std::vector<std::weak_ptr<Closable>> m_handles;
    std::map<VideoId, std::weak_ptr<SubscriptionImpl>> m_streams;

    bool m_suspended = false; ///< streams closed and the outbox paused until resume
    std::deque<OutboxItem> m_outbox;
    bool m_outboxInFlight = false;
    TimerId m_outboxTimer = 0;
    Backoff m_outboxBackoff;
    mutable std::mutex m_snapshotMutex;
    std::vector<OutboxEntry> m_outboxSnapshot;
};

} // namespace livecomments::detail
