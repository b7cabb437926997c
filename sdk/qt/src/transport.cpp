// SPDX-License-Identifier: MIT
#include "livecomments/qt/transport.h"

#include "livecomments/qt/qt_network_backend.h"

#include <QMetaObject>
#include <QPointer>

namespace livecomments::qt {

namespace {
QString qs(const std::string& s)
{
    return QString::fromStdString(s);
}

/// Runs @p fn unless @p guard was given and is gone (callbacks of an abandoned request).
template <typename Fn> auto guarded(QObject* context, Fn fn)
{
    return [guard = QPointer<QObject>(context), hasContext = context != nullptr,
               fn = std::move(fn)](const auto& value) {
        if (hasContext && !guard)
            return;
        if (fn)
            fn(value);
    };
}
} // namespace

Failure Failure::fromCore(const livecomments::Error& e)
{
    Failure f;
    f.httpStatus = e.httpStatus;
    const std::string_view code = livecomments::errorCodeName(e.code);
    f.code = QString::fromLatin1(code.data(), static_cast<qsizetype>(code.size()));
    f.message = qs(e.message);
    f.retryAfterMs = static_cast<int>(e.retryAfterMs);
    f.recoverable = e.isRecoverable();
    return f;
}

Transport::Transport(Kind kind, QObject* parent)
    : QObject(parent)
    , m_kind(kind)
{ }

std::unique_ptr<Transport> Transport::create(Kind kind, QObject* parent)
{
    return std::make_unique<Transport>(kind, parent);
}

Transport::~Transport()
{
    // Order matters: the subscription, then the Client (joins the I/O thread). After this no
    // executor task can be posted to this object.
    m_subscription.reset();
    m_client.reset();
}

void Transport::setToken(const QByteArray& token)
{
    m_token = token;
    std::lock_guard<std::mutex> lock(m_tokenBox->mutex);
    m_tokenBox->token = token.toStdString();
}

void Transport::setState(State state, int attempt, int delayMs)
{
    if (state == m_state && attempt == m_attempt && delayMs == m_delayMs)
        return;
    m_state = state;
    m_attempt = attempt;
    m_delayMs = delayMs;
    emit stateChanged();
}

void Transport::setEnded(bool ended)
{
    if (ended == m_ended)
        return;
    m_ended = ended;
    if (ended)
        emit videoEnded();
}

livecomments::Client* Transport::client()
{
    if (m_client && m_clientServer == m_server && m_clientCache == m_cachePath)
        return m_client.get();
    m_subscription.reset();
    m_client.reset();
    ClientConfig config;
    config.baseUrl = m_server.toString(QUrl::StripTrailingSlash).toStdString();
    config.tokenProvider = [box = m_tokenBox] {
        std::lock_guard<std::mutex> lock(box->mutex);
        return box->token;
    };
    config.userAgent = "livecomments-qt/0.1";
    config.cache.path = m_cachePath.toStdString();
    if (m_kind == Kind::QtNetwork)
        config.httpBackend = std::make_shared<QtNetworkBackend>();
    // Marshal every callback onto this object's thread. invokeMethod with a context object
    // queues a functor call that Qt drops if the object is deleted before it runs.
    config.executor = [self = this](std::function<void()> task) {
        QMetaObject::invokeMethod(self, std::move(task), Qt::QueuedConnection);
    };
    if (m_outboxHandler)
        config.onOutbox = m_outboxHandler;
    auto created = Client::create(std::move(config));
    if (!created) {
        emit streamError(0, qs(created.error().message), true);
        return nullptr;
    }
    m_client = std::move(created).value();
    m_clientServer = m_server;
    m_clientCache = m_cachePath;
    return m_client.get();
}

void Transport::subscribe(qint32 videoId, const QString& lastEventId)
{
    unsubscribe();
    m_videoId = videoId;
    m_lastEventId = lastEventId;
    setEnded(false);
    setState(State::Connecting);
    openSubscription(Comment::parseId(lastEventId));
}

void Transport::openSubscription(CommentId resumeAfter)
{
    Client* c = client();
    if (!c) {
        setState(State::Closed);
        return;
    }
    const quint64 generation = ++m_generation;
    // Each callback checks the generation: a subscription replaced by reconnectNow() may still
    // have tasks queued in the event loop.
    auto current = [this, generation] { return generation == m_generation; };
    SubscriptionCallbacks cb;
    cb.onStatus = [this, current](const StreamStatus& s) {
        if (!current())
            return;
        if (s.error && s.error->httpStatus != 0)
            m_lastStatus = s.error->httpStatus;
        switch (s.state) {
        case StreamState::Connecting:
            if (state() != State::Reconnecting)
                setState(State::Connecting);
            break;
        case StreamState::Live:
            m_lastStatus = 200;
            break; // Live is declared on `hello`
        case StreamState::Reconnecting:
            if (s.error)
                emit streamError(s.error->httpStatus, qs(s.error->message), false);
            setState(State::Reconnecting, s.attempt, static_cast<int>(s.delay.count()));
            break;
        case StreamState::Closed:
            if (s.error) {
                emit streamError(s.error->httpStatus, qs(s.error->message), true);
                setState(State::Closed);
            } else if (ended()) {
                setState(State::Closed); // the stream of an ended video dropped: not reopened
            }
            break;
        }
    };
    cb.onHello = [this, current](const Hello& h) {
        if (!current())
            return;
        ++m_connections;
        setState(State::Live);
        emit hello(h.resumed, static_cast<int>(h.heartbeatMs));
    };
    cb.onComment = [this, current](const livecomments::Comment& comment) {
        if (!current())
            return;
        m_lastEventId = QString::number(comment.id);
        emit commentReceived(toQt(comment));
    };
    cb.onDeleted = [this, current](CommentId id) {
        if (current())
            emit commentDeleted(id);
    };
    cb.onReset = [this, current](const std::string& reason) {
        if (current())
            emit resetReceived(qs(reason));
    };
    cb.onViewers = [this, current](std::int64_t viewers) {
        if (current())
            emit statsReceived(static_cast<int>(viewers));
    };
    cb.onEnded = [this, current](VideoId) {
        if (current())
            setEnded(true);
    };
    SubscriptionOptions options;
    options.resumeAfter = resumeAfter;
    auto sub = c->subscribe(m_videoId, std::move(cb), options);
    if (!sub) {
        emit streamError(sub.error().httpStatus, qs(sub.error().message), true);
        setState(State::Closed);
        return;
    }
    m_subscription = std::move(sub).value();
}

void Transport::unsubscribe()
{
    ++m_generation;
    if (m_subscription) {
        m_subscription->close();
        m_subscription.reset();
    }
    if (state() != State::Closed)
        setState(State::Idle);
}

void Transport::reconnectNow()
{
    // One immediate reopen at the core's resume point (not a loop: the core's Subscription
    // reconnects from then on).
    if (!m_subscription || state() != State::Reconnecting)
        return;
    const CommentId resume
        = std::max<CommentId>(m_subscription->lastCommentId(), Comment::parseId(m_lastEventId));
    ++m_generation;
    m_subscription->close();
    m_subscription.reset();
    openSubscription(resume);
}

void Transport::fetchVideo(qint32 videoId, QObject* context,
    std::function<void(const livecomments::Result<livecomments::Video>&)> done)
{
    if (Client* c = client())
        c->fetchVideo(videoId, guarded(context, std::move(done)));
}

void Transport::fetchHistory(qint32 videoId, const QString& before, int limit, QObject* context,
    std::function<void(const livecomments::Result<livecomments::HistoryPage>&)> done)
{
    Client* c = client();
    if (!c)
        return;
    HistoryQuery query;
    if (!before.isEmpty())
        query.before = before.toStdString();
    query.limit = limit;
    c->fetchHistory(videoId, query, guarded(context, std::move(done)));
}

QString Transport::post(qint32 videoId, const QString& text, QObject* context,
    std::function<void(const livecomments::OutboxEntry&)> update)
{
    Client* c = client();
    if (!c)
        return {};
    auto onUpdate = guarded(context, update);
    auto key = c->post(videoId, text.toStdString(), onUpdate);
    if (!key) {
        // Rejected at once (e.g. empty text): report Failed asynchronously like other outcomes.
        OutboxEntry e;
        e.videoId = videoId;
        e.text = text.toStdString();
        e.state = PostState::Failed;
        e.error = key.error();
        QMetaObject::invokeMethod(
            this, [onUpdate, e] { onUpdate(e); }, Qt::QueuedConnection);
        return {};
    }
    return qs(key.value());
}

} // namespace livecomments::qt
