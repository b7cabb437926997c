// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/error.h"

#include <chrono>
#include <optional>

namespace livecomments {

/// Lifecycle of a long-lived stream (EventSource, Subscription).
///   Connecting -> Live -> Reconnecting(attempt, delay) -> Live -> ... -> Closed(error)
/// Connecting is only the first attempt; Reconnecting covers both the wait and the attempt that
/// follows it (the next state is Live, another Reconnecting, or Closed).
enum class StreamState {
    Connecting, ///< a request is in flight, no valid response yet
    Live, ///< 200 text/event-stream received; events flow
    Reconnecting, ///< waiting `delay` before attempt number `attempt`
    Closed, ///< final: closed by the user (no error) or for good (error set)
};

/// A state change notification.
struct StreamStatus {
    StreamState state = StreamState::Connecting;
    int attempt = 0; ///< Reconnecting: 1-based number of the coming attempt
    std::chrono::milliseconds delay { 0 }; ///< Reconnecting: wait before that attempt
    /// Reconnecting: why the previous connection ended; Closed: why it closed for good
    /// (std::nullopt when the user closed it).
    std::optional<Error> error;
    /// Reconnecting because of Client::suspend() (error: Closed "suspended"); the stream
    /// reconnects on Client::resume(), not by itself.
    bool suspended = false;
};

/// Stable lower-case name, e.g. "reconnecting".
const char* streamStateName(StreamState state) noexcept;

} // namespace livecomments
