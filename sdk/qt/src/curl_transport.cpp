// SPDX-License-Identifier: MIT
#include "curl_transport.h"

#include <QMetaObject>
#include <QPointer>

namespace livecomments::qt {

namespace {
QString qs(const std::string& s)
{
    return QString::fromStdString(s);
}
} // namespace

CurlTransport::CurlTransport(QObject* parent)
    : Transport(parent)
{ }

CurlTransport::~CurlTransport()
{
    // Order matters: the subscription, then the Client (joins the I/O thread). After this no
    // executor task can be posted to this object.
    m_subscription.reset();
    m_client.reset();
}

Comment CurlTransport::toQt(const livecomments::Comment& c)
{
    Comment out;
    out.id = c.id;
    out.videoId = c.videoId;
    out.userId = qs(c.user.id);
    out.userName = qs(c.user.name);
    out.text = qs(c.text);
    out.createdAt = QDateTime::fromString(qs(c.createdAt), Qt::ISODateWithMs);
    return out;
}

Failure CurlTransport::toQt(const livecomments::Error& e)
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

livecomments::Client* CurlTransport::client()
{
    {
        std::lock_guard<std::mutex> lock(m_tokenBox->mutex);
        m_tokenBox->token = m_token.toStdString();
    }
    if (m_client && m_clientServer == m_server)
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
    // Marshal every callback onto this object's thread. invokeMethod with a context object
    // queues a functor call that Qt drops if the object is deleted before it runs.
    config.executor = [self = this](std::function<void()> task) {
        QMetaObject::invokeMethod(self, std::move(task), Qt::QueuedConnection);
    };
    auto created = Client::create(std::move(config));
    if (!created) {
        emit streamError(0, qs(created.error().message), true);
        return nullptr;
    }
    m_client = std::move(created).value();
    m_clientServer = m_server;
    return m_client.get();
}

void CurlTransport::subscribe(qint32 videoId, const QString& lastEventId)
{
    unsubscribe();
    m_videoId = videoId;
    m_lastEventId = lastEventId;
    setEnded(false);
    setState(State::Connecting);
    openSubscription(Comment::parseId(lastEventId));
}

void CurlTransport::openSubscription(CommentId resumeAfter)
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
            break; // Live is declared on `hello`, as the QtNetwork transport does
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

void CurlTransport::unsubscribe()
{
    ++m_generation;
    if (m_subscription) {
        m_subscription->close();
        m_subscription.reset();
    }
    if (state() != State::Closed)
        setState(State::Idle);
}

void CurlTransport::reconnectNow()
{
    // core's Subscription has no "skip the wait"; replacing it resumes from the same point.
    if (!m_subscription || state() != State::Reconnecting)
        return;
    const CommentId resume
        = std::max<CommentId>(m_subscription->lastCommentId(), Comment::parseId(m_lastEventId));
    ++m_generation;
    m_subscription->close();
    m_subscription.reset();
    openSubscription(resume);
}

void CurlTransport::fetchVideo(qint32 videoId, QObject* context,
    std::function<void(const VideoInfo&, const std::optional<Failure>&)> done)
{
    Client* c = client();
    if (!c)
        return;
    QPointer<QObject> guard(context);
    const bool hasContext = context != nullptr;
    c->fetchVideo(videoId, [guard, hasContext, done](Result<Video> r) {
        if (hasContext && !guard)
            return;
        VideoInfo v;
        if (!r) {
            done(v, toQt(r.error()));
            return;
        }
        v.id = r->id;
        v.title = qs(r->title);
        v.streamerName = qs(r->streamer.name);
        v.live = r->status == "live";
        v.viewers = r->viewers;
        v.commentCount = r->commentCount;
        done(v, std::nullopt);
    });
}

void CurlTransport::fetchHistory(qint32 videoId, const QString& before, int limit, QObject* context,
    std::function<void(const HistoryPage&, const std::optional<Failure>&)> done)
{
    Client* c = client();
    if (!c)
        return;
    HistoryQuery query;
    if (!before.isEmpty())
        query.before = before.toStdString();
    query.limit = limit;
    QPointer<QObject> guard(context);
    const bool hasContext = context != nullptr;
    c->fetchHistory(videoId, query, [guard, hasContext, done](Result<livecomments::HistoryPage> r) {
        if (hasContext && !guard)
            return;
        HistoryPage page;
        if (!r) {
            done(page, toQt(r.error()));
            return;
        }
        for (const auto& comment : r->comments)
            page.comments.append(toQt(comment));
        if (r->nextCursor)
            page.nextCursor = qs(*r->nextCursor);
        done(page, std::nullopt);
    });
}

QString CurlTransport::post(qint32 videoId, const QString& text, QObject* context,
    std::function<void(const PostUpdate&)> update)
{
    Client* c = client();
    if (!c)
        return {};
    QPointer<QObject> guard(context);
    const bool hasContext = context != nullptr;
    auto key
        = c->post(videoId, text.toStdString(), [guard, hasContext, update](const OutboxEntry& e) {
              if (hasContext && !guard)
                  return;
              PostUpdate u;
              u.key = qs(e.key);
              u.attempts = e.attempts;
              u.state = e.state == PostState::Sent ? PostUpdate::State::Sent
                  : e.state == PostState::Failed   ? PostUpdate::State::Failed
                                                   : PostUpdate::State::Pending;
              if (e.comment)
                  u.comment = toQt(*e.comment);
              if (e.error)
                  u.error = toQt(*e.error);
              if (update)
                  update(u);
          });
    if (!key) {
        // Rejected at once (e.g. empty text): report Failed asynchronously like other outcomes.
        PostUpdate u;
        u.state = PostUpdate::State::Failed;
        u.error = toQt(key.error());
        QMetaObject::invokeMethod(
            this,
            [guard, hasContext, update, u] {
                if ((!hasContext || guard) && update)
                    update(u);
            },
            Qt::QueuedConnection);
        return {};
    }
    return qs(key.value());
}

} // namespace livecomments::qt
