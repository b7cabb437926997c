// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstdint>
#include <functional>
#include <string>

namespace livecomments::server::bus {

/// What travels between nodes: enough to rebuild the SSE frame and update caches.
struct BusEvent {
    enum class Type { Comment, Deleted, VideoEnded };
    Type type = Type::Comment;
    std::uint32_t videoId = 0;
    std::uint64_t commentId = 0; ///< Comment / Deleted
    std::string json; ///< Comment: the comment object JSON (encoded once, by the publisher)
    /// Comment: the video's comment committed just before this one (store::CommitEvent::prevId),
    /// which lets every node deliver a video's comments in chain order and notice a missing one.
    std::uint64_t prevId = 0;
    bool chained = true; ///< Comment: false outside the chain (prevId means nothing)
};

/**
 * Publish/subscribe of per-video events between the nodes of a deployment. publish() hands an
 * event to every node that has viewers of that video (including this one); the handler set with
 * setHandler() receives the events meant for this node.
 *
 * Implementations: LocalBus (single node, synchronous). A Redis bus (one channel per video,
 * SSUBSCRIBE-ready) implements the same interface and uses setInterest() to subscribe only to
 * videos this node has local viewers for.
 *
 * Threading: publish() and setInterest() may be called from any thread; the handler may run on
 * any thread (LocalBus: the publisher's), so it must be thread-safe.
 */
class Bus {
public:
    using Handler = std::function<void(const BusEvent&)>;
    virtual ~Bus() = default;
    /// Set once, before the first publish().
    virtual void setHandler(Handler handler) = 0;
    virtual void publish(const BusEvent& event) = 0;
    /// This node gained its first / lost its last local viewer of `videoId`.
    virtual void setInterest(std::uint32_t videoId, bool interested) = 0;
};

/// The in-process bus: publish() calls the handler at once on the caller's thread.
class LocalBus final : public Bus {
public:
    void setHandler(Handler handler) override { m_handler = std::move(handler); }
    void publish(const BusEvent& event) override
    {
        if (m_handler)
            m_handler(event);
    }
    void setInterest(std::uint32_t, bool) override { }

private:
    Handler m_handler;
};

} // namespace livecomments::server::bus
