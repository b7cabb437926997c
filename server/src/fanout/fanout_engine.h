// SPDX-License-Identifier: MIT
#pragma once

#include "model/frame.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace livecomments::server::fanout {

using server::Frame;
using server::FramePtr;
using server::makeFrame;

/// Tuning of the engine; every field has a production default.
struct EngineOptions {
    unsigned loops = 0; ///< epoll loops (threads); 0 = hardware_concurrency()
    std::size_t queueCapBytes = 1u << 20; ///< unsent bytes above this → subscriber closed as slow
    int heartbeatMs = 15000; ///< `: hb\n\n` after this much silence on a stream
    int statsMs = 5000; ///< how often onStatsTick runs (0 = never)
};

/// What the HTTP layer knows about one stream.
struct SubscriberInfo {
    std::string subscriptionId; ///< unguessable, made by the HTTP layer; the key for close/find
    std::uint32_t videoId = 0;
    std::string userId; ///< empty = anonymous
};

/// Counters since start(). openStreams is the current number of sockets the engine owns (a
/// closing stream counts until its socket is closed); framesPublished counts publish() calls;
/// deliveries counts frames queued on a stream (published ones and replayed ones); bytesWritten
/// counts bytes the kernel accepted (preambles and heartbeats included); slowDisconnects and
/// clientDisconnects count streams closed for passing the cap / by the peer; heartbeats counts
/// `: hb` comments queued.
struct EngineStats {
    std::uint64_t openStreams = 0, framesPublished = 0, deliveries = 0, bytesWritten = 0,
                  slowDisconnects = 0, clientDisconnects = 0, heartbeats = 0;
};

/**
 * The SSE fan-out engine: N epoll loops (threads) that own detached stream sockets and write
 * shared, pre-encoded frames to them with coalesced non-blocking writev.
 *
 * Threading: every public method may be called from any thread (HTTP worker threads call
 * open/resume/publish/close). Each subscriber belongs to one loop thread, which alone touches its
 * socket and its queue; other threads only post commands into a loop's inbox (mutex + vector swap)
 * and wake it through an eventfd (only when it is not already woken). onVideoActive runs on a
 * loop thread; onStatsTick runs on loop 0. Neither may call shutdown() or destroy the engine.
 *
 * start() sets SIGPIPE to SIG_IGN process-wide: writev has no MSG_NOSIGNAL flag, and a peer that
 * resets its connection must not kill the server.
 */
class Engine {
public:
    explicit Engine(EngineOptions options = {});
    ~Engine(); ///< shutdown({}, 0ms) if still running
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    /// Starts the loop threads. Call once, after setting the callbacks.
    void start();

    /// Adopts a connected socket (the engine owns and closes `fd`; it is made non-blocking).
    /// `preamble` is written first (the whole HTTP response head + `retry:` + the `hello` event).
    /// The subscriber is registered for `info.videoId` at once, but HELD: frames published from
    /// now on are queued behind the preamble and not written until resume(). Returns false if the
    /// engine is shutting down or not started (fd is then closed) or the id is already in use.
    bool open(int fd, SubscriberInfo info, std::string preamble);

    /// Releases a held subscriber: writes `replay` (oldest first) and then the frames queued while
    /// held, skipping held frames whose non-zero id appears in `replay` (no duplicate between
    /// replay and live), then goes live. Unknown ids are ignored.
    void resume(const std::string& subscriptionId, std::vector<FramePtr> replay);

    /// Queues `frame` for every subscriber of `videoId` on every loop (wake-ups batched; writes
    /// coalesced with writev; flushed at once when the loop is idle).
    void publish(std::uint32_t videoId, FramePtr frame);

    /// Server-side close (DELETE of a subscription): flushes what is queued, then closes.
    /// False if unknown.
    bool close(const std::string& subscriptionId);
    /// The info of an open stream, or nullopt.
    std::optional<SubscriberInfo> find(const std::string& subscriptionId) const;

    /// Current subscribers of that video on this node (held ones included).
    std::size_t viewers(std::uint32_t videoId) const;
    /// A snapshot of the counters.
    EngineStats stats() const;

    /// Called (from a loop thread) when a video gains its first / loses its last local
    /// subscriber — the bus uses this to subscribe only to videos this node has viewers for.
    /// Set before start().
    std::function<void(std::uint32_t videoId, bool hasViewers)> onVideoActive;
    /// Called (from a loop thread) after a stream's socket was closed, with why: "client" (the
    /// peer went away), "slow" (passed the queue cap) or "server" (close()/shutdown). Set before
    /// start().
    std::function<void(
        const std::string& subscriptionId, std::uint32_t videoId, const char* reason)>
        onStreamClosed;
    /// Called every statsMs with nothing else held; the server uses it to publish `stats` events.
    /// Set before start().
    std::function<void()> onStatsTick;

    /// Graceful stop: no new open(); appends `finalBytes` (e.g. a `retry:` with a spread value)
    /// to every stream, flushes for at most `flushTimeout`, closes every socket, joins the loops.
    /// Idempotent; must not be called from a callback.
    void shutdown(std::string finalBytes, std::chrono::milliseconds flushTimeout);
    /// As above, but stream i gets `finalVariants[i % n]` (e.g. `retry:` values spread over a
    /// few seconds, so that the clients of a stopping node do not all reconnect at once).
    void shutdown(std::vector<std::string> finalVariants, std::chrono::milliseconds flushTimeout);

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace livecomments::server::fanout
