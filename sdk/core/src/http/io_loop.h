// SPDX-License-Identifier: MIT
#pragma once
// The Client's single I/O thread: a libcurl multi loop (curl_multi_poll + curl_multi_wakeup)
// with a command queue and timers.

#include "http/http.h"

#include <atomic>
#include <chrono>
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

/// Handlers of one transfer; all run on the loop thread, from inside libcurl callbacks
/// (onHead, onData) or after completion (onDone). onHead/onData returning false abort the
/// transfer; onDone still runs (with abortedByHandler set). After cancelTransfer() none runs.
struct TransferCallbacks {
    std::function<bool(const HttpResponse&)> onHead; ///< final status + headers received
    std::function<bool(std::string_view)> onData; ///< stream body bytes
    std::function<void(TransferResult&)> onDone;
};

/// Threading: post(), wakeup-safe stop() and requestCount() may be called from any thread; every
/// other method only on the loop thread (inside a posted command, a timer or a transfer
/// callback). The loop owns every curl handle.
class IoLoop {
public:
    IoLoop();
    ~IoLoop();
    IoLoop(const IoLoop&) = delete;
    IoLoop& operator=(const IoLoop&) = delete;

    bool valid() const { return m_multi != nullptr; }
    /// Runs the loop on the calling thread until stop(); then drops every transfer and timer
    /// (their callbacks are destroyed on this thread without being called).
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
    static std::size_t writeCallback(char* data, std::size_t size, std::size_t n, void* user);
    static std::size_t headerCallback(char* data, std::size_t size, std::size_t n, void* user);
    void addPending();
    void removeCancelled();
    void finishDone();
    void runTimers();
    std::chrono::milliseconds nextTimerDelay() const;

    void* m_multi = nullptr; // CURLM*
    std::atomic<std::thread::id> m_threadId {};
    mutable std::mutex m_mutex;
    std::vector<std::function<void()>> m_commands;
    bool m_stop = false;

    std::unordered_map<TransferId, std::unique_ptr<Transfer>> m_transfers;
    std::vector<TransferId> m_toAdd;
    std::vector<TransferId> m_toRemove;
    TransferId m_nextTransfer = 1;
    std::multimap<Clock::time_point, TimerId> m_timerQueue;
    std::unordered_map<TimerId, std::function<void()>> m_timers;
    TimerId m_nextTimer = 1;
    std::atomic<std::int64_t> m_requestCount { 0 };
};

} // namespace livecomments::detail
