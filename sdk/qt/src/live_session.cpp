// SPDX-License-Identifier: MIT
#include "livecomments/qt/live_session.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkInformation>
#include <QStandardPaths>

#include <algorithm>

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

QString LiveSession::defaultCachePath()
{
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    if (dir.isEmpty())
        return {};
    return QDir(dir).filePath(QStringLiteral("livecomments-cache.sqlite"));
}

LiveSession::LiveSession(QObject* parent)
    : QObject(parent)
    , m_cachePath(defaultCachePath())
    , m_model(new CommentModel(this))
{
    m_model->setOrder(CommentModel::Order::NewestFirst);
    m_clock.start();
    m_tick.setInterval(250);
    connect(&m_tick, &QTimer::timeout, this, [this] {
        emit countdownChanged();
        emit statusTextChanged();
        if (reconnectIn() == 0 && rateLimitedFor() == 0)
            m_tick.stop();
    });
    connect(m_model, &CommentModel::countChanged, this, &LiveSession::statusTextChanged);
    if (loadReachability()) {
        connect(QNetworkInformation::instance(), &QNetworkInformation::reachabilityChanged, this,
            [this](QNetworkInformation::Reachability r) {
                // Back online: reconnect at once instead of waiting out the backoff.
                if (r == QNetworkInformation::Reachability::Online)
                    reconnect();
            });
    }
    rebuildTransport();
}

LiveSession::~LiveSession()
{
    // The Timeline first: after close() returns none of its callbacks runs.
    m_timeline.reset();
    m_transport.reset();
}

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

void LiveSession::setCachePath(const QString& path)
{
    if (path == m_cachePath)
        return;
    m_cachePath = path;
    emit cachePathChanged();
    if (m_complete)
        start();
}

void LiveSession::rebuildTransport()
{
    m_timeline.reset();
    m_transport = std::make_unique<Transport>(m_transportKind == TransportKind::Curl
            ? Transport::Kind::Curl
            : Transport::Kind::QtNetwork);
    m_transport->setToken(m_token.toUtf8());
    m_transport->setOutboxHandler([this](const OutboxEntry& e) { onOutbox(e); });
    connect(m_transport.get(), &Transport::streamError, this,
        [this](int, const QString& message, bool) {
            Failure f;
            f.message = message;
            setFailure(f);
        });
}

void LiveSession::setState(State state, int attempt, int delayMs)
{
    if (state == m_state && attempt == m_attempt && delayMs == m_delayMs)
        return;
    m_state = state;
    m_attempt = attempt;
    m_delayMs = delayMs;
    if (state == State::Reconnecting) {
        m_reconnectAtMs = m_clock.elapsed() + delayMs;
        m_tick.start();
    } else {
        m_reconnectAtMs = 0;
    }
    emit stateChanged();
    emit countdownChanged();
    emit statusTextChanged();
}

int LiveSession::reconnectIn() const
{
    if (m_state != State::Reconnecting || m_reconnectAtMs == 0)
        return 0;
    const qint64 left = m_reconnectAtMs - m_clock.elapsed();
    return left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
}

int LiveSession::rateLimitedFor() const
{
    const qint64 left = m_rateLimitedUntilMs - m_clock.elapsed();
    return left <= 0 ? 0 : static_cast<int>((left + 999) / 1000);
}

QString LiveSession::statusText() const
{
    switch (m_state) {
    case State::Live:
        return tr("Live");
    case State::Connecting:
        return tr("Connecting…");
    case State::Reconnecting: {
        const int in = reconnectIn();
        return in > 0 ? tr("Offline — reconnecting in %1s").arg(in) : tr("Offline — reconnecting…");
    }
    case State::Closed:
        return m_model->count() > 0 ? tr("Offline — cached history") : tr("Offline");
    case State::Idle:
        break;
    }
    return {};
}

void LiveSession::start()
{
    ++m_epoch;
    m_timeline.reset();
    m_sequence.clear();
    m_dropped.clear();
    m_model->clear();
    m_videoKnown = false;
    m_ended = false;
    m_video = {};
    m_loadingOlder = false;
    m_atBeginning = false;
    m_fillingGap = false;
    m_historyLoaded = false;
    // Rows of another video (or server) are not this session's; the Client reports its restored
    // entries again when it is created.
    m_outbox.clear();
    emit outboxChanged();
    emit videoChanged();
    emit viewersChanged();
    emit historyChanged();
    if (!m_server.isValid() || m_server.isEmpty() || m_videoId <= 0) {
        setState(State::Idle);
        return;
    }
    refreshToken();
    if (!m_cachePath.isEmpty())
        QDir().mkpath(QFileInfo(m_cachePath).absolutePath());
    m_transport->setServer(m_server);
    m_transport->setToken(m_token.toUtf8());
    m_transport->setCachePath(m_cachePath);
    Client* client = m_transport->client();
    if (!client) {
        setState(State::Closed);
        return;
    }
    // Entries restored before this session existed (the Client may be older than this start).
    for (const OutboxEntry& e : client->pendingPosts())
        onOutbox(e);
    const quint64 epoch = m_epoch;
    auto current = [this, epoch] { return epoch == m_epoch; };
    TimelineCallbacks cb;
    cb.onChange = [this, current](const TimelineChange& c) {
        if (current())
            onChange(c);
    };
    cb.onStatus = [this, current](const TimelineStatus& s) {
        if (current())
            onTimelineStatus(s);
    };
    cb.onStreamStatus = [this, current](const StreamStatus& s) {
        if (current())
            onStreamStatus(s);
    };
    cb.onViewers = [this, current](std::int64_t viewers) {
        if (!current() || viewers == m_video.viewers)
            return;
        m_video.viewers = viewers;
        emit viewersChanged();
    };
    cb.onEnded = [this, current](VideoId) {
        if (!current())
            return;
        // The header shows "ended" at once; status says why the stream will not come back.
        m_ended = true;
        emit videoChanged();
        m_status = Status::Ended;
        m_errorString = tr("The video has ended");
        emit statusChanged();
        emit videoEnded();
    };
    TimelineOptions options;
    options.pageSize = kPageSize;
    options.pendingPosts = true; // own posts are chat rows at once (docs/sdk.md "Qt binding")
    setState(State::Connecting);
    auto timeline = client->openTimeline(m_videoId, std::move(cb), options);
    if (!timeline) {
        setFailure(Failure::fromCore(timeline.error()));
        setState(State::Closed);
        return;
    }
    m_timeline = std::move(timeline).value();
    fetchVideo();
}

void LiveSession::stop()
{
    ++m_epoch;
    m_timeline.reset();
    setState(State::Idle);
}

void LiveSession::onChange(const TimelineChange& c)
{
    using Kind = TimelineChange::Kind;
    if (c.kind == Kind::Reset) {
        m_model->clear();
        m_sequence.clear();
        QList<Comment> stored;
        QList<Comment> own;
        for (const auto& comment : c.comments) {
            m_sequence.push_back({ comment.id, QString::fromStdString(comment.localId) });
            if (comment.pending || comment.failed)
                own.append(ownRow(comment));
            else
                stored.append(Comment::fromCore(comment));
        }
        m_model->addOlder(stored);
        for (const Comment& comment : own) {
            if (!m_dropped.contains(comment.localId))
                m_model->addOwn(comment);
        }
    } else if (c.kind == Kind::Removed) {
        const std::size_t end = std::min(c.index + c.count, m_sequence.size());
        const std::size_t first = std::min(c.index, end);
        for (std::size_t i = first; i < end; ++i) {
            // An own row the Timeline removes was stored elsewhere; its Inserted follows.
            if (m_sequence[i].id != 0)
                m_model->remove(m_sequence[i].id);
            else
                m_model->removeOwn(m_sequence[i].localId);
        }
        m_sequence.erase(m_sequence.begin() + static_cast<std::ptrdiff_t>(first),
            m_sequence.begin() + static_cast<std::ptrdiff_t>(end));
    } else if (c.kind == Kind::Updated) {
        updateChange(c);
    } else {
        insertChange(c);
    }
    if (!m_historyLoaded) {
        m_historyLoaded = true;
        emit historyChanged();
    }
}

void LiveSession::insertChange(const TimelineChange& c)
{
    // Own posts (pendingPosts) always follow the stored comments in the Timeline's sequence.
    const auto firstOwn = std::find_if(
        m_sequence.begin(), m_sequence.end(), [](const SequenceKey& k) { return k.id == 0; });
    const auto storedCount = static_cast<std::size_t>(firstOwn - m_sequence.begin());
    const bool atNewestEnd = storedCount > 0 && c.index >= storedCount;
    const std::size_t at = std::min(c.index, m_sequence.size());
    std::vector<SequenceKey> keys;
    QList<Comment> stored;
    for (const auto& comment : c.comments) {
        keys.push_back({ comment.id, QString::fromStdString(comment.localId) });
        if (comment.pending || comment.failed) {
            if (!m_dropped.contains(keys.back().localId))
                m_model->addOwn(ownRow(comment)); // no-op when post() showed it already
        } else {
            stored.append(Comment::fromCore(comment));
        }
    }
    m_sequence.insert(
        m_sequence.begin() + static_cast<std::ptrdiff_t>(at), keys.begin(), keys.end());
    if (stored.isEmpty())
        return;
    if (!atNewestEnd) {
        m_model->addOlder(stored); // older pages and the first (cached) history
        return;
    }
    m_model->addLive(stored);
    // The danmaku overlay wants what arrives live, not a catch-up batch.
    if (m_state == State::Live && !m_fillingGap) {
        for (const Comment& comment : stored)
            emitLiveComment(comment);
    }
}

void LiveSession::updateChange(const TimelineChange& c)
{
    for (std::size_t i = 0; i < c.comments.size(); ++i) {
        const std::size_t at = c.index + i;
        if (at >= m_sequence.size())
            break;
        const livecomments::Comment& now = c.comments[i];
        SequenceKey& key = m_sequence[at];
        if (now.failed) {
            const Comment row = ownRow(now);
            m_model->markOwnFailed(row.localId, row.error);
        } else if (!now.pending && key.id == 0) {
            // Acknowledged: the stored comment takes the pending row's place (same row), and
            // the overlay shows it now that the server has it.
            const Comment stored = Comment::fromCore(now);
            m_model->settleOwn(key.localId, stored);
            key = { now.id, {} };
            emitLiveComment(stored);
        }
    }
}

Comment LiveSession::ownRow(const livecomments::Comment& comment) const
{
    Comment row = Comment::fromCore(comment);
    row.userId = m_userId;
    row.userName = m_userName;
    const auto it = std::find_if(m_outbox.begin(), m_outbox.end(),
        [&row](const OutboxRow& r) { return r.key == row.localId; });
    if (it != m_outbox.end())
        row.error = it->error;
    return row;
}

void LiveSession::emitLiveComment(const Comment& comment)
{
    emit liveComment({ { QStringLiteral("commentId"), comment.idString() },
        { QStringLiteral("text"), comment.text }, { QStringLiteral("userName"), comment.userName },
        { QStringLiteral("role"), comment.userRole },
        { QStringLiteral("own"), !m_userId.isEmpty() && comment.userId == m_userId } });
}

void LiveSession::onTimelineStatus(const TimelineStatus& s)
{
    const bool settled = !s.loadingOlder && !s.fillingGap && !s.lastError;
    const bool changed = s.loadingOlder != m_loadingOlder || s.atBeginning != m_atBeginning
        || (settled && !m_historyLoaded);
    m_loadingOlder = s.loadingOlder;
    m_atBeginning = s.atBeginning;
    m_fillingGap = s.fillingGap;
    if (settled)
        m_historyLoaded = true;
    if (changed)
        emit historyChanged();
}

void LiveSession::onStreamStatus(const StreamStatus& s)
{
    switch (s.state) {
    case StreamState::Connecting:
        setState(State::Connecting);
        break;
    case StreamState::Live:
        setState(State::Live);
        clearFailure();
        fetchVideo(); // the header facts may have changed while we were away
        break;
    case StreamState::Reconnecting:
        if (s.error)
            setFailure(Failure::fromCore(*s.error));
        setState(State::Reconnecting, s.attempt, static_cast<int>(s.delay.count()));
        break;
    case StreamState::Closed:
        if (s.error)
            setFailure(Failure::fromCore(*s.error));
        setState(State::Closed);
        break;
    }
}

void LiveSession::fetchVideo()
{
    const quint64 epoch = m_epoch;
    m_transport->fetchVideo(m_videoId, this, [this, epoch](const Result<Video>& r) {
        if (epoch != m_epoch)
            return;
        if (!r) {
            // Offline is already in the stream state; only a definite answer is a failure.
            if (r.error().httpStatus != 0)
                setFailure(Failure::fromCore(r.error()));
            return;
        }
        const bool viewersDiffer = r->viewers != m_video.viewers;
        m_video = *r;
        m_videoKnown = true;
        emit videoChanged();
        if (viewersDiffer)
            emit viewersChanged();
    });
}

void LiveSession::loadOlder()
{
    if (m_timeline)
        m_timeline->loadOlder();
}

void LiveSession::setReaderRow(int row)
{
    if (!m_timeline || row < 0 || m_sequence.empty())
        return;
    // Rows are newest first; the Timeline counts from the oldest loaded comment (its own posts
    // are part of its sequence, as they are rows).
    const auto r = static_cast<std::size_t>(row);
    m_timeline->setReaderPosition(r >= m_sequence.size() ? 0 : m_sequence.size() - 1 - r);
}

void LiveSession::reconnect()
{
    // Skipping the backoff wait: reopen at once. The cache shows the history again immediately
    // and the Timeline resumes after its newest cached id, so nothing is lost or doubled.
    if (m_state == State::Reconnecting)
        start();
}

QString LiveSession::post(const QString& text)
{
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty() || trimmed.size() > maxLength() || m_videoId <= 0)
        return {};
    refreshToken();
    m_transport->setToken(m_token.toUtf8());
    Client* client = m_transport->client();
    if (!client)
        return {};
    auto key = client->post(m_videoId, trimmed.toStdString());
    if (!key) {
        setFailure(Failure::fromCore(key.error()));
        return {};
    }
    OutboxEntry e;
    e.key = key.value();
    e.videoId = m_videoId;
    e.text = trimmed.toStdString();
    onOutbox(e); // shown as pending at once; the outbox reports the same key again
    if (m_timeline) {
        // The chat row at once, in this call; the Timeline's own Inserted for this key (a later
        // turn of the event loop) finds it there.
        livecomments::Comment pending;
        pending.videoId = m_videoId;
        pending.text = e.text;
        pending.pending = true;
        pending.localId = e.key;
        m_model->addOwn(ownRow(pending));
    }
    return QString::fromStdString(e.key);
}

void LiveSession::onOutbox(const OutboxEntry& e)
{
    if (e.videoId != m_videoId)
        return;
    const QString key = QString::fromStdString(e.key);
    auto it = std::find_if(
        m_outbox.begin(), m_outbox.end(), [&key](const OutboxRow& r) { return r.key == key; });
    if (e.error && e.error->retryAfterMs > 0 && e.error->code == ErrorCode::RateLimited) {
        m_rateLimitedUntilMs = m_clock.elapsed() + e.error->retryAfterMs;
        m_tick.start();
        emit countdownChanged();
    }
    if (e.state == PostState::Sent) {
        // The Timeline shows the stored comment (live stream or gap fill), once, by id.
        if (it != m_outbox.end())
            m_outbox.erase(it);
        clearFailure();
        emit outboxChanged();
        return;
    }
    if (it == m_outbox.end()) {
        OutboxRow row;
        row.key = key;
        row.text = QString::fromStdString(e.text);
        m_outbox.append(row);
        it = m_outbox.end() - 1;
    }
    it->state = e.state;
    it->attempts = e.attempts;
    it->error = e.error ? QString::fromStdString(e.error->message) : QString();
    if (e.state == PostState::Failed && e.error) {
        if (e.error->httpStatus == 409) {
            m_ended = true;
            emit videoChanged();
        }
        setFailure(Failure::fromCore(*e.error));
    }
    if (e.state == PostState::Failed)
        m_model->markOwnFailed(key, it->error);
    emit outboxChanged();
}

void LiveSession::retry(const QString& key)
{
    const auto it = std::find_if(
        m_outbox.begin(), m_outbox.end(), [&key](const OutboxRow& r) { return r.key == key; });
    if (it == m_outbox.end() || it->state != PostState::Failed)
        return;
    const QString text = it->text;
    forgetOwn(key);
    post(text);
}

void LiveSession::forgetOwn(const QString& key)
{
    // The Timeline keeps a failed post until it closes; the chat drops it now.
    m_dropped.insert(key);
    m_model->removeOwn(key);
    const auto it = std::find_if(
        m_outbox.begin(), m_outbox.end(), [&key](const OutboxRow& r) { return r.key == key; });
    if (it != m_outbox.end())
        m_outbox.erase(it);
    emit outboxChanged();
}

void LiveSession::dismiss(const QString& key)
{
    const auto it = std::find_if(
        m_outbox.begin(), m_outbox.end(), [&key](const OutboxRow& r) { return r.key == key; });
    if (it == m_outbox.end() || it->state == PostState::Pending)
        return;
    forgetOwn(key);
}

QVariantList LiveSession::outbox() const
{
    QVariantList list;
    for (const OutboxRow& r : m_outbox) {
        list.append(
            QVariantMap { { QStringLiteral("key"), r.key }, { QStringLiteral("text"), r.text },
                { QStringLiteral("state"), QString::fromLatin1(postStateName(r.state)) },
                { QStringLiteral("error"), r.error }, { QStringLiteral("attempts"), r.attempts } });
    }
    return list;
}

void LiveSession::setFailure(const Failure& f)
{
    Status s = Status::NetworkError;
    switch (f.httpStatus) {
    case 0:
        s = Status::NetworkError;
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
