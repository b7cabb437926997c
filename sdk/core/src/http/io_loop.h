// SPDX-License-Identifier: MIT
#pragma once
// The Client's single I/O thread: a command queue, timers, and the transfers of its HttpBackend.

#include "http/http.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace livecomments::detail {

using TransferId = std::uint64_t;
using TimerId = std::uint64_t;
using Clock = std::chrono::steady_clock;

/// Outcome of a transfer.
struct TransferResult {
    std::optional<Error> error; ///< transport error (not set for an HTTP error status)
    HttpResponse response; ///< status, headers, and body unless streamed
    bool abortedByHandler = false; ///< onHead/onData returned false
};

/// Handlers of one transfer; all run on the loop thread, as the backend reports the head (onHead),
/// body chunks (onData, streams only) and completion (onDone). onHead/onData returning false abort
/// the transfer; onDone still runs (with abortedByHandler set). After cancelTransfer() none runs.
struct TransferCallbacks {
    std::function<bool(const HttpResponse&)> onHead; ///< final status + headers received
    std::function<bool(std::string_view)> onData; ///< stream body bytes
    std::function<void(TransferResult&)> onDone;
};

/// Threading: post(), stop() and requestCount() may be called from any thread; every other
/// method only on the loop thread (inside a posted command, a timer or a transfer callback).
/// Transfers run on an HttpBackend (libcurl by default) that reports from its own thread through
/// a sink; the sink queues each event as a command here and wakes the loop, so every transfer
/// callback runs on the loop thread whatever the backend.
class IoLoop {
public:
    /// @p backend nullptr = libcurl (makeCurlBackend()).
    explicit IoLoop(std::shared_ptr<HttpBackend> backend = nullptr);
    ~IoLoop();
    IoLoop(const IoLoop&) = delete;
    IoLoop& operator=(const IoLoop&) = delete;

    bool valid() const { return m_backend != nullptr; }
    const char* backendName() const { return m_backend ? m_backend->name() : ""; }
    /// Runs the loop on the calling thread until stop(); then cancels every transfer and drops
    /// every timer (their callbacks are destroyed on this thread without being called).
    void run();
    /// Asks run() to return soon. Any thread.
    void stop();
    bool stopped() const;
    /// Queues @p fn to run on the loop thread; returns false (and drops it) after stop().
    bool post(std::function<void()> fn);
    bool inLoopThread() const { return std::this_thread::get_id() == m_threadId.load(); }

    TransferId startTransfer(HttpRequest request, TransferCallbacks callbacks);
    void cancelTransfer(TransferId id);
    TimerId addTimer(std::chrono::milliseconds delay, std::function<void()> fn);
    void cancelTimer(TimerId id);
    std::int64_t requestCount() const { return m_requestCount.load(); }

private:
    struct Transfer;
    struct SinkHub;
    class Sink;
    void onHead(TransferId id, int status, Headers headers);
    void onData(TransferId id, const std::string& bytes);
    void onDone(TransferId id, std::optional<Error> error);
    /// A handler refused the transfer: cancel it in the backend and report it done.
    void abortByHandler(TransferId id);
    void runTimers();
    Clock::time_point nextTimerTime() const;

    std::shared_ptr<HttpBackend> m_backend;
    std::shared_ptr<SinkHub> m_hub;
    std::atomic<std::thread::id> m_threadId {};
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<std::function<void()>> m_commands;
    bool m_stop = false;

    std::unordered_map<TransferId, std::unique_ptr<Transfer>> m_transfers;
    TransferId m_nextTransfer = 1;
    std::multimap<Clock::time_point, TimerId> m_timerQueue;
    std::unordered_map<TimerId, std::function<void()>> m_timers;
    TimerId m_nextTimer = 1;
    std::atomic<std::int64_t> m_requestCount { 0 };
};

} // namespace livecomments::detail
