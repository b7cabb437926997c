// SPDX-License-Identifier: MIT
#include "livecomments/qt/live_session.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkInformation>

namespace livecomments::qt {

namespace {
constexpr int kPageSize = 50;

/// Loads the reachability backend once per process; false when the platform has none.
bool loadReachability()
{
    static const bool loaded = [] {
        if (QNetworkInformation::instance())
            return true;
        return QNetworkInformation::loadBackendByFeatures(
                   QNetworkInformation::Feature::Reachability)
            || QNetworkInformation::loadDefaultBackend();
    }();
    return loaded && QNetworkInformation::instance();
}

/// The JSON payload of a JWT (no verification: only for display and "own comment" marks).
QJsonObject jwtClaims(const QString& token)
{
    const QStringList parts = token.split(QLatin1Char('.'));
    if (parts.size() != 3)
        return {};
    const QByteArray json = QByteArray::fromBase64(
        parts.at(1).toLatin1(), QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
    return QJsonDocument::fromJson(json).object();
}
} // namespace

LiveSession::LiveSession(QObject* parent)
    : QObject(parent)
    , m_model(new CommentModel(this))
{
    m_model->setOrder(CommentModel::Order::NewestFirst);
    m_clock.start();
    m_tick.setInterval(250);
    connect(&m_tick, &QTimer::timeout, this, [this] {
        emit countdownChanged();
        if (reconnectIn() == 0 && rateLimitedFor() == 0)
            m_tick.stop();
    });
    // Trimmed rows can be loaded again.
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, [this] {
        if (m_atBeginning) {
            m_atBeginning = false;
            emit historyChanged();
        }
    });
    if (loadReachability()) {
        connect(QNetworkInformation::instance(), &QNetworkInformation::reachabilityChanged, this,
            [this](QNetworkInformation::Reachability r) {
                // Back online: reconnect at once instead of waiting out the backoff.
                if (r == QNetworkInformation::Reachability::Online && m_transport)
                    m_transport->reconnectNow();
            });
    }
    rebuildTransport();
}

LiveSession::~LiveSession() = default;

void LiveSession::componentComplete()
{
    m_complete = true;
    start();
}

void LiveSession::setServer(const QUrl& server)
{
    if (server == m_server)
        return;
    m_server = server;
    emit serverChanged();
    if (m_complete)
        start();
}

void LiveSession::setVideoId(int id)
{
    if (id == m_videoId)
        return;
    m_videoId = id;
    emit videoIdChanged();
    if (m_complete)
        start();
}

void LiveSession::setToken(const QString& token)
{
    if (token == m_token)
        return;
    m_token = token;
    const QJsonObject claims = jwtClaims(token);
    const QJsonValue sub = claims.value(QStringLiteral("sub"));
    m_userId = sub.isString() ? sub.toString() : QString::number(sub.toInteger());
    if (claims.isEmpty())
        m_userId.clear();
    m_userName = claims.value(QStringLiteral("name")).toString();
    m_model->setOwnUserId(m_userId);
    if (m_transport)
        m_transport->setToken(token.toUtf8());
    emit tokenChanged();
}

void LiveSession::setTokenProvider(const QJSValue& provider)
{
    m_tokenProvider = provider;
    emit tokenProviderChanged();
}

void LiveSession::refreshToken()
{
    if (m_tokenProvider.isCallable()) {
        const QJSValue value = m_tokenProvider.call();
        if (value.isString())
            setToken(value.toString());
    }
}

void LiveSession::setTransport(TransportKind kind)
{
    if (kind == m_transportKind)
        return;
    m_transportKind = kind;
    rebuildTransport();
    emit transportChanged();
    if (m_complete)
        start();
}

void LiveSession::rebuildTransport()
{
    m_transport
        = Transport::create(m_transportKind == TransportKind::Curl ? Transport::Kind::Curl
                                                                   : Transport::Kind::QtNetwork);
    Transport* t = m_transport.get();
    if (!t) {
        Failure f;
        f.code = QStringLiteral("unavailable");
        f.message = QStringLiteral("this build has no libcurl (core Client) transport");
        setFailure(f);
        return;
    }
    t->setToken(m_token.toUtf8());
    connect(t, &Transport::stateChanged, this, [this, t] {
        if (t->state() == Transport::State::Reconnecting) {
            m_reconnectAtMs = m_clock.elapsed() + t->reconnectDelayMs();
            m_tick.start();
        } else {
            m_reconnectAtMs = 0;
        }
        emit stateChanged();
        emit countdownChanged();
    });
    connect(t, &Transport::hello, this, [this] {
        clearFailure();
        fetchVideo(); // the header facts may have changed while we were away
    });
    connect(t, &Transport::commentReceived, this, &LiveSession::onComment);
    connect(t, &Transport::commentDeleted, this, [this](quint64 id) { m_model->remove(id); });
    connect(t, &Transport::resetReceived, this, [this] {
        // The server could not replay what we missed: mark the hole and refill the newest page.
        m_model->markGap();
        fetchNewestPage();
    });
    connect(t, &Transport::statsReceived, this, [this](int viewers) {
        if (viewers == m_video.viewers)
            return;
        m_video.viewers = viewers;
        emit viewersChanged();
    });
    connect(t, &Transport::videoEnded, this, [this] {
        // The header shows "ended" at once; status says why the stream will not come back.
        m_video.live = false;
        m_videoKnown = true;
        emit videoChanged();
        m_status = Status::Ended;
        m_errorString = tr("The video has ended");
        emit statusChanged();
        emit videoEnded();
    });
    connect(t, &Transport::streamError, this,
        [this](int httpStatus, const QString& message, bool fatal) {
            Failure f;
            f.httpStatus = httpStatus;
            f.message = message;
            f.code = httpStatus == 0 ? QStringLiteral("network") : QString();
            f.recoverable = !fatal;
            setFailure(f);
        });
}

LiveSession::State LiveSession::state() const
{
    if (!m_transport)
        return State::Idle;
    return static_cast<State>(static_cast<int>(m_transport->state()));
}

int LiveSession::attempt() const
{
    return m_transport ? m_transport->attempt() : 0;
}

int LiveSession::reconnectIn() const
{
    if (state() != State::Reconnecting || m_reconnectAtMs == 0)
        return 0;
    const qint64 left = m_reconnectAtMs - m_clock.elapsed();
    return left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
}

int LiveSession::rateLimitedFor() const
{
    const qint64 left = m_rateLimitedUntilMs - m_clock.elapsed();
    return left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
}

void LiveSession::start()
{
    ++m_epoch;
    if (!m_transport)
        return;
    m_transport->unsubscribe();
    m_model->clear();
    m_videoKnown = false;
    m_video = {};
    m_loadingOlder = false;
    m_atBeginning = false;
    m_historyLoaded = false;
    emit videoChanged();
    emit viewersChanged();
    emit historyChanged();
    if (!m_server.isValid() || m_server.isEmpty() || m_videoId <= 0)
        return;
    refreshToken();
    m_transport->setServer(m_server);
    m_transport->setToken(m_token.toUtf8());
    // Subscribe first and fetch the newest page in parallel: the model drops the overlap by id,
    // so nothing posted in between is lost.
    m_transport->subscribe(m_videoId);
    fetchVideo();
    fetchNewestPage();
}

void LiveSession::stop()
{
    ++m_epoch;
    if (m_transport)
        m_transport->unsubscribe();
}

void LiveSession::fetchVideo()
{
    const quint64 epoch = m_epoch;
    m_transport->fetchVideo(
        m_videoId, this, [this, epoch](const VideoInfo& v, const std::optional<Failure>& f) {
            if (epoch != m_epoch)
                return;
            if (f) {
                setFailure(*f);
                return;
            }
            const bool viewersDiffer = v.viewers != m_video.viewers;
            m_video = v;
            // A reply sent before the `ended` event must not bring the video back to life.
            if (m_transport && m_transport->ended())
                m_video.live = false;
            m_videoKnown = true;
            emit videoChanged();
            if (viewersDiffer)
                emit viewersChanged();
        });
}

void LiveSession::fetchNewestPage()
{
    const quint64 epoch = m_epoch;
    m_loadingOlder = true;
    emit historyChanged();
    m_transport->fetchHistory(m_videoId, {}, kPageSize, this,
        [this, epoch](const HistoryPage& page, const std::optional<Failure>& f) {
            if (epoch != m_epoch)
                return;
            m_loadingOlder = false;
            if (f) {
                setFailure(*f);
            } else {
                m_model->addOlder(page.comments);
                if (!m_historyLoaded)
                    m_atBeginning = page.nextCursor.isEmpty();
                m_historyLoaded = true;
            }
            emit historyChanged();
        });
}

void LiveSession::loadOlder()
{
    if (!m_transport || m_loadingOlder || m_atBeginning || m_videoId <= 0)
        return;
    if (!m_historyLoaded) {
        fetchNewestPage();
        return;
    }
    const quint64 epoch = m_epoch;
    m_loadingOlder = true;
    emit historyChanged();
    m_transport->fetchHistory(m_videoId, m_model->oldestId(), kPageSize, this,
        [this, epoch](const HistoryPage& page, const std::optional<Failure>& f) {
            if (epoch != m_epoch)
                return;
            m_loadingOlder = false;
            if (f) {
                setFailure(*f);
            } else {
                m_model->addOlder(page.comments);
                m_atBeginning = page.nextCursor.isEmpty();
            }
            emit historyChanged();
        });
}

void LiveSession::reconnect()
{
    if (m_transport)
        m_transport->reconnectNow();
}

void LiveSession::onComment(const Comment& comment)
{
    if (m_model->contains(comment.id))
        return;
    m_model->addLive(comment);
    emit liveComment({ { QStringLiteral("commentId"), comment.idString() },
        { QStringLiteral("text"), comment.text }, { QStringLiteral("userName"), comment.userName },
        { QStringLiteral("own"), !m_userId.isEmpty() && comment.userId == m_userId } });
}

QString LiveSession::post(const QString& text)
{
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty() || trimmed.size() > maxLength() || !m_transport || m_videoId <= 0)
        return {};
    refreshToken();
    m_transport->setToken(m_token.toUtf8());
    OutboxRow row;
    row.text = trimmed;
    const QString key = m_transport->post(m_videoId, trimmed, this,
        [this, trimmed](const PostUpdate& u) { onPostUpdate(trimmed, u); });
    row.key = key.isEmpty() ? QStringLiteral("local-%1").arg(m_clock.elapsed()) : key;
    m_outbox.append(row);
    emit outboxChanged();
    return row.key;
}

void LiveSession::onPostUpdate(const QString& text, const PostUpdate& u)
{
    auto it = std::find_if(m_outbox.begin(), m_outbox.end(), [&u, &text](const OutboxRow& r) {
        return r.key == u.key || (u.key.isEmpty() && r.text == text);
    });
    if (u.error && u.error->retryAfterMs > 0
        && (u.error->httpStatus == 429 || u.error->code == QLatin1String("rate_limited"))) {
        m_rateLimitedUntilMs = m_clock.elapsed() + u.error->retryAfterMs;
        m_tick.start();
        emit countdownChanged();
    }
    if (u.state == PostUpdate::State::Sent) {
        if (it != m_outbox.end())
            m_outbox.erase(it);
        if (u.comment)
            onComment(*u.comment);
        clearFailure();
    } else if (it != m_outbox.end()) {
        it->state = u.state;
        it->attempts = u.attempts;
        it->error = u.error ? u.error->message : QString();
        if (u.state == PostUpdate::State::Failed && u.error) {
            if (u.error->httpStatus == 409) {
                m_video.live = false;
                m_videoKnown = true;
                emit videoChanged();
            }
            setFailure(*u.error);
        }
    }
    emit outboxChanged();
}

void LiveSession::retry(const QString& key)
{
    const auto it = std::find_if(
        m_outbox.begin(), m_outbox.end(), [&key](const OutboxRow& r) { return r.key == key; });
    if (it == m_outbox.end() || it->state != PostUpdate::State::Failed)
        return;
    const QString text = it->text;
    m_outbox.erase(it);
    emit outboxChanged();
    post(text);
}

void LiveSession::dismiss(const QString& key)
{
    const auto it = std::find_if(
        m_outbox.begin(), m_outbox.end(), [&key](const OutboxRow& r) { return r.key == key; });
    if (it == m_outbox.end() || it->state == PostUpdate::State::Pending)
        return;
    m_outbox.erase(it);
    emit outboxChanged();
}

QVariantList LiveSession::outbox() const
{
    QVariantList list;
    for (const OutboxRow& r : m_outbox) {
        list.append(
            QVariantMap { { QStringLiteral("key"), r.key }, { QStringLiteral("text"), r.text },
                { QStringLiteral("state"),
                    r.state == PostUpdate::State::Failed ? QStringLiteral("failed")
                                                         : QStringLiteral("pending") },
                { QStringLiteral("error"), r.error }, { QStringLiteral("attempts"), r.attempts } });
    }
    return list;
}

void LiveSession::setFailure(const Failure& f)
{
    Status s = Status::NetworkError;
    switch (f.httpStatus) {
    case 0:
        s = f.code == QLatin1String("unavailable") ? Status::Rejected : Status::NetworkError;
        break;
    case 401:
        s = Status::Unauthorized;
        break;
    case 403:
        s = Status::Forbidden;
        break;
    case 404:
        s = Status::NotFound;
        break;
    case 409:
        s = Status::Ended;
        break;
    case 429:
        s = Status::RateLimited;
        break;
    default:
        s = f.httpStatus >= 500 ? Status::ServerError : Status::Rejected;
    }
    m_status = s;
    m_errorString = f.message;
    emit statusChanged();
    emit errorOccurred(s, f.message);
}

void LiveSession::clearFailure()
{
    if (m_status == Status::Ok && m_errorString.isEmpty())
        return;
    m_status = Status::Ok;
    m_errorString.clear();
    emit statusChanged();
}

} // namespace livecomments::qt
