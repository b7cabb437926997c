// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/backoff.h"
#include "livecomments/sse_parser.h"
#include "livecomments/stream_state.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace livecomments {

namespace detail {
class EventSourceImpl;
}

/// What to connect to. Used by Client::openEventSource().
struct EventSourceRequest {
    std::string url; ///< absolute http(s) URL
    std::string method = "GET"; ///< "GET" or "PUT"
    /// Extra request headers as name/value pairs ("Accept: text/event-stream" is always sent).
    std::vector<std::pair<std::string, std::string>> headers;
    std::string lastEventId; ///< initial Last-Event-ID (empty = none)
    std::chrono::milliseconds initialRetry {
        1000
    }; ///< reconnect base until the server sends retry:
    Backoff::Options backoff; ///< reconnect policy (initial is overridden by initialRetry)
    /// The stream is declared dead after this long without a byte (0 = no watchdog). A
    /// Subscription sets it from hello.heartbeat_ms.
    std::chrono::milliseconds idleTimeout { 0 };
    bool sendAuthorization = false; ///< add "Authorization: Bearer <token>" from the token provider
};

/// Receivers of an EventSource. Every member may be empty.
struct EventSourceCallbacks {
    std::function<void(const SseEvent&)> onEvent; ///< each dispatched event, any type
    std::function<void(const StreamStatus&)> onStatus; ///< each state change
};

/// A generic, reconnecting Server-Sent-Events client (WHATWG EventSource semantics, with the
/// SDK's policy: retries network errors, 5xx and 429 with backoff honouring `retry:` and
/// Retry-After, sends Last-Event-ID on every reconnect; closes for good on 401/403/404, 204, any
/// other 4xx and a content type other than text/event-stream).
///
/// Threading: the handle may be used and destroyed from any thread. Callbacks run on the Client's
/// I/O thread or through its executor, never concurrently with each other, and never after
/// close() or the destructor has returned (unless close() is called from inside a callback, in
/// which case no callback follows the current one).
class EventSource {
public:
    EventSource(const EventSource&) = delete;
    EventSource& operator=(const EventSource&) = delete;
    ~EventSource(); ///< closes

    /// Stops the stream for good (state Closed, no error). Idempotent; never blocks for I/O.
    void close();
    /// Last known state (thread-safe snapshot).
    StreamStatus status() const;
    /// The last event id (what the next reconnect will send).
    std::string lastEventId() const;
    /// Number of HTTP requests (connection attempts) made so far.
    int connectionAttempts() const;

private:
    friend class Client;
    explicit EventSource(std::shared_ptr<detail::EventSourceImpl> impl);
    std::shared_ptr<detail::EventSourceImpl> m_impl;
};

} // namespace livecomments
