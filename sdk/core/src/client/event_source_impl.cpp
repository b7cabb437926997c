// SPDX-License-Identifier: MIT
#include "client/event_source_impl.h"

#include "client/redirect.h"

#include <algorithm>
#include <cctype>

namespace livecomments::detail {

namespace {
bool isEventStream(std::string contentType)
{
    for (auto& c : contentType)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto semi = contentType.find(';');
    if (semi != std::string::npos)
        contentType.resize(semi);
    while (!contentType.empty() && contentType.back() == ' ')
        contentType.pop_back();
    return contentType == "text/event-stream";
}
} // namespace

EventSourceImpl::EventSourceImpl(
    std::shared_ptr<ClientCore> core, EventSourceRequest request, EventSourceSink sink)
    : m_core(std::move(core))
    , m_request(std::move(request))
    , m_sink(std::move(sink))
    , m_parser(SseParser::Callbacks { [this](const SseEvent& e) {
                                         if (!m_closed && m_sink.onEvent)
                                             m_sink.onEvent(e);
                                     },
          [this](std::chrono::milliseconds ms) { m_backoff.setBase(ms); }, {} })
    , m_backoff([&] {
        Backoff::Options o = m_request.backoff;
        o.initial = m_request.initialRetry;
        return o;
    }())
{
    m_parser.setLastEventId(m_request.lastEventId);
    m_lastEventIdSnapshot = m_request.lastEventId;
}

StreamStatus EventSourceImpl::status() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_core->closed() && m_status.state != StreamState::Closed) {
        StreamStatus s;
        s.state = StreamState::Closed;
        s.error = Error { ErrorCode::Closed, "client closed", 0, -1 };
        return s;
    }
    return m_status;
}

std::string EventSourceImpl::lastEventId() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_lastEventIdSnapshot;
}

int EventSourceImpl::connectionAttempts() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_attempts;
}

void EventSourceImpl::setStatus(StreamStatus s)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_status = s;
    }
    if (m_sink.onStatus)
        m_sink.onStatus(s);
}

void EventSourceImpl::startOnLoop()
{
    if (m_core->suspended()) {
        // Opened while the app is in the background: it connects on resume().
        m_suspended = true;
        StreamStatus s;
        s.state = StreamState::Reconnecting;
        s.suspended = true;
        s.error = Error { ErrorCode::Closed, "suspended", 0, -1 };
        setStatus(std::move(s));
        return;
    }
    StreamStatus s;
    s.state = StreamState::Connecting;
    setStatus(s);
    connect();
}

void EventSourceImpl::setIdleTimeoutOnLoop(std::chrono::milliseconds idle)
{
    m_request.idleTimeout = idle;
    armWatchdog();
}

void EventSourceImpl::setLastEventIdOnLoop(const std::string& id)
{
    m_parser.setLastEventId(id);
    std::lock_guard<std::mutex> lock(m_mutex);
    m_lastEventIdSnapshot = id;
}

void EventSourceImpl::armWatchdog()
{
    if (m_watchdog)
        m_core->loop().cancelTimer(m_watchdog);
    m_watchdog = 0;
    if (m_closed || !m_transfer)
        return;
    // Before the response head the request timeout applies; once live, the heartbeat timeout.
    const auto limit = m_live ? m_request.idleTimeout : m_core->config().requestTimeout;
    if (limit.count() <= 0)
        return;
    const auto tick = std::max(std::chrono::milliseconds(20), limit / 5);
    auto weak = weak_from_this();
    m_watchdog = m_core->loop().addTimer(tick, [weak, limit] {
        auto self = weak.lock();
        if (!self)
            return;
        self->m_watchdog = 0;
        if (self->m_closed || !self->m_transfer)
            return;
        const auto silent = Clock::now() - self->m_lastByte;
        if (silent > limit) {
            self->failAndReconnectOnLoop(Error { ErrorCode::Timeout,
                "no data for "
                    + std::to_string(
                        std::chrono::duration_cast<std::chrono::milliseconds>(silent).count())
                    + " ms",
                0, -1 });
            return;
        }
        self->armWatchdog();
    });
}

void EventSourceImpl::connect()
{
    m_retryTimer = 0;
    // Every new attempt starts at the configured URL; redirects are followed per connection.
    m_hopTrail.clear();
    m_hops = 0;
    connectHop();
}

void EventSourceImpl::connectHop()
{
    if (m_closed || m_suspended || m_core->closed())
        return;
    m_failure.reset();
    m_redirect.reset();
    m_refreshFor.reset();
    m_live = false;
    HttpRequest req;
    req.method = m_request.method;
    req.url = m_request.url;
    req.stream = true;
    req.connectTimeout = m_core->config().connectTimeout;
    req.userAgent = m_core->config().userAgent;
    req.tls = m_core->config().tls;
    req.headers.emplace_back("Accept", "text/event-stream");
    req.headers.emplace_back("Cache-Control", "no-cache");
    for (const auto& h : m_request.headers)
        req.headers.push_back(h);
    // WHATWG: the last event id persists across reconnects; an empty one sends no header.
    if (!m_parser.lastEventId().empty())
        req.headers.emplace_back("Last-Event-ID", m_parser.lastEventId());
    if (m_request.sendAuthorization) {
        const std::string t = m_core->token();
        if (!t.empty() && t.find_first_of("\r\n") == std::string::npos)
            req.headers.emplace_back("Authorization", "Bearer " + t);
    }
    // Replay this connection's redirects (target, method rewrite, credentials dropped on a
    // cross-origin hop) on the fresh request, which carries the current Last-Event-ID.
    for (const auto& [status, target] : m_hopTrail)
        applyRedirect(req, status, target);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        ++m_attempts;
    }
    auto weak = weak_from_this();
    auto transferId = std::make_shared<TransferId>(0);
    TransferCallbacks cbs;
    cbs.onHead = [weak, transferId](const HttpResponse& resp) {
        auto self = weak.lock();
        if (!self || self->m_closed || self->m_transfer != *transferId)
            return false;
        if (isRedirectStatus(resp.status)) {
            const std::string from
                = self->m_hopTrail.empty() ? self->m_request.url : self->m_hopTrail.back().second;
            if (auto target = redirectTarget(from, resp); target && self->m_hops < kMaxRedirects) {
                self->m_core->log(LogLevel::Debug,
                    "stream redirect " + std::to_string(resp.status) + ": " + from + " -> "
                        + *target);
                self->m_redirect = std::make_pair(resp.status, *target);
                return false;
            }
            self->m_failure = Error { ErrorCode::HttpError,
                self->m_hops >= kMaxRedirects
                    ? "more than " + std::to_string(kMaxRedirects) + " redirects"
                    : "redirect without a usable Location",
                resp.status, -1 };
            return false;
        }
        if (resp.status == 401 && self->m_request.sendAuthorization && !self->m_refreshTried
            && self->m_core->canRefreshToken()) {
            // One refresh-and-retry (ClientConfig::tokenRefresher) before giving up.
            self->m_refreshFor = errorFromHttp(resp);
            return false;
        }
        if (resp.status == 200 && isEventStream(resp.contentType())) {
            self->m_refreshTried = false;
            self->m_live = true;
            self->m_lastByte = Clock::now();
            self->m_backoff.onConnected(self->m_lastByte);
            StreamStatus s;
            s.state = StreamState::Live;
            self->m_core->log(LogLevel::Info, "stream live: " + self->m_request.url);
            self->setStatus(s);
            self->m_core->serverReachable();
            self->armWatchdog();
            return true;
        }
        if (resp.status == 204) {
            self->m_failure = Error { ErrorCode::HttpError,
                "HTTP 204: the server ended the stream for good", 204, -1 };
        } else if (resp.status == 200) {
            self->m_failure = Error { ErrorCode::Protocol,
                "unexpected content type '" + resp.contentType() + "'", 200, -1 };
        } else {
            self->m_failure = errorFromHttp(resp);
        }
        return false;
    };
    cbs.onData = [weak, transferId](std::string_view bytes) {
        auto self = weak.lock();
        if (!self || self->m_closed || self->m_transfer != *transferId)
            return false;
        self->m_lastByte = Clock::now();
        if (!self->m_parser.feed(bytes)) {
            self->m_failure
                = Error { ErrorCode::Protocol, "event larger than the parser's limit", 0, -1 };
            return false;
        }
        {
            std::lock_guard<std::mutex> lock(self->m_mutex);
            self->m_lastEventIdSnapshot = self->m_parser.lastEventId();
        }
        // The sink may have dropped this connection while parsing (e.g. a bad hello).
        return !self->m_closed && self->m_transfer == *transferId;
    };
    cbs.onDone = [weak, transferId](TransferResult& r) {
        auto self = weak.lock();
        if (!self || self->m_closed || self->m_transfer != *transferId)
            return;
        self->m_transfer = 0;
        self->m_parser.endOfStream();
        if (self->m_refreshFor) {
            const Error why = *self->m_refreshFor;
            self->m_refreshFor.reset();
            self->m_refreshTried = true;
            self->m_core->refreshToken([weak, why](bool ok) {
                auto self = weak.lock();
                if (!self || self->m_closed)
                    return;
                if (ok)
                    self->connect();
                else
                    self->onConnectionEnded(why);
            });
            return;
        }
        if (self->m_redirect) {
            // The next hop at once: a redirect is no failure (no backoff, no status change).
            self->m_hopTrail.push_back(*self->m_redirect);
            ++self->m_hops;
            self->connectHop();
            return;
        }
        Error why;
        if (self->m_failure)
            why = *self->m_failure;
        else if (r.error)
            why = *r.error;
        else if (self->m_live)
            why = Error { ErrorCode::Network, "stream ended by the server", 0, -1 };
        else
            why = errorFromHttp(r.response);
        self->onConnectionEnded(why);
    };
    m_transfer = m_core->loop().startTransfer(std::move(req), std::move(cbs));
    *transferId = m_transfer;
    m_lastByte = Clock::now();
    armWatchdog();
}

void EventSourceImpl::dropConnection()
{
    if (m_transfer) {
        m_core->loop().cancelTransfer(m_transfer);
        m_transfer = 0;
        m_parser.endOfStream();
    }
    if (m_retryTimer)
        m_core->loop().cancelTimer(m_retryTimer);
    if (m_watchdog)
        m_core->loop().cancelTimer(m_watchdog);
    m_retryTimer = m_watchdog = 0;
    if (m_live)
        m_backoff.onDisconnected(Clock::now());
    m_live = false;
}

void EventSourceImpl::suspendOnLoop()
{
    if (m_closed || m_suspended)
        return;
    m_suspended = true;
    dropConnection();
    StreamStatus s;
    s.state = StreamState::Reconnecting;
    s.suspended = true;
    s.error = Error { ErrorCode::Closed, "suspended", 0, -1 };
    setStatus(std::move(s));
}

void EventSourceImpl::resumeOnLoop()
{
    if (m_closed || !m_suspended)
        return;
    m_suspended = false;
    // The kept Last-Event-ID resumes the stream; no backoff wait after a deliberate pause.
    m_backoff.reset();
    connect();
}

void EventSourceImpl::reconnectNowOnLoop()
{
    if (m_closed || m_suspended)
        return;
    // The network changed: the current socket (even a live one) may be bound to a dead
    // interface and a waiting retry waits for nothing. Start over now.
    dropConnection();
    m_backoff.reset();
    connect();
}

void EventSourceImpl::failAndReconnectOnLoop(Error why)
{
    if (m_closed)
        return;
    if (m_transfer) {
        m_core->loop().cancelTransfer(m_transfer);
        m_transfer = 0;
        m_parser.endOfStream();
    }
    onConnectionEnded(std::move(why));
}

void EventSourceImpl::onConnectionEnded(Error why)
{
    if (m_closed)
        return;
    if (m_watchdog)
        m_core->loop().cancelTimer(m_watchdog);
    m_watchdog = 0;
    if (m_live)
        m_backoff.onDisconnected(Clock::now());
    m_live = false;
    if (!why.isRecoverable()) {
        m_core->log(LogLevel::Error, "stream " + m_request.url + " closed: " + why.message);
        closeOnLoop(std::move(why));
        return;
    }
    if (m_lastConnection) {
        closeOnLoop();
        return;
    }
    auto delay = m_backoff.nextDelay();
    if (why.retryAfterMs > delay.count())
        delay = std::chrono::milliseconds(why.retryAfterMs);
    StreamStatus s;
    s.state = StreamState::Reconnecting;
    s.attempt = m_backoff.attempt();
    s.delay = delay;
    m_core->log(LogLevel::Warning,
        "stream " + m_request.url + " ended (" + why.message + "); reconnecting in "
            + std::to_string(delay.count()) + " ms");
    s.error = std::move(why);
    auto weak = weak_from_this();
    m_retryTimer = m_core->loop().addTimer(delay, [weak] {
        if (auto self = weak.lock())
            self->connect();
    });
    setStatus(std::move(s));
}

void EventSourceImpl::closeOnLoop(std::optional<Error> error)
{
    if (m_closed)
        return;
    m_closed = true;
    if (m_transfer)
        m_core->loop().cancelTransfer(m_transfer);
    if (m_retryTimer)
        m_core->loop().cancelTimer(m_retryTimer);
    if (m_watchdog)
        m_core->loop().cancelTimer(m_watchdog);
    m_transfer = m_retryTimer = m_watchdog = 0;
    StreamStatus s;
    s.state = StreamState::Closed;
    s.error = std::move(error);
    setStatus(std::move(s));
}

} // namespace livecomments::detail
