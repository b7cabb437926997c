// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/comment.h"

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QPair>
#include <QPointer>
#include <QSet>
#include <QUrl>

#include <deque>
#include <functional>
#include <memory>
#include <optional>

namespace livecomments {
struct SseEvent;
}

namespace livecomments::qt {

/// Why a request or stream failed (mirrors livecomments::Error).
struct Failure {
    int httpStatus = 0; ///< HTTP status when a response came, else 0
    QString code; ///< stable lower-case code: "network", "timeout", "rate_limited", "conflict", ...
    QString message; ///< human-readable detail
    int retryAfterMs = -1; ///< the server's Retry-After (429/503), else -1
    bool recoverable = false; ///< trying again later may succeed
};

/// A video as shown in the player header.
struct VideoInfo {
    qint32 id = 0;
    QString title;
    QString streamerName;
    bool live = false;
    qint64 viewers = 0;
    qint64 commentCount = 0;
};

/// One history page (older comments).
struct HistoryPage {
    QList<Comment> comments; ///< newest first, as on the wire
    QString nextCursor; ///< empty = no older page
};

/// Delivery state of a posted comment (outbox).
struct PostUpdate {
    enum class State { Pending, Sent, Failed };
    QString key; ///< Idempotency-Key, stable for the entry
    State state = State::Pending;
    int attempts = 0;
    std::optional<Comment> comment; ///< Sent: the stored comment
    std::optional<Failure> error; ///< Failed: why; Pending: the last recoverable error
};

/// One live-comment connection to a server: the event stream of one video plus short requests.
///
/// Two implementations share this interface and the same test suite (tests/qt/tst_transport):
/// Kind::Curl wraps livecomments::core's libcurl Client; Kind::QtNetwork uses
/// QNetworkAccessManager and core's SseParser + Backoff. Both decode the same events (this base
/// class does it) and follow core's reconnect rules: backoff with full jitter, `retry:` honoured,
/// `Last-Event-ID` sent on reconnect, no reconnect on 204/401/403/404, heartbeat watchdog of
/// 2.5 × `hello.heartbeat_ms`, no reconnect after an intentional unsubscribe().
///
/// Threading: a QObject of the thread that created it (the GUI thread in practice); every
/// method must be called there and every signal and request callback is delivered there.
class Transport : public QObject {
    Q_OBJECT
public:
    /// Which implementation.
    enum class Kind { Curl, QtNetwork };
    Q_ENUM(Kind)
    /// Stream state.
    enum class State {
        Idle, ///< not subscribed
        Connecting, ///< first connection in progress
        Live, ///< `hello` received, events flowing
        Reconnecting, ///< waiting reconnectDelayMs() before the next attempt
        Closed, ///< gave up (204/401/403/404) or unsubscribed
    };
    Q_ENUM(State)

    /// Creates the implementation of @p kind (never nullptr).
    static std::unique_ptr<Transport> create(Kind kind, QObject* parent = nullptr);
    ~Transport() override;

    virtual Kind kind() const = 0;
    /// Server base URL, e.g. http://127.0.0.1:8080. Takes effect at the next connection.
    void setServer(const QUrl& server) { m_server = server; }
    QUrl server() const { return m_server; }
    /// Bearer token (JWT) for requests and the stream; empty = anonymous.
    void setToken(const QByteArray& token) { m_token = token; }
    QByteArray token() const { return m_token; }

    /// Opens the event stream of @p videoId, resuming after @p lastEventId when not empty.
    virtual void subscribe(qint32 videoId, const QString& lastEventId = {}) = 0;
    /// Closes the stream on purpose; no reconnect follows. State becomes Idle.
    virtual void unsubscribe() = 0;
    /// Skips the remaining backoff wait (e.g. the network came back). No-op unless
    /// Reconnecting or Connecting/Live with a dead stream.
    virtual void reconnectNow() = 0;
    /// GET /videos/{id}. @p done runs on this object's thread unless @p context is gone; never
    /// after ~Transport().
    virtual void fetchVideo(qint32 videoId, QObject* context,
        std::function<void(const VideoInfo&, const std::optional<Failure>&)> done)
        = 0;
    /// GET /videos/{id}/comments?before=@p before&limit=@p limit (newest page when @p before is
    /// empty).
    virtual void fetchHistory(qint32 videoId, const QString& before, int limit, QObject* context,
        std::function<void(const HistoryPage&, const std::optional<Failure>&)> done)
        = 0;
    /// Posts a comment with an Idempotency-Key, retrying network errors, 5xx and 429 (after
    /// Retry-After) with the same key until Sent or Failed. Returns the key at once; @p update
    /// gets every state change.
    virtual QString post(qint32 videoId, const QString& text, QObject* context,
        std::function<void(const PostUpdate&)> update)
        = 0;

    State state() const { return m_state; }
    int attempt() const { return m_attempt; } ///< reconnect attempt number (0 when Live)
    int reconnectDelayMs() const { return m_delayMs; } ///< delay chosen for this reconnect
    QString lastEventId() const { return m_lastEventId; } ///< id of the last event received
    int connectionCount() const { return m_connections; } ///< streams opened so far
    int lastStreamStatus() const { return m_lastStatus; } ///< HTTP status of the last stream
    /// The streamer ended the subscribed video (`ended` event). The stream stays open for
    /// deletions; when it drops, the state becomes Closed instead of Reconnecting.
    bool ended() const { return m_ended; }

signals:
    void stateChanged();
    /// `hello`: the stream is live; @p resumed = the replay after Last-Event-ID was complete.
    void hello(bool resumed, int heartbeatMs);
    void commentReceived(const livecomments::qt::Comment& comment);
    void commentDeleted(quint64 id);
    /// `reset`: too many comments were missed; refetch history (there may be a gap).
    void resetReceived(const QString& reason);
    void statsReceived(int viewers);
    /// `ended`: the streamer ended the video (once per subscription); see ended().
    void videoEnded();
    /// The stream failed. @p fatal: no reconnect will follow (204/401/403/404 or bad response).
    void streamError(int httpStatus, const QString& message, bool fatal);

protected:
    explicit Transport(QObject* parent);
    void setState(State state, int attempt = 0, int delayMs = 0);
    /// Forgets the ids seen so far (a new subscription).
    void resetDedupe();
    /// Sets ended(); emits videoEnded() when it becomes true. false on a new subscription.
    void setEnded(bool ended);
    /// Decodes one SSE event into the signals above (shared by both implementations); a
    /// comment id seen within the last kDedupeWindow ids (the server's resume overlap) is dropped.
    void dispatchEvent(const livecomments::SseEvent& event);
    /// The stream URL of @p videoId.
    QUrl streamUrl(qint32 videoId) const;
    /// The full URL of @p pathAndQuery on server().
    QUrl urlFor(const QString& pathAndQuery) const;
    /// Whether a stream answered with this status must not be retried (WHATWG + the reconnect table
    /// of docs/sdk.md "Streams").
    static bool isFatalStatus(int status);

    QUrl m_server;
    QByteArray m_token;
    QString m_lastEventId;
    int m_connections = 0;
    int m_lastStatus = 0;

private:
    static constexpr int kDedupeWindow = 4096;
    QSet<quint64> m_seen;
    std::deque<quint64> m_seenOrder;
    State m_state = State::Idle;
    int m_attempt = 0;
    int m_delayMs = 0;
    bool m_ended = false;
};

} // namespace livecomments::qt
