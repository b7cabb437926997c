// SPDX-License-Identifier: MIT
#include "client/subscription_impl.h"

#include "client/wire.h"

#include <algorithm>

namespace livecomments::detail {

SubscriptionImpl::SubscriptionImpl(std::shared_ptr<ClientCore> core, VideoId video,
    SubscriptionOptions options, SubscriptionCallbacks sink)
    : m_core(std::move(core))
    , m_video(video)
    , m_options(options)
    , m_sink(std::move(sink))
{
    if (m_options.resumeAfter)
        m_lastComment = m_options.resumeAfter;
}

void SubscriptionImpl::init()
{
    EventSourceRequest req;
    req.url = m_core->url("/videos/" + std::to_string(m_video) + "/subscriptions");
    req.method = "GET";
    req.sendAuthorization = true;
    req.backoff = m_core->config().backoff;
    req.initialRetry = req.backoff.initial;
    // Until hello tells the heartbeat, a connection whose head arrived but whose body stalls is
    // still bounded (by the request timeout) instead of hanging forever.
    req.idleTimeout = m_core->config().requestTimeout;
    if (m_options.resumeAfter)
        req.lastEventId = std::to_string(m_options.resumeAfter);
    auto weak = weak_from_this();
    EventSourceSink sink;
    sink.onEvent = [weak](const SseEvent& e) {
        if (auto self = weak.lock())
            self->onEvent(e);
    };
    sink.onStatus = [weak](const StreamStatus& s) {
        auto self = weak.lock();
        if (self && self->m_sink.onStatus)
            self->m_sink.onStatus(s);
    };
    m_source = std::make_shared<EventSourceImpl>(m_core, std::move(req), std::move(sink));
}

void SubscriptionImpl::startOnLoop()
{
    if (m_closed)
        return;
    // No request before the stream: Connecting is reported at once, and the resume point of a
    // fresh subscription comes from the first hello's last_id (see onEvent()).
    m_source->startOnLoop();
}

void SubscriptionImpl::closeOnLoop()
{
    if (m_closed)
        return;
    m_closed = true;
    m_source->closeOnLoop();
    if (!m_subscriptionId.empty() && !m_core->closed()) {
        // Best effort: let the server free the stream now instead of at its next write.
        HttpRequest req = m_core->makeRequest("DELETE",
            "/videos/" + std::to_string(m_video) + "/subscriptions/" + urlEncode(m_subscriptionId));
        req.timeout = std::chrono::milliseconds(5000);
        m_core->startRequest(std::move(req), {});
    }
}

StreamStatus SubscriptionImpl::status() const
{
    return m_source->status();
}

int SubscriptionImpl::connectionAttempts() const
{
    return m_source->connectionAttempts();
}

bool SubscriptionImpl::remember(CommentId id)
{
    if (m_seen.count(id))
        return false;
    if (m_seen.size() >= m_options.dedupeWindow && !m_seen.empty() && id < *m_seen.begin())
        return false; // older than everything remembered: a stale replay
    m_seen.insert(id);
    while (m_seen.size() > std::max<std::size_t>(m_options.dedupeWindow, 1))
        m_seen.erase(m_seen.begin());
    return true;
}

void SubscriptionImpl::onEvent(const SseEvent& e)
{
    if (m_closed)
        return;
    if (e.type == "comment") {
        auto c = parseComment(e.data);
        if (!c)
            return; // a malformed event is skipped; the stream itself is fine
        if (c->id <= m_options.resumeAfter)
            return; // the replay's overlap before our resume point: the caller has these
        if (!remember(c->id))
            return;
        if (c->id > m_lastComment)
            m_lastComment = c->id;
        if (m_sink.onComment)
            m_sink.onComment(*c);
    } else if (e.type == "hello") {
        auto h = parseHello(e.data);
        if (!h) {
            m_source->failAndReconnectOnLoop(h.error());
            return;
        }
        m_subscriptionId = h->subscriptionId;
        if (h->heartbeatMs > 0)
            m_source->setIdleTimeoutOnLoop(std::chrono::milliseconds(h->heartbeatMs * 5 / 2));
        if (h->heartbeatMs <= 0)
            m_source->setIdleTimeoutOnLoop(std::chrono::milliseconds(0));
        const bool askedResume = !m_source->lastEventId().empty();
        ++m_hellos;
        if (!askedResume && h->lastIdKnown) {
            // Everything up to the video's newest stored id is "before this subscription": the
            // resume overlap below it is dropped, everything after it is replayed or streamed.
            // An empty video resumes after id 1 (the server reads no id as "no resume").
            m_options.resumeAfter = std::max(m_options.resumeAfter, h->lastId);
            m_source->setLastEventIdOnLoop(std::to_string(std::max<CommentId>(h->lastId, 1)));
        }
        if (m_sink.onHello)
            m_sink.onHello(*h);
        // Not resumed after asking, or a reconnect with nothing to resume from: comments may
        // have been missed in between.
        if (((askedResume && !h->resumed) || (!askedResume && m_hellos > 1)) && m_sink.onReset)
            m_sink.onReset("not_resumed");
    } else if (e.type == "deleted") {
        auto id = parseDeleted(e.data);
        if (id && m_sink.onDeleted)
            m_sink.onDeleted(*id);
    } else if (e.type == "reset") {
        std::string reason = "reset";
        if (auto v = json::parse(e.data)) {
            if (const auto* r = v->find("reason"); r && r->isString())
                reason = r->text();
        }
        if (m_sink.onReset)
            m_sink.onReset(reason);
    } else if (e.type == "ended") {
        // The one place the SDK decodes `ended`: Timeline and the Qt binding's Curl transport
        // get it through onEnded.
        auto video = parseEnded(e.data);
        if (!video || *video != m_video || m_ended)
            return; // malformed, another video's, or a repeat: nothing new
        m_ended = true;
        // The server keeps the stream open (deletions still come); once it drops there is
        // nothing left to resume, so it must not be reopened.
        m_source->stopReconnectingOnLoop();
        if (m_sink.onEnded)
            m_sink.onEnded(*video);
    } else if (e.type == "stats") {
        if (auto v = json::parse(e.data)) {
            if (const auto* n = v->find("viewers")) {
                if (auto count = n->asInt64()) {
                    m_viewers = *count;
                    if (m_sink.onViewers)
                        m_sink.onViewers(*count);
                }
            }
        }
    }
}

} // namespace livecomments::detail
