// SPDX-License-Identifier: MIT
#include "client/subscription_impl.h"

#include "client/wire.h"

#include <algorithm>

namespace livecomments::detail {

std::shared_ptr<SubscriptionImpl> SubscriptionImpl::acquireOnLoop(
    const std::shared_ptr<ClientCore>& core, VideoId video, const SubscriptionOptions& options)
{
    // One connection per video however many views of it the app opens: the server counts each
    // stream as a viewer and sends it every comment, so a second one would only double both.
    auto& streams = core->streams();
    for (auto it = streams.begin(); it != streams.end();) {
        auto running = it->second.lock();
        if (!running || running->m_closed || running->status().state == StreamState::Closed)
            it = streams.erase(it);
        else
            ++it;
    }
    if (auto it = streams.find(video); it != streams.end())
        return it->second.lock();
    auto stream = std::make_shared<SubscriptionImpl>(core, video, options);
    stream->init();
    core->registerHandle(stream);
    streams[video] = stream;
    return stream;
}

SubscriptionImpl::SubscriptionImpl(
    std::shared_ptr<ClientCore> core, VideoId video, SubscriptionOptions options)
    : m_core(std::move(core))
    , m_video(video)
    , m_options(options)
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
        if (!self)
            return;
        if (s.state != StreamState::Live)
            self->m_hello.reset(); // that connection's hello is no news for a late listener
        self->each([&](const Listener& l) {
            if (l.sink.onStatus)
                l.sink.onStatus(s);
        });
    };
    m_source = std::make_shared<EventSourceImpl>(m_core, std::move(req), std::move(sink));
}

template <typename Fn> void SubscriptionImpl::each(Fn fn)
{
    const auto listeners = m_listeners;
    for (const auto& l : listeners) {
        const bool present = std::any_of(m_listeners.begin(), m_listeners.end(),
            [&](const Listener& x) { return x.id == l.id; });
        if (present && !m_closed)
            fn(l);
    }
}

CommentId SubscriptionImpl::resumePoint() const
{
    return std::max<CommentId>(m_options.resumeAfter, m_lastComment.load());
}

SubscriptionImpl::ListenerId SubscriptionImpl::addListenerOnLoop(
    SubscriptionCallbacks sink, CommentId resumeAfter)
{
    Listener l;
    l.id = m_nextListener++;
    l.sink = std::move(sink);
    l.resumeAfter = resumeAfter;
    l.checkResume = !m_hello;
    m_listeners.push_back(l);
    if (m_started && l.sink.onStatus)
        l.sink.onStatus(m_source->status());
    if (m_hello) {
        Hello h = *m_hello;
        h.resumed = false; // nothing was replayed for this listener
        if (l.sink.onHello)
            l.sink.onHello(h);
        if (resumeAfter && resumeAfter < resumePoint() && l.sink.onReset)
            l.sink.onReset("joined");
    }
    return l.id;
}

void SubscriptionImpl::removeListenerOnLoop(ListenerId id)
{
    m_listeners.erase(std::remove_if(m_listeners.begin(), m_listeners.end(),
                          [&](const Listener& l) { return l.id == id; }),
        m_listeners.end());
    if (m_listeners.empty())
        closeOnLoop(); // the last one out closes the connection
}

void SubscriptionImpl::startOnLoop()
{
    if (m_closed || m_started)
        return;
    m_started = true;
    // No request before the stream: Connecting is reported at once, and the resume point of a
    // fresh subscription comes from the first hello's last_id (see onEvent()).
    m_source->startOnLoop();
}

void SubscriptionImpl::closeOnLoop()
{
    if (m_closed)
        return;
    m_closed = true;
    m_listeners.clear();
    auto& streams = m_core->streams();
    if (auto it = streams.find(m_video); it != streams.end() && it->second.lock().get() == this)
        streams.erase(it);
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
        each([&](const Listener& l) {
            if (c->id > l.resumeAfter && l.sink.onComment)
                l.sink.onComment(*c);
        });
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
        m_hello = *h;
        // Not resumed after asking, or a reconnect with nothing to resume from: comments may
        // have been missed in between.
        const bool missed = (askedResume && !h->resumed) || (!askedResume && m_hellos > 1);
        for (auto& l : m_listeners) {
            // A listener that joined before this stream's first hello but wants comments from
            // further back than the stream resumes from must fetch the difference.
            if (l.checkResume) {
                l.checkResume = false;
                if (l.resumeAfter && l.resumeAfter < resumePoint() && !missed)
                    l.joinedBehind = true;
            }
        }
        each([&](const Listener& l) {
            if (l.sink.onHello)
                l.sink.onHello(*h);
            if (l.sink.onReset && (missed || l.joinedBehind))
                l.sink.onReset(missed ? "not_resumed" : "joined");
        });
        for (auto& l : m_listeners)
            l.joinedBehind = false;
    } else if (e.type == "deleted") {
        auto id = parseDeleted(e.data);
        if (!id)
            return;
        each([&](const Listener& l) {
            if (l.sink.onDeleted)
                l.sink.onDeleted(*id);
        });
    } else if (e.type == "reset") {
        std::string reason = "reset";
        if (auto v = json::parse(e.data)) {
            if (const auto* r = v->find("reason"); r && r->isString())
                reason = r->text();
        }
        each([&](const Listener& l) {
            if (l.sink.onReset)
                l.sink.onReset(reason);
        });
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
        each([&](const Listener& l) {
            if (l.sink.onEnded)
                l.sink.onEnded(*video);
        });
    } else if (e.type == "stats") {
        if (auto v = json::parse(e.data)) {
            if (const auto* n = v->find("viewers")) {
                if (auto count = n->asInt64()) {
                    m_viewers = *count;
                    each([&](const Listener& l) {
                        if (l.sink.onViewers)
                            l.sink.onViewers(*count);
                    });
                }
            }
        }
    }
}

// ---- SubscriptionHandle ----------------------------------------------------------------------

SubscriptionHandle::SubscriptionHandle(std::shared_ptr<ClientCore> core, VideoId video,
    SubscriptionOptions options, SubscriptionCallbacks gatedSink, std::shared_ptr<HandleGate> gate)
    : m_core(std::move(core))
    , m_video(video)
    , m_options(options)
    , m_sink(std::move(gatedSink))
    , m_gate(std::move(gate))
{ }

void SubscriptionHandle::startOnLoop()
{
    if (m_closed)
        return;
    auto stream = SubscriptionImpl::acquireOnLoop(m_core, m_video, m_options);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stream = stream;
    }
    m_listener = stream->addListenerOnLoop(m_sink, m_options.resumeAfter);
    stream->startOnLoop();
}

void SubscriptionHandle::closeOnLoop()
{
    m_closed = true;
    if (auto s = stream(); s && m_listener)
        s->removeListenerOnLoop(std::exchange(m_listener, 0));
}

std::shared_ptr<SubscriptionImpl> SubscriptionHandle::stream() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_stream;
}

StreamStatus SubscriptionHandle::status() const
{
    StreamStatus s;
    if (m_closed) {
        s.state = StreamState::Closed;
        return s;
    }
    auto stream = this->stream();
    return stream ? stream->status() : s;
}

CommentId SubscriptionHandle::lastCommentId() const
{
    auto s = stream();
    return s ? s->lastCommentId() : m_options.resumeAfter;
}

int SubscriptionHandle::connectionAttempts() const
{
    auto s = stream();
    return s ? s->connectionAttempts() : 0;
}

std::int64_t SubscriptionHandle::viewers() const
{
    auto s = stream();
    return s ? s->viewers() : -1;
}

bool SubscriptionHandle::ended() const
{
    auto s = stream();
    return s && s->ended();
}

} // namespace livecomments::detail
