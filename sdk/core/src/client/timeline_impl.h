// SPDX-License-Identifier: MIT
#pragma once

#include "client/subscription_impl.h"
#include "livecomments/timeline.h"

#include <limits>

namespace livecomments::detail {

/// The merged history+live sequence (see livecomments/timeline.h).
///
/// Threading: every *OnLoop method runs on the loop thread; snapshot getters lock m_mutex.
class TimelineImpl : public Closable, public std::enable_shared_from_this<TimelineImpl> {
public:
    TimelineImpl(std::shared_ptr<ClientCore> core, VideoId video, TimelineOptions options,
        TimelineCallbacks callbacks);

    void startOnLoop();
    void closeOnLoop();
    void shutdownOnLoop() override { closeOnLoop(); }
    // suspend/resume/reconnectNow reach the shared stream directly (it is a handle of its own).
    void outboxChangedOnLoop(const OutboxEntry& entry) override;
    void loadOlderOnLoop();
    /// Same, and @p onDone (gated) gets the number of comments the page added (0 at the
    /// beginning) or the error, also when the load was already in flight or waits for ready.
    void loadOlderOnLoop(std::function<void(Result<std::size_t>)> onDone);
    void setReaderIndexOnLoop(std::size_t index);
    void setReaderIdOnLoop(CommentId id);

    VideoId videoId() const { return m_video; }
    std::vector<Comment> snapshot() const;
    std::size_t size() const;
    TimelineStatus status() const;
    int networkPageRequests() const { return m_netPages.load(); }
    const std::shared_ptr<ClientCore>& core() const { return m_core; }
    const std::shared_ptr<HandleGate>& gate() const { return m_gate; }

private:
    static constexpr std::size_t kNoReader = std::numeric_limits<std::size_t>::max();
    void startLive(CommentId resumeAfter);
    void initialLoad();
    void becomeReady();
    /// The first content is in place: onReady, and any loadOlder() asked for before.
    void markReady();
    void finishOlder(const Result<std::size_t>& result);
    /// The newest id in the sequence, 0 when empty.
    CommentId newestId() const;
    void startFill(CommentId from);
    void fetchFillPage();
    /// Merges @p comments (any order, duplicates allowed) and emits the changes. With
    /// @p settle, echoes of pending own posts replace those first (see settleEchoes()).
    void insert(std::vector<Comment> comments, bool settle = true);
    void remove(CommentId id);
    /// A live comment once ready: held while a resume's replay comes in, else merged at once.
    void addLive(const Comment& c);
    /// Merges the held replay as one change.
    void flushReplay();
    /// TimelineOptions::pendingPosts: the own post @p key is stored as @p stored (201 or echo).
    void settleOwn(std::size_t index, Comment stored);
    /// Comments of @p comments that are echoes of pending own posts settle those; returns the rest.
    std::vector<Comment> settleEchoes(std::vector<Comment> comments);
    void recordSegment();
    /// Re-asks the server for the cached page `before=@p before&limit=pageSize` with
    /// If-None-Match (the ETag stored for it): 304 = unchanged; 200 = comments of that range the
    /// server no longer has are removed (deleted while we were offline), new ones merged.
    void revalidate(CommentId before);
    void maybePrefetch();
    void publishStatus();
    void emit(TimelineChange change);
    std::chrono::milliseconds retryDelay(const Error& e);
    /// Records a failed request; recoverable errors re-run @p retry after a backoff delay.
    void onRequestFailed(const Error& e, void (TimelineImpl::*retry)());
    bool useCache() const { return m_options.useCache && m_core->cache(); }

    std::shared_ptr<ClientCore> m_core;
    std::shared_ptr<HandleGate> m_gate = std::make_shared<HandleGate>();
    VideoId m_video;
    TimelineOptions m_options;
    TimelineCallbacks m_callbacks;
    std::shared_ptr<SubscriptionImpl> m_sub; ///< the video's shared stream (live timelines)
    SubscriptionImpl::ListenerId m_listener = 0;
    Backoff m_backoff;
    bool m_closed = false;
    bool m_ready = false; ///< the initial content is in place
    bool m_initialRequested = false;
    bool m_fillAfterReady = false;
    std::vector<Comment> m_pendingLive; ///< live comments that arrived before ready
    CommentId m_fillCursor = 0; ///< gap fill: the sequence is complete up to this id
    bool m_refill = false;
    std::size_t m_reader = kNoReader;
    std::vector<std::function<void(Result<std::size_t>)>> m_olderWaiters;
    CommentId m_revalidateOnHello = 0; ///< the cached opening page waits for a reachable server
    std::atomic<int> m_netPages { 0 };
    /// A resumed stream replays up to its hello's last_id: held until that id, then one change.
    CommentId m_replayUntil = 0;
    std::vector<Comment> m_replayBatch;
    TimerId m_replayTimer = 0;

    mutable std::mutex m_mutex; ///< guards m_seq and m_status for the snapshot getters
    std::vector<Comment> m_seq; ///< oldest first
    std::vector<Comment> m_own; ///< pending/failed own posts, shown after m_seq
    TimelineStatus m_status;
};

} // namespace livecomments::detail
