// SPDX-License-Identifier: MIT
// Public API classes: thin, thread-safe fronts that queue commands for the I/O thread.
#include "livecomments/client.h"

#include "client/client_core.h"
#include "client/event_source_impl.h"
#include "client/subscription_impl.h"
#include "client/timeline_impl.h"
#include "client/wire.h"
#include "json/json.h"

#include <algorithm>

namespace livecomments {

using detail::ClientCore;

namespace {
Error closedError()
{
    return Error { ErrorCode::Closed, "client is closed", 0, -1 };
}
Error invalid(std::string what)
{
    return Error { ErrorCode::InvalidArgument, std::move(what), 0, -1 };
}

/// Wraps a user callback so that it runs through the executor and the handle's gate.
template <typename... Args>
std::function<void(Args...)> gated(const std::shared_ptr<ClientCore>& core,
    const std::shared_ptr<detail::HandleGate>& gate, std::function<void(Args...)> cb)
{
    if (!cb)
        return {};
    std::weak_ptr<ClientCore> weak = core;
    return [weak, gate, cb](Args... args) {
        if (auto c = weak.lock())
            c->deliver(gate, [cb, args...] { cb(args...); });
    };
}

/// Registers @p impl with the core and starts it on the loop thread.
template <typename Impl>
bool startHandle(const std::shared_ptr<ClientCore>& core, const std::shared_ptr<Impl>& impl)
{
    return core->post([core, impl] {
        core->registerHandle(impl);
        impl->startOnLoop();
    });
}

/// Silences @p impl's callbacks now and stops it on the loop thread.
template <typename Impl> void closeHandle(const std::shared_ptr<Impl>& impl)
{
    impl->core()->closeGate(*impl->gate());
    impl->core()->post([impl] { impl->closeOnLoop(); });
}

/// Reports @p error to @p onDone later, on the loop thread (never inline in the caller).
template <typename T>
void failLater(
    const std::shared_ptr<ClientCore>& core, std::function<void(Result<T>)> onDone, Error error)
{
    if (onDone)
        core->post(
            [core, onDone, error] { core->deliver(nullptr, [onDone, error] { onDone(error); }); });
}

/// One JSON request: @p okStatus answers are parsed with @p parse, any other is an Error.
template <typename T>
void jsonRequest(const std::shared_ptr<ClientCore>& core, std::string method, std::string path,
    std::string body, std::vector<int> okStatus, std::function<Result<T>(std::string_view)> parse,
    std::function<void(Result<T>)> onDone)
{
    core->post([core, method = std::move(method), path = std::move(path), body = std::move(body),
                   okStatus = std::move(okStatus), parse = std::move(parse), onDone] {
        auto req = core->makeRequest(method, path);
        req.headers.emplace_back("Accept", "application/json");
        if (!body.empty()) {
            req.headers.emplace_back("Content-Type", "application/json");
            req.body = body;
        }
        detail::TransferCallbacks cbs;
        cbs.onDone = [core, okStatus, parse, onDone](detail::TransferResult& r) {
            const bool ok
                = std::find(okStatus.begin(), okStatus.end(), r.response.status) != okStatus.end();
            Result<T> out = r.error ? Result<T>(*r.error)
                : !ok               ? Result<T>(detail::errorFromHttp(r.response))
                                    : parse(r.response.body);
            if (onDone)
                core->deliver(nullptr, [onDone, out] { onDone(out); });
        };
        core->startRequest(std::move(req), std::move(cbs));
    });
}

bool validUrl(const std::string& url)
{
    return (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
        && url.find_first_of(" \r\n\t") == std::string::npos && url.size() > 8;
}

bool validHeader(const std::pair<std::string, std::string>& h)
{
    if (h.first.empty() || h.first.find_first_of(":\r\n \t") != std::string::npos)
        return false;
    return h.second.find_first_of("\r\n") == std::string::npos;
}
} // namespace

const char* logLevelName(LogLevel level) noexcept
{
    switch (level) {
    case LogLevel::Debug:
        return "debug";
    case LogLevel::Info:
        return "info";
    case LogLevel::Warning:
        return "warning";
    case LogLevel::Error:
        return "error";
    }
    return "error";
}

// ---- Client ----------------------------------------------------------------------------------

Client::Client(std::shared_ptr<ClientCore> core)
    : m_core(std::move(core))
{ }

Client::~Client()
{
    m_core->shutdown();
}

Result<std::unique_ptr<Client>> Client::create(ClientConfig config)
{
    auto core = ClientCore::create(std::move(config));
    if (!core)
        return core.error();
    return std::unique_ptr<Client>(new Client(std::move(*core)));
}

void Client::close()
{
    m_core->shutdown();
}

void Client::suspend()
{
    auto core = m_core;
    core->post([core] { core->suspendOnLoop(); });
}

void Client::resume()
{
    auto core = m_core;
    core->post([core] { core->resumeOnLoop(); });
}

void Client::networkChanged()
{
    auto core = m_core;
    core->post([core] { core->reconnectNowOnLoop(); });
}

void Client::reconnectNow()
{
    networkChanged();
}

std::int64_t Client::requestCount() const
{
    return m_core->loop().requestCount();
}

Result<std::unique_ptr<Subscription>> Client::subscribe(
    VideoId videoId, SubscriptionCallbacks callbacks, SubscriptionOptions options)
{
    if (m_core->closed())
        return closedError();
    if (videoId <= 0)
        return invalid("video id must be positive");
    auto gate = std::make_shared<detail::HandleGate>();
    SubscriptionCallbacks sink;
    sink.onStatus = gated(m_core, gate, std::move(callbacks.onStatus));
    sink.onHello = gated(m_core, gate, std::move(callbacks.onHello));
    sink.onComment = gated(m_core, gate, std::move(callbacks.onComment));
    sink.onDeleted = gated(m_core, gate, std::move(callbacks.onDeleted));
    sink.onReset = gated(m_core, gate, std::move(callbacks.onReset));
    sink.onViewers = gated(m_core, gate, std::move(callbacks.onViewers));
    sink.onEnded = gated(m_core, gate, std::move(callbacks.onEnded));
    // One listener of the video's shared stream (opened with the first, closed with the last).
    auto impl = std::make_shared<detail::SubscriptionHandle>(
        m_core, videoId, options, std::move(sink), gate);
    if (!startHandle(m_core, impl))
        return closedError();
    return std::unique_ptr<Subscription>(new Subscription(impl));
}

Result<std::unique_ptr<EventSource>> Client::openEventSource(
    EventSourceRequest request, EventSourceCallbacks callbacks)
{
    if (m_core->closed())
        return closedError();
    if (!validUrl(request.url))
        return invalid("event source URL must be an absolute http(s) URL");
    if (request.method != "GET" && request.method != "PUT" && request.method != "POST")
        return invalid("event source method must be GET, PUT or POST");
    for (const auto& h : request.headers) {
        if (!validHeader(h))
            return invalid("invalid request header '" + h.first + "'");
    }
    if (request.lastEventId.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
        return invalid("last event id must not contain CR, LF or NUL");
    auto gate = std::make_shared<detail::HandleGate>();
    detail::EventSourceSink sink;
    sink.onEvent = gated(m_core, gate, std::move(callbacks.onEvent));
    sink.onStatus = gated(m_core, gate, std::move(callbacks.onStatus));
    auto impl
        = std::make_shared<detail::EventSourceImpl>(m_core, std::move(request), std::move(sink));
    impl->setGate(gate);
    if (!startHandle(m_core, impl))
        return closedError();
    return std::unique_ptr<EventSource>(new EventSource(impl));
}

Result<std::unique_ptr<Timeline>> Client::openTimeline(
    VideoId videoId, TimelineCallbacks callbacks, TimelineOptions options)
{
    if (m_core->closed())
        return closedError();
    if (videoId <= 0)
        return invalid("video id must be positive");
    if (options.pageSize < 1 || options.pageSize > 200)
        return invalid("pageSize must be 1..200");
    auto impl
        = std::make_shared<detail::TimelineImpl>(m_core, videoId, options, std::move(callbacks));
    if (!startHandle(m_core, impl))
        return closedError();
    return std::unique_ptr<Timeline>(new Timeline(impl));
}

Result<std::string> Client::post(
    VideoId videoId, std::string text, std::function<void(const OutboxEntry&)> onUpdate)
{
    return m_core->enqueuePost(videoId, std::move(text), std::move(onUpdate));
}

void Client::cancelPost(const std::string& key)
{
    m_core->cancelPost(key);
}

std::vector<OutboxEntry> Client::pendingPosts() const
{
    return m_core->pendingPosts();
}

void Client::fetchHistory(
    VideoId videoId, HistoryQuery query, std::function<void(Result<HistoryPage>)> onDone)
{
    auto core = m_core;
    auto fail = [core, onDone](Error e) {
        if (onDone)
            core->post([core, onDone, e] { core->deliver(nullptr, [onDone, e] { onDone(e); }); });
    };
    if (videoId <= 0)
        return fail(invalid("video id must be positive"));
    if (query.before && query.after)
        return fail(invalid("before and after are mutually exclusive"));
    if (query.limit < 1 || query.limit > 200)
        return fail(invalid("limit must be 1..200"));
    for (const auto* c : { &query.before, &query.after }) {
        if (*c && !parseCommentId(**c))
            return fail(invalid("cursor must be a comment id"));
    }
    core->post([core, videoId, query, onDone] {
        core->fetchHistoryOnLoop(videoId, query, [core, videoId, onDone](Result<HistoryPage> r) {
            if (r && core->cache())
                core->cache()->storeComments(videoId, r->comments);
            if (onDone)
                core->deliver(nullptr, [onDone, r] { onDone(r); });
        });
    });
}

void Client::fetchVideo(VideoId videoId, std::function<void(Result<Video>)> onDone)
{
    if (videoId <= 0)
        return failLater(m_core, std::move(onDone), invalid("video id must be positive"));
    jsonRequest<Video>(m_core, "GET", "/videos/" + std::to_string(videoId), {}, { 200 },
        detail::parseVideo, std::move(onDone));
}

void Client::createVideo(std::string title, std::function<void(Result<Video>)> onDone)
{
    jsonRequest<Video>(m_core, "POST", "/videos", "{\"title\":" + json::quoted(title) + "}",
        { 200, 201 }, detail::parseVideo, std::move(onDone));
}

void Client::endVideo(VideoId videoId, std::function<void(Result<Video>)> onDone)
{
    if (videoId <= 0)
        return failLater(m_core, std::move(onDone), invalid("video id must be positive"));
    jsonRequest<Video>(m_core, "POST", "/videos/" + std::to_string(videoId) + "/end", "{}", { 200 },
        detail::parseVideo, std::move(onDone));
}

void Client::listVideos(VideoQuery query, std::function<void(Result<std::vector<Video>>)> onDone)
{
    if (query.status != "live" && query.status != "ended" && query.status != "all")
        return failLater(m_core, std::move(onDone), invalid("status must be live, ended or all"));
    if (query.limit < 1 || query.limit > 100)
        return failLater(m_core, std::move(onDone), invalid("limit must be 1..100"));
    jsonRequest<std::vector<Video>>(m_core, "GET",
        "/videos?status=" + query.status + "&limit=" + std::to_string(query.limit), {}, { 200 },
        detail::parseVideoList, std::move(onDone));
}

void Client::deleteComment(
    VideoId videoId, CommentId commentId, std::function<void(Result<void>)> onDone)
{
    if (videoId <= 0 || commentId == 0)
        return failLater(
            m_core, std::move(onDone), invalid("video and comment ids must be positive"));
    jsonRequest<void>(
        m_core, "DELETE",
        "/videos/" + std::to_string(videoId) + "/comments/" + std::to_string(commentId), {},
        { 200, 204 }, [](std::string_view) { return Result<void>(); }, std::move(onDone));
}

// ---- Subscription ----------------------------------------------------------------------------

Subscription::Subscription(std::shared_ptr<detail::SubscriptionHandle> impl)
    : m_impl(std::move(impl))
{ }

Subscription::~Subscription()
{
    close();
}

void Subscription::close()
{
    closeHandle(m_impl);
}

StreamStatus Subscription::status() const
{
    return m_impl->status();
}
VideoId Subscription::videoId() const
{
    return m_impl->videoId();
}
CommentId Subscription::lastCommentId() const
{
    return m_impl->lastCommentId();
}
int Subscription::connectionAttempts() const
{
    return m_impl->connectionAttempts();
}
std::int64_t Subscription::viewers() const
{
    return m_impl->viewers();
}
bool Subscription::ended() const
{
    return m_impl->ended();
}

// ---- EventSource -----------------------------------------------------------------------------

EventSource::EventSource(std::shared_ptr<detail::EventSourceImpl> impl)
    : m_impl(std::move(impl))
{ }

EventSource::~EventSource()
{
    close();
}

void EventSource::close()
{
    closeHandle(m_impl);
}

StreamStatus EventSource::status() const
{
    return m_impl->status();
}
std::string EventSource::lastEventId() const
{
    return m_impl->lastEventId();
}
int EventSource::connectionAttempts() const
{
    return m_impl->connectionAttempts();
}

// ---- Timeline --------------------------------------------------------------------------------

Timeline::Timeline(std::shared_ptr<detail::TimelineImpl> impl)
    : m_impl(std::move(impl))
{ }

Timeline::~Timeline()
{
    close();
}

void Timeline::close()
{
    closeHandle(m_impl);
}

void Timeline::loadOlder()
{
    auto impl = m_impl;
    impl->core()->post([impl] { impl->loadOlderOnLoop(); });
}

void Timeline::loadOlder(std::function<void(Result<std::size_t>)> onDone)
{
    auto impl = m_impl;
    impl->core()->post(
        [impl, onDone = std::move(onDone)]() mutable { impl->loadOlderOnLoop(std::move(onDone)); });
}

void Timeline::setReaderPosition(std::size_t index)
{
    auto impl = m_impl;
    impl->core()->post([impl, index] { impl->setReaderIndexOnLoop(index); });
}

void Timeline::setReaderPositionById(CommentId id)
{
    auto impl = m_impl;
    impl->core()->post([impl, id] { impl->setReaderIdOnLoop(id); });
}

Result<std::string> Timeline::post(
    std::string text, std::function<void(const OutboxEntry&)> onUpdate)
{
    if (!m_impl->gate()->open)
        return closedError();
    return m_impl->core()->enqueuePost(m_impl->videoId(), std::move(text), std::move(onUpdate));
}

VideoId Timeline::videoId() const
{
    return m_impl->videoId();
}
std::vector<Comment> Timeline::snapshot() const
{
    return m_impl->snapshot();
}
std::size_t Timeline::size() const
{
    return m_impl->size();
}
TimelineStatus Timeline::status() const
{
    return m_impl->status();
}
int Timeline::networkPageRequests() const
{
    return m_impl->networkPageRequests();
}

} // namespace livecomments
