// SPDX-License-Identifier: MIT
#pragma once

#include "client/event_source_impl.h"
#include "livecomments/subscription.h"

#include <set>

namespace livecomments::detail {

/// Comment-stream logic over an EventSourceImpl: hello/heartbeat watchdog, dedupe by id,
/// reset detection. Sink callbacks run directly on the loop thread (callers gate them).
///
/// Threading: loop thread, except the snapshot getters.
class SubscriptionImpl : public Closable, public std::enable_shared_from_this<SubscriptionImpl> {
public:
    SubscriptionImpl(std::shared_ptr<ClientCore> core, VideoId video, SubscriptionOptions options,
        SubscriptionCallbacks sink);

    /// Creates the stream object (any thread, once, right after construction).
    void init();
    void startOnLoop();
    void closeOnLoop();
    void shutdownOnLoop() override { closeOnLoop(); }
    void suspendOnLoop() override { m_source->suspendOnLoop(); }
    void resumeOnLoop() override { m_source->resumeOnLoop(); }
    void reconnectNowOnLoop() override { m_source->reconnectNowOnLoop(); }

    StreamStatus status() const;
    VideoId videoId() const { return m_video; }
    CommentId lastCommentId() const { return m_lastComment.load(); }
    int connectionAttempts() const;
    std::int64_t viewers() const { return m_viewers.load(); }
    bool ended() const { return m_ended.load(); }
    const std::shared_ptr<ClientCore>& core() const { return m_core; }
    /// The public handle's callback switch.
    const std::shared_ptr<HandleGate>& gate() const { return m_gate; }
    void setGate(std::shared_ptr<HandleGate> gate) { m_gate = std::move(gate); }

private:
    void onEvent(const SseEvent& e);
    bool remember(CommentId id);

    std::shared_ptr<ClientCore> m_core;
    std::shared_ptr<HandleGate> m_gate = std::make_shared<HandleGate>();
    VideoId m_video;
    SubscriptionOptions m_options;
    SubscriptionCallbacks m_sink;
    std::shared_ptr<EventSourceImpl> m_source;
    std::set<CommentId> m_seen;
    std::string m_subscriptionId;
    bool m_closed = false;
    int m_hellos = 0;
    std::atomic<CommentId> m_lastComment { 0 };
    std::atomic<std::int64_t> m_viewers { -1 };
    std::atomic<bool> m_ended { false };
};

} // namespace livecomments::detail
