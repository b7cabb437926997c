// SPDX-License-Identifier: MIT
#pragma once

#include "client/event_source_impl.h"
#include "livecomments/subscription.h"

#include <set>

namespace livecomments::detail {

/// The one comment stream of a video inside a Client, shared by every Subscription and Timeline
/// of that video (ref-counted by its listeners; the last one to leave closes it). Comment-stream
/// logic over an EventSourceImpl: hello/heartbeat watchdog, dedupe by id, reset detection.
/// Listener callbacks run directly on the loop thread (callers gate them).
///
/// Threading: loop thread, except the snapshot getters.
class SubscriptionImpl : public Closable, public std::enable_shared_from_this<SubscriptionImpl> {
public:
    using ListenerId = std::uint64_t;

    /// The running stream of @p video in @p core, or a new one (created, registered with the core
    /// for shutdown/suspend/resume, not yet started: add a listener, then startOnLoop()).
    /// @p options of the first opener decide the stream's resume point and dedupe window.
    static std::shared_ptr<SubscriptionImpl> acquireOnLoop(
        const std::shared_ptr<ClientCore>& core, VideoId video, const SubscriptionOptions& options);

    SubscriptionImpl(std::shared_ptr<ClientCore> core, VideoId video, SubscriptionOptions options);

    /// Creates the stream object (once, right after construction).
    void init();
    /// Connects (no-op once started).
    void startOnLoop();
    void closeOnLoop();
    void shutdownOnLoop() override { closeOnLoop(); }
    void suspendOnLoop() override { m_source->suspendOnLoop(); }
    void resumeOnLoop() override { m_source->resumeOnLoop(); }
    void reconnectNowOnLoop() override { m_source->reconnectNowOnLoop(); }

    /// Adds a receiver that wants comments after @p resumeAfter (0 = from now on). A stream that
    /// already runs reports its state to it at once, and the hello of its live connection (with
    /// `resumed` false); when the stream is already past @p resumeAfter, onReset("joined") tells
    /// the newcomer to fetch what lies between.
    ListenerId addListenerOnLoop(SubscriptionCallbacks sink, CommentId resumeAfter);
    /// Removes a receiver; the last one closes the stream.
    void removeListenerOnLoop(ListenerId id);

    bool closed() const { return m_closed; }
    StreamStatus status() const;
    VideoId videoId() const { return m_video; }
    CommentId lastCommentId() const { return m_lastComment.load(); }
    int connectionAttempts() const;
    std::int64_t viewers() const { return m_viewers.load(); }
    bool ended() const { return m_ended.load(); }

private:
    struct Listener {
        ListenerId id = 0;
        SubscriptionCallbacks sink;
        CommentId resumeAfter = 0;
        bool checkResume = false; ///< compare resumeAfter with the next hello's resume point
        bool joinedBehind = false; ///< that comparison says: reset after this hello
    };
    void onEvent(const SseEvent& e);
    bool remember(CommentId id);
    /// Calls @p fn for every listener (over a copy: a callback may add or remove listeners).
    template <typename Fn> void each(Fn fn);
    /// The id after which this stream delivers comments (0 = not known yet).
    CommentId resumePoint() const;

    std::shared_ptr<ClientCore> m_core;
    VideoId m_video;
    SubscriptionOptions m_options;
    std::shared_ptr<EventSourceImpl> m_source;
    std::vector<Listener> m_listeners;
    ListenerId m_nextListener = 1;
    std::set<CommentId> m_seen;
    std::string m_subscriptionId;
    std::optional<Hello> m_hello; ///< the hello of the live connection, for late listeners
    bool m_started = false;
    bool m_closed = false;
    int m_hellos = 0;
    std::atomic<CommentId> m_lastComment { 0 };
    std::atomic<std::int64_t> m_viewers { -1 };
    std::atomic<bool> m_ended { false };
};

/// What a public Subscription holds: one listener of its video's shared stream.
///
/// Threading: start/close on the loop thread; the getters from any thread.
class SubscriptionHandle : public Closable,
                           public std::enable_shared_from_this<SubscriptionHandle> {
public:
    SubscriptionHandle(std::shared_ptr<ClientCore> core, VideoId video, SubscriptionOptions options,
        SubscriptionCallbacks gatedSink, std::shared_ptr<HandleGate> gate);

    void startOnLoop();
    void closeOnLoop();
    void shutdownOnLoop() override { closeOnLoop(); }

    StreamStatus status() const;
    VideoId videoId() const { return m_video; }
    CommentId lastCommentId() const;
    int connectionAttempts() const;
    std::int64_t viewers() const;
    bool ended() const;
    const std::shared_ptr<ClientCore>& core() const { return m_core; }
    const std::shared_ptr<HandleGate>& gate() const { return m_gate; }

private:
    std::shared_ptr<SubscriptionImpl> stream() const;

    std::shared_ptr<ClientCore> m_core;
    VideoId m_video;
    SubscriptionOptions m_options;
    SubscriptionCallbacks m_sink;
    std::shared_ptr<HandleGate> m_gate;
    SubscriptionImpl::ListenerId m_listener = 0;
    std::atomic<bool> m_closed { false };
    mutable std::mutex m_mutex; ///< guards m_stream for the getters
    std::shared_ptr<SubscriptionImpl> m_stream;
};

} // namespace livecomments::detail
