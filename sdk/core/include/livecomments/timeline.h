// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/comment.h"
#include "livecomments/error.h"
#include "livecomments/outbox.h"
#include "livecomments/result.h"
#include "livecomments/stream_state.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace livecomments {

namespace detail {
class TimelineImpl;
}

/// Options of Client::openTimeline().
struct TimelineOptions {
    int pageSize = 50; ///< history page size (1..200)
    /// Prefetch the next older page as soon as the reader is within this many comments of the
    /// oldest loaded one (see Timeline::setReaderPosition()).
    std::size_t prefetchDistance = 25;
    bool live = true; ///< also subscribe to the live stream
    bool useCache = true; ///< show and store pages in the Client's cache (when it has one)
    /// Show the app's own posts to this video at once: every outbox entry of the video
    /// (Client::post(), and entries restored from the cache) is appended after the newest
    /// comment as a Comment with `pending` set (id 0, `localId` = outbox key), in posting order.
    /// When the server's 201 or the comment's live echo arrives, whichever comes first, it is
    /// replaced by the stored comment — in place (Kind::Updated) when that comment sorts where
    /// the pending one stood, else removed and inserted at its id position — and never shown
    /// twice. A post failed for good stays, marked `failed` (Kind::Updated). Off by default:
    /// a model that predates Kind::Updated sees no change it does not know.
    bool pendingPosts = false;
};

/// One change of the timeline sequence (oldest first, index 0 = oldest loaded comment; pending
/// own posts, if shown, follow the newest comment).
struct TimelineChange {
    enum class Kind {
        Inserted, ///< `comments` were inserted at `index` (contiguous, id-ordered)
        Removed, ///< `count` comments were removed at `index` (deletions)
        Reset, ///< the whole sequence was replaced by `comments`
        /// the `count` comments at `index` were replaced by `comments` (same positions): a
        /// pending own post became the stored comment, or was marked failed
        /// (TimelineOptions::pendingPosts only)
        Updated,
    };
    Kind kind = Kind::Inserted;
    std::size_t index = 0;
    std::size_t count = 0; ///< number of comments inserted/removed (Reset: new size)
    std::vector<Comment> comments; ///< Inserted / Reset / Updated: the new comments, oldest first
    bool atFront() const { return kind == Kind::Inserted && index == 0; }
};

/// Pager/loader status.
struct TimelineStatus {
    bool loadingOlder = false; ///< a page request towards the past is in flight
    bool atBeginning = false; ///< the oldest comment of the video is loaded
    bool fillingGap = false; ///< an `after=` catch-up is in flight (sequence may be incomplete)
    std::optional<Error> lastError; ///< last history/cache error (recoverable ones are retried)
};

/// Receivers of a Timeline. Every member may be empty.
struct TimelineCallbacks {
    /// Once, when the first content is in place (cached comments, or the first page from the
    /// network): e.g. hide a spinner. Follows the changes that brought that content.
    std::function<void()> onReady;
    std::function<void(const TimelineChange&)> onChange;
    std::function<void(const TimelineStatus&)> onStatus;
    std::function<void(const StreamStatus&)> onStreamStatus; ///< live stream state (if live)
    std::function<void(std::int64_t viewers)> onViewers;
    /// The streamer ended the video (see SubscriptionCallbacks::onEnded).
    std::function<void(VideoId)> onEnded;
};

/// History + live merged into ONE id-ordered sequence without duplicates or holes. Opening shows
/// cached comments at once (if any), fills the gap to the present with `after=`, subscribes to
/// the live stream (resuming after the newest known id), and pages backwards on demand with
/// `before=`, serving cached pages first and prefetching the next older page when the reader gets
/// near the oldest loaded comment. A `reset` from the server (or an incomplete resume) triggers
/// an `after=` refetch; while it runs TimelineStatus::fillingGap is true. What the server
/// replays after a resume (the comments up to its hello's `last_id`) arrives as one Inserted
/// change, not one per comment.
///
/// Threading: handle usable from any thread; callbacks serialized on the I/O thread or the
/// executor, none after close()/destructor returns. snapshot() is a thread-safe copy of the I/O
/// thread's current sequence; with an executor it may be ahead of the changes delivered so far,
/// so a model should be built from the changes (applying them in order reproduces the sequence).
class Timeline {
public:
    Timeline(const Timeline&) = delete;
    Timeline& operator=(const Timeline&) = delete;
    ~Timeline(); ///< closes

    /// Requests the next older page (no-op when one is in flight or atBeginning).
    void loadOlder();
    /// Same, with a completion: @p onDone gets the number of comments the page added (0 when
    /// the beginning was already reached) or the error, after the matching onChange. A call
    /// while a page is in flight completes with that page; a call before the timeline is ready
    /// runs once it is.
    void loadOlder(std::function<void(Result<std::size_t>)> onDone);
    /// Tells the pager which comment is the oldest one the reader can see: @p index into the
    /// sequence (0 = oldest loaded). Prefetches when index < prefetchDistance.
    void setReaderPosition(std::size_t index);
    /// Same, by comment id (the position of that id in the sequence).
    void setReaderPositionById(CommentId id);
    void close(); ///< idempotent, non-blocking
    /// Client::post() to this timeline's video (same outbox, same callbacks). With
    /// TimelineOptions::pendingPosts the comment is in the sequence at once, pending. After
    /// close() (or with the Client gone) returns ErrorCode::Closed.
    Result<std::string> post(
        std::string text, std::function<void(const OutboxEntry&)> onUpdate = {});

    VideoId videoId() const;
    std::vector<Comment> snapshot() const; ///< current sequence, oldest first
    std::size_t size() const;
    TimelineStatus status() const;
    /// Number of history HTTP requests made by this timeline (cache hits are not counted).
    int networkPageRequests() const;

private:
    friend class Client;
    explicit Timeline(std::shared_ptr<detail::TimelineImpl> impl);
    std::shared_ptr<detail::TimelineImpl> m_impl;
};

} // namespace livecomments
