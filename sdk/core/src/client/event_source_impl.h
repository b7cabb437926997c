// SPDX-License-Identifier: MIT
#pragma once
// The reconnecting SSE connection used by EventSource, Subscription and Timeline.

#include "client/client_core.h"
#include "livecomments/event_source.h"

#include <mutex>

namespace livecomments::detail {

/// Internal receivers, called directly on the loop thread (not gated; the owner gates).
struct EventSourceSink {
    std::function<void(const SseEvent&)> onEvent;
    std::function<void(const StreamStatus&)> onStatus;
};

/// Threading: start()/close() are posted to the loop; everything runs on the loop thread except
/// the snapshot getters (mutex).
class EventSourceImpl : public Closable, public std::enable_shared_from_this<EventSourceImpl> {
public:
    EventSourceImpl(
        std::shared_ptr<ClientCore> core, EventSourceRequest request, EventSourceSink sink);

    void startOnLoop();
    void closeOnLoop(std::optional<Error> error = std::nullopt);
    void shutdownOnLoop() override { closeOnLoop(); }
    void suspendOnLoop() override;
    void resumeOnLoop() override;
    void reconnectNowOnLoop() override;
    /// Heartbeat watchdog: declare the stream dead after @p idle without a byte (0 = off).
    void setIdleTimeoutOnLoop(std::chrono::milliseconds idle);
    /// Sets the Last-Event-ID of the next connect (before startOnLoop(), or between attempts).
    void setLastEventIdOnLoop(const std::string& id);
    /// Drop the current connection and reconnect (after backoff) as if it had failed.
    void failAndReconnectOnLoop(Error why);
    /// The current connection is the last one: when it ends, close (no error) instead of
    /// reconnecting.
    void stopReconnectingOnLoop() { m_lastConnection = true; }

    StreamStatus status() const;
    std::string lastEventId() const;
    int connectionAttempts() const;
    const std::shared_ptr<ClientCore>& core() const { return m_core; }
    /// The public handle's callback switch.
    const std::shared_ptr<HandleGate>& gate() const { return m_gate; }
    void setGate(std::shared_ptr<HandleGate> gate) { m_gate = std::move(gate); }

private:
    void connect();
    /// Starts the request of the current hop (the configured URL, or a redirect's target).
    void connectHop();
    void setStatus(StreamStatus s);
    void onConnectionEnded(Error why);
    void armWatchdog();
    /// Drops the current connection or the pending retry without reporting anything.
    void dropConnection();

    std::shared_ptr<ClientCore> m_core;
    std::shared_ptr<HandleGate> m_gate = std::make_shared<HandleGate>();
    EventSourceRequest m_request;
    EventSourceSink m_sink;
    SseParser m_parser;
    Backoff m_backoff;
    TransferId m_transfer = 0;
    TimerId m_retryTimer = 0;
    TimerId m_watchdog = 0;
    Clock::time_point m_lastByte {};
    std::optional<Error> m_failure; ///< decided from the response head / parser
    /// Redirects of the current connection attempt: (status, absolute target), in order.
    std::vector<std::pair<int, std::string>> m_hopTrail;
    std::optional<std::pair<int, std::string>> m_redirect; ///< the hop the current answer asks for
    int m_hops = 0;
    std::optional<Error> m_refreshFor; ///< a 401 to answer with one token refresh
    bool m_refreshTried = false; ///< since the last live connection
    bool m_closed = false;
    bool m_live = false;
    bool m_lastConnection = false;
    bool m_suspended = false;

    mutable std::mutex m_mutex;
    StreamStatus m_status;
    std::string m_lastEventIdSnapshot;
    int m_attempts = 0;
};

} // namespace livecomments::detail
