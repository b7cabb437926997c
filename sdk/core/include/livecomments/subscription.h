// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/comment.h"
#include "livecomments/stream_state.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace livecomments {

namespace detail {
class SubscriptionHandle;
}

/// Contents of the `hello` event that starts every stream connection.
struct Hello {
    std::string subscriptionId;
    VideoId videoId = 0;
    std::int64_t heartbeatMs = 0;
    bool resumed = false; ///< the replay after Last-Event-ID was complete
    /// The video's newest stored comment id when the stream opened (`last_id`); 0 = the video
    /// has no comment, or the server is too old to send it.
    CommentId lastId = 0;
    /// The hello carried `last_id` (a null one counts); false only from servers that predate it.
    bool lastIdKnown = false;
};

/// Options of Client::subscribe().
struct SubscriptionOptions {
    /// Resume after this comment id (sent as Last-Event-ID on the first connect); comments with
    /// an id <= resumeAfter (the server's replay overlap) are never delivered. 0 = start live:
    /// the stream opens at once (no extra request) and the first hello's `last_id` (the video's
    /// newest id) becomes the resume point, so even an outage before the first comment loses
    /// nothing.
    CommentId resumeAfter = 0;
    /// How many recent ids are remembered to drop duplicates of the resume overlap.
    std::size_t dedupeWindow = 4096;
};

/// Receivers of a Subscription. Every member may be empty.
struct SubscriptionCallbacks {
    std::function<void(const StreamStatus&)> onStatus; ///< state changes
    std::function<void(const Hello&)> onHello; ///< each (re)connection's hello
    /// A new comment, each id at most once (resume-overlap duplicates are dropped).
    std::function<void(const Comment&)> onComment;
    std::function<void(CommentId)> onDeleted; ///< a comment was removed
    /// The server could not replay what was missed (`reset` event, hello.resumed == false
    /// after a resume, or a reconnect with no id to resume from because the first hello carried
    /// no usable `last_id`): comments may be missing between the last one delivered and the next;
    /// refetch history with `after=` (a Timeline does this itself).
    std::function<void(const std::string& reason)> onReset;
    std::function<void(std::int64_t viewers)> onViewers; ///< `stats` event
    /// The streamer ended the video (`ended` event), at most once. The stream stays open for
    /// deletions, but when it drops the subscription closes (Closed, no error) instead of
    /// reconnecting.
    std::function<void(VideoId)> onEnded;
};

/// A live subscription to one video's comment stream (PUT /videos/{id}/subscriptions).
/// Reconnects by itself (see EventSource), resumes with Last-Event-ID, watches heartbeats
/// (≈2.5 × hello.heartbeat_ms of silence = dead → reconnect), dedupes by id.
///
/// Every Subscription and Timeline of one video inside a Client shares ONE stream connection
/// (the server sees one viewer); it opens with the first and closes with the last. The first
/// opener's options decide the connection's resume point and dedupe window; a later one gets the
/// state and the live connection's hello (`resumed` false) at once, comments from then on, and
/// onReset("joined") when it asked to resume from further back than the connection did.
/// status(), lastCommentId(), connectionAttempts(), viewers() and ended() describe that shared
/// connection.
///
/// Threading: as EventSource — handle usable from any thread; callbacks serialized on the I/O
/// thread or the executor; none after close()/destructor returns.
class Subscription {
public:
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription(); ///< closes (and asks the server to drop the subscription, best effort)

    void close(); ///< idempotent, non-blocking
    StreamStatus status() const;
    VideoId videoId() const;
    /// Newest comment id delivered so far (0 = none): the resume point.
    CommentId lastCommentId() const;
    int connectionAttempts() const; ///< HTTP requests made so far
    std::int64_t viewers() const; ///< last `stats` value, -1 = none yet
    bool ended() const; ///< an `ended` event arrived (see SubscriptionCallbacks::onEnded)

private:
    friend class Client;
    friend class Timeline;
    explicit Subscription(std::shared_ptr<detail::SubscriptionHandle> impl);
    std::shared_ptr<detail::SubscriptionHandle> m_impl;
};

} // namespace livecomments
