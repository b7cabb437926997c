// SPDX-License-Identifier: MIT
#include "qt_network_transport.h"

#include <livecomments/error.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QUuid>

#include <chrono>

namespace livecomments::qt {

namespace {
constexpr qint64 kDecompressionLimit = 16 * 1024 * 1024;
constexpr int kRequestTimeoutMs = 30000;
/// Watchdog before the first `hello` tells the real heartbeat interval.
constexpr int kDefaultHeartbeatMs = 15000;
} // namespace

QtNetworkTransport::QtNetworkTransport(QObject* parent)
    : Transport(parent)
{
    m_reconnectTimer.setSingleShot(true);
    m_watchdog.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &QtNetworkTransport::openStream);
    connect(&m_watchdog, &QTimer::timeout, this, [this] {
        // Nothing, not even `: hb`, for 2.5 heartbeats: the connection is dead even if TCP has
        // not noticed (docs/protocol.md "The event stream"). Drop it and reconnect.
        if (!m_stream)
            return;
        emit streamError(0, QStringLiteral("heartbeat timeout"), false);
        closeStream();
        scheduleReconnect();
    });
    connect(this, &Transport::hello, this, [this](bool, int heartbeatMs) {
        m_heartbeatMs = heartbeatMs > 0 ? heartbeatMs : kDefaultHeartbeatMs;
        m_backoff.onConnected(std::chrono::steady_clock::now());
        armWatchdog();
    });
}

QtNetworkTransport::~QtNetworkTransport()
{
    m_subscribed = false;
    closeStream();
    // Pending requests die with m_nam; their callbacks must not run into a half-destroyed object.
    const auto replies = m_nam.findChildren<QNetworkReply*>();
    for (QNetworkReply* reply : replies) {
        reply->disconnect(this);
        reply->abort();
    }
}

void QtNetworkTransport::subscribe(qint32 videoId, const QString& lastEventId)
{
    unsubscribe();
    m_videoId = videoId;
    m_subscribed = true;
    m_fatal = false;
    m_heartbeatMs = kDefaultHeartbeatMs;
    m_backoff.reset();
    resetDedupe();
    setEnded(false);
    SseParser::Callbacks callbacks;
    callbacks.onEvent = [this](const SseEvent& event) { dispatchEvent(event); };
    callbacks.onRetry = [this](std::chrono::milliseconds ms) { m_backoff.setBase(ms); };
    m_parser = std::make_unique<SseParser>(std::move(callbacks));
    m_lastEventId = lastEventId;
    if (!lastEventId.isEmpty())
        m_parser->setLastEventId(lastEventId.toStdString());
    setState(State::Connecting);
    openStream();
}

void QtNetworkTransport::unsubscribe()
{
    m_subscribed = false;
    m_reconnectTimer.stop();
    closeStream();
    if (state() != State::Closed)
        setState(State::Idle);
}

void QtNetworkTransport::reconnectNow()
{
    if (!m_subscribed || m_fatal)
        return;
    if (m_reconnectTimer.isActive()) {
        m_reconnectTimer.stop();
        openStream();
    }
}

void QtNetworkTransport::closeStream()
{
    m_watchdog.stop();
    if (QNetworkReply* reply = m_stream.data()) {
        m_stream.clear();
        // Disconnect first: an intentional abort emits finished(), which must not look like a
        // dropped stream and schedule a reconnect.
        reply->disconnect(this);
        // Deferred: closeStream() may run inside one of the reply's own signals (metaDataChanged),
        // where an immediate abort() re-enters QNetworkReply's error handling.
        QMetaObject::invokeMethod(reply, &QNetworkReply::abort, Qt::QueuedConnection);
        reply->deleteLater();
        if (m_parser)
            m_parser->endOfStream();
    }
}

void QtNetworkTransport::openStream()
{
    if (!m_subscribed)
        return;
    closeStream();
    QNetworkRequest req(streamUrl(m_videoId));
    req.setRawHeader("Accept", "text/event-stream");
    req.setRawHeader("Cache-Control", "no-cache");
    // No compression on a stream: a gzip layer would buffer events.
    req.setRawHeader("Accept-Encoding", "identity");
    if (!m_token.isEmpty())
        req.setRawHeader("Authorization", "Bearer " + m_token);
    const std::string& last = m_parser->lastEventId();
    if (!last.empty())
        req.setRawHeader("Last-Event-ID", QByteArray::fromStdString(last));
    // Long-lived streams have stalled on Qt 6's HTTP/2; SSE needs nothing from it.
    req.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    // A transfer timeout is an idle timeout; the watchdog does that job with the server's
    // heartbeat interval instead.
    req.setTransferTimeout(0);
    req.setAttribute(
        QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::NoLessSafeRedirectPolicy);
    req.setMaximumRedirectsAllowed(5);
    req.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    m_statusChecked = false;
    ++m_connections;
    QNetworkReply* reply = m_nam.get(req);
    // Large read buffer limit 0 = unlimited: we read everything on each readyRead anyway.
    m_stream = reply;
    connect(reply, &QNetworkReply::metaDataChanged, this, &QtNetworkTransport::onStreamMetaData);
    connect(reply, &QIODevice::readyRead, this, &QtNetworkTransport::onStreamReadyRead);
    connect(reply, &QNetworkReply::finished, this, &QtNetworkTransport::onStreamFinished);
    armWatchdog();
}

void QtNetworkTransport::armWatchdog()
{
    m_watchdog.start(m_heartbeatMs * 5 / 2);
}

void QtNetworkTransport::onStreamMetaData()
{
    QNetworkReply* reply = m_stream.data();
    if (!reply || m_statusChecked)
        return;
    const QVariant statusAttr = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (!statusAttr.isValid())
        return;
    const int status = statusAttr.toInt();
    if (status >= 300 && status < 400)
        return; // the redirect is being followed
    m_statusChecked = true;
    m_lastStatus = status;
    const QByteArray type = reply->header(QNetworkRequest::ContentTypeHeader).toByteArray();
    if (status == 200 && type.startsWith("text/event-stream"))
        return;
    // Read the error body before deciding; the finished() handler does the rest.
    const bool fatal = isFatalStatus(status) || (status == 200);
    const int retryAfter = reply->rawHeader("Retry-After").toInt();
    Response r;
    r.status = status;
    r.body = reply->peek(4096);
    const auto failure = failureOf(r);
    emit streamError(status,
        failure ? failure->message
                : QStringLiteral("not an event stream: %1").arg(QString::fromLatin1(type)),
        fatal);
    closeStream();
    if (fatal) {
        m_fatal = true;
        m_subscribed = false;
        setState(State::Closed);
        return;
    }
    scheduleReconnect(retryAfter * 1000);
}

void QtNetworkTransport::onStreamReadyRead()
{
    QNetworkReply* reply = m_stream.data();
    if (!reply)
        return;
    if (!m_statusChecked)
        onStreamMetaData();
    if (m_stream.data() != reply)
        return; // closed by the status check
    armWatchdog();
    // Read everything that arrived: readyRead is not emitted again for bytes left behind.
    const QByteArray bytes = reply->readAll();
    if (bytes.isEmpty())
        return;
    if (!m_parser->feed(std::string_view(bytes.constData(), static_cast<size_t>(bytes.size())))) {
        emit streamError(0, QStringLiteral("event too large"), false);
        closeStream();
        scheduleReconnect();
        return;
    }
    if (m_parser && !m_parser->lastEventId().empty())
        m_lastEventId = QString::fromStdString(m_parser->lastEventId());
}

void QtNetworkTransport::onStreamFinished()
{
    QNetworkReply* reply = m_stream.data();
    if (!reply)
        return;
    if (!m_statusChecked)
        onStreamMetaData();
    if (m_stream.data() != reply)
        return;
    onStreamReadyRead(); // bytes that came with the end
    if (m_stream.data() != reply)
        return;
    const QString why = reply->error() == QNetworkReply::NoError ? QStringLiteral("stream ended")
                                                                 : reply->errorString();
    m_stream.clear();
    reply->deleteLater();
    m_watchdog.stop();
    m_parser->endOfStream();
    if (ended()) {
        scheduleReconnect(); // closes: not an error, the video ended
        return;
    }
    emit streamError(0, why, false);
    scheduleReconnect();
}

void QtNetworkTransport::scheduleReconnect(int minimumMs)
{
    if (!m_subscribed)
        return;
    if (ended()) {
        // Whatever dropped the stream of an ended video, there is nothing to resume.
        m_subscribed = false;
        setState(State::Closed);
        return;
    }
    m_backoff.onDisconnected(std::chrono::steady_clock::now());
    const int delay = std::max(minimumMs, static_cast<int>(m_backoff.nextDelay().count()));
    setState(State::Reconnecting, m_backoff.attempt(), delay);
    m_reconnectTimer.start(delay);
}

std::optional<Failure> QtNetworkTransport::failureOf(const Response& response)
{
    if (response.status >= 200 && response.status < 300)
        return std::nullopt;
    Failure f;
    f.httpStatus = response.status;
    const QJsonObject error
        = QJsonDocument::fromJson(response.body).object().value(QStringLiteral("error")).toObject();
    f.message = error.value(QStringLiteral("message")).toString();
    bool ok = false;
    const int seconds = response.retryAfter.trimmed().toInt(&ok);
    if (ok && seconds >= 0)
        f.retryAfterMs = seconds * 1000;
    // The core's classification (error.h), so both transports report the same codes.
    if (response.status == 0) {
        f.code = QStringLiteral("network");
        f.message = response.networkError;
    } else {
        const auto name
            = livecomments::errorCodeName(livecomments::errorCodeForHttpStatus(response.status));
        f.code = QString::fromLatin1(name.data(), static_cast<qsizetype>(name.size()));
    }
    f.recoverable = response.status == 0 || response.status == 429 || response.status >= 500;
    if (f.message.isEmpty())
        f.message = f.code;
    return f;
}

void QtNetworkTransport::send(const QByteArray& method, const QString& pathAndQuery,
    const QByteArray& body, const QList<QPair<QByteArray, QByteArray>>& headers, QObject* context,
    std::function<void(const Response&)> done)
{
    QNetworkRequest req(urlFor(pathAndQuery));
    req.setRawHeader("Accept", "application/json");
    if (!body.isEmpty())
        req.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    if (!m_token.isEmpty())
        req.setRawHeader("Authorization", "Bearer " + m_token);
    for (const auto& h : headers)
        req.setRawHeader(h.first, h.second);
    req.setTransferTimeout(kRequestTimeoutMs);
    // Qt would turn a redirected POST into a GET; a 3xx is reported to the caller instead.
    req.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
        method == "GET" ? QNetworkRequest::NoLessSafeRedirectPolicy
                        : QNetworkRequest::ManualRedirectPolicy);
    req.setDecompressedSafetyCheckThreshold(kDecompressionLimit);
    QNetworkReply* reply = m_nam.sendCustomRequest(req, method, body);
    QPointer<QObject> guard(context);
    const bool hasContext = context != nullptr;
    connect(reply, &QNetworkReply::finished, this, [reply, guard, hasContext, done] {
        reply->deleteLater();
        if (hasContext && !guard)
            return;
        Response r;
        r.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        r.body = reply->readAll();
        r.retryAfter = reply->rawHeader("Retry-After");
        if (r.status == 0)
            r.networkError = reply->errorString();
        if (done)
            done(r);
    });
}

void QtNetworkTransport::fetchVideo(qint32 videoId, QObject* context,
    std::function<void(const VideoInfo&, const std::optional<Failure>&)> done)
{
    send("GET", QStringLiteral("/videos/%1").arg(videoId), {}, {}, context,
        [done](const Response& r) {
            VideoInfo v;
            const auto failure = failureOf(r);
            if (!failure) {
                const QJsonObject o = QJsonDocument::fromJson(r.body).object();
                v.id = o.value(QStringLiteral("id")).toVariant().toInt();
                v.title = o.value(QStringLiteral("title")).toString();
                v.streamerName = o.value(QStringLiteral("streamer"))
                                     .toObject()
                                     .value(QStringLiteral("name"))
                                     .toString();
                v.live = o.value(QStringLiteral("status")).toString() == QLatin1String("live");
                v.viewers = o.value(QStringLiteral("viewers")).toInteger();
                v.commentCount = o.value(QStringLiteral("comment_count")).toInteger();
            }
            done(v, failure);
        });
}

void QtNetworkTransport::fetchHistory(qint32 videoId, const QString& before, int limit,
    QObject* context, std::function<void(const HistoryPage&, const std::optional<Failure>&)> done)
{
    QString path = QStringLiteral("/videos/%1/comments?limit=%2").arg(videoId).arg(limit);
    if (!before.isEmpty())
        path += QStringLiteral("&before=") + before;
    send("GET", path, {}, {}, context, [done](const Response& r) {
        HistoryPage page;
        const auto failure = failureOf(r);
        if (!failure) {
            const QJsonObject o = QJsonDocument::fromJson(r.body).object();
            const QJsonArray list = o.value(QStringLiteral("comments")).toArray();
            for (const QJsonValue& v : list) {
                if (auto c = Comment::fromJson(v.toObject()))
                    page.comments.append(*c);
            }
            const QJsonValue next = o.value(QStringLiteral("next_cursor"));
            page.nextCursor = next.isString() ? next.toString() : QString();
        }
        done(page, failure);
    });
}

/// One outbox entry of this transport (memory only; the Curl transport has core's persistent
/// outbox).
struct QtNetworkTransport::OutboxItem {
    qint32 videoId = 0;
    QByteArray body;
    PostUpdate update;
    QPointer<QObject> context;
    bool hasContext = false;
    std::function<void(const PostUpdate&)> callback;
    Backoff backoff;
};

QString QtNetworkTransport::post(qint32 videoId, const QString& text, QObject* context,
    std::function<void(const PostUpdate&)> update)
{
    auto item = std::make_shared<OutboxItem>();
    item->videoId = videoId;
    item->body = QJsonDocument(
        QJsonObject { { QStringLiteral("text"),
            text } }).toJson(QJsonDocument::Compact);
    item->update.key = QUuid::createUuid().toString(QUuid::Id128);
    item->context = context;
    item->hasContext = context != nullptr;
    item->callback = std::move(update);
    const QString key = item->update.key;
    // Report Pending first, asynchronously, like the core does.
    QTimer::singleShot(0, this, [this, item] {
        if (item->hasContext && !item->context)
            return;
        if (item->callback)
            item->callback(item->update);
        attemptPost(item);
    });
    return key;
}

void QtNetworkTransport::attemptPost(const std::shared_ptr<OutboxItem>& item)
{
    ++item->update.attempts;
    send("POST", QStringLiteral("/videos/%1/comments").arg(item->videoId), item->body,
        { { "Idempotency-Key", item->update.key.toLatin1() } }, item->context,
        [this, item](const Response& r) {
            const auto failure = failureOf(r);
            if (!failure) {
                item->update.state = PostUpdate::State::Sent;
                item->update.error.reset();
                item->update.comment = Comment::fromJson(QJsonDocument::fromJson(r.body).object());
            } else if (failure->recoverable && item->update.attempts < 20) {
                item->update.error = failure;
                // Retry with the same Idempotency-Key: the server answers a repeat with the
                // first result, so a lost 201 never becomes a second comment.
                const int delay = std::max(
                    failure->retryAfterMs, static_cast<int>(item->backoff.nextDelay().count()));
                QTimer::singleShot(delay, this, [this, item] {
                    if (!item->hasContext || item->context)
                        attemptPost(item);
                });
            } else {
                item->update.state = PostUpdate::State::Failed;
                item->update.error = failure;
            }
            if (item->callback)
                item->callback(item->update);
        });
}

} // namespace livecomments::qt
