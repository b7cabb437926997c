// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/comment.h"

#include <livecomments/client.h>

#include <QByteArray>
#include <QObject>
#include <QUrl>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace livecomments::qt {

/// Why a request or stream failed: livecomments::Error in Qt strings (for QML status texts).
struct Failure {
    int httpStatus = 0; ///< HTTP status when a response came, else 0
    QString code; ///< livecomments::errorCodeName(): "network", "timeout", "rate_limited", ...
    QString message; ///< human-readable detail
    int retryAfterMs = -1; ///< the server's Retry-After (429/503), else -1
    bool recoverable = false; ///< trying again later may succeed

    static Failure fromCore(const livecomments::Error& error);
};

/// A core livecomments::Client for a Qt thread: chooses the HTTP backend (libcurl or Qt
/// Network), marshals every callback to this object's thread, and turns one core Subscription
/// into signals. It has no reconnect loop, watchdog, decoder or outbox of its own: those are the
/// core's (EventSource, Subscription, ClientCore's outbox) and are the same for both kinds.
///
/// Threading: a QObject of the thread that created it (the GUI thread in practice); every method
/// must be called there and every signal and request callback is delivered there. The Client is
/// destroyed (its I/O thread joined) before this QObject, so no task can target a dead object;
/// tasks still queued die with the object (Qt drops posted events of a deleted receiver).
class Transport : public QObject {
    Q_OBJECT
public:
    /// Which HTTP backend moves the bytes.
    enum class Kind {
        Curl, ///< libcurl (the core's default backend)
        QtNetwork, ///< QNetworkAccessManager (QtNetworkBackend)
    };
    Q_ENUM(Kind)
    /// Stream state.
    enum class State {
        Idle, ///< not subscribed
        Connecting, ///< first connection in progress
        Live, ///< `hello` received, events flowing
        Reconnecting, ///< waiting reconnectDelayMs() before the next attempt (core's backoff)
        Closed, ///< gave up (204/401/403/404), or the stream of an ended video dropped
    };
    Q_ENUM(State)

    explicit Transport(Kind kind, QObject* parent = nullptr);
    /// Same as the constructor (kept for callers of the former factory).
    static std::unique_ptr<Transport> create(Kind kind, QObject* parent = nullptr);
    ~Transport() override;

    Kind kind() const { return m_kind; }
    /// Server base URL, e.g. http://127.0.0.1:8080. A change makes a new Client at next use.
    void setServer(const QUrl& server) { m_server = server; }
    QUrl server() const { return m_server; }
    /// Bearer token (JWT) for requests and the stream; empty = anonymous. Read by the core before
    /// each request.
    void setToken(const QByteArray& token);
    QByteArray token() const { return m_token; }
    /// SQLite cache (and persistent outbox) file; empty = none. A change makes a new Client.
    void setCachePath(const QString& path) { m_cachePath = path; }
    QString cachePath() const { return m_cachePath; }

    /// The core Client for the current settings, created on first use (nullptr if it cannot be
    /// created; streamError() tells why). Its callbacks run on this object's thread.
    livecomments::Client* client();
    /// Receives every outbox change of client() (also restored entries); set before client().
    void setOutboxHandler(std::function<void(const OutboxEntry&)> handler)
    {
        m_outboxHandler = std::move(handler);
    }

    /// Opens the event stream of @p videoId, resuming after @p lastEventId when not empty.
    void subscribe(qint32 videoId, const QString& lastEventId = {});
    /// Closes the stream on purpose; no reconnect follows. State becomes Idle.
    void unsubscribe();
    /// Skips the remaining backoff wait (e.g. the network came back): reopens the core
    /// subscription at its resume point. No-op unless Reconnecting.
    void reconnectNow();
    /// GET /videos/{id}. @p done runs on this object's thread unless @p context is gone.
    void fetchVideo(qint32 videoId, QObject* context,
        std::function<void(const livecomments::Result<livecomments::Video>&)> done);
    /// GET /videos/{id}/comments?before=@p before&limit=@p limit (newest page when @p before is
    /// empty); comments newest first, as on the wire.
    void fetchHistory(qint32 videoId, const QString& before, int limit, QObject* context,
        std::function<void(const livecomments::Result<livecomments::HistoryPage>&)> done);
    /// Client::post() (the core outbox: idempotency key, retries, persisted with a cache).
    /// Returns the key at once, or "" when rejected at once (then @p update gets Failed).
    QString post(qint32 videoId, const QString& text, QObject* context,
        std::function<void(const livecomments::OutboxEntry&)> update);

    State state() const { return m_state; }
    int attempt() const { return m_attempt; } ///< reconnect attempt number (0 when Live)
    int reconnectDelayMs() const { return m_delayMs; } ///< delay chosen for this reconnect
    QString lastEventId() const { return m_lastEventId; } ///< id of the last comment received
    int connectionCount() const { return m_connections; } ///< streams that reached `hello`
    int lastStreamStatus() const { return m_lastStatus; } ///< HTTP status of the last stream
    /// The streamer ended the subscribed video (core's onEnded). The stream stays open for
    /// deletions; when it drops, the state becomes Closed instead of Reconnecting.
    bool ended() const { return m_ended; }

    /// Converts a core comment to the model's Qt value.
    static Comment toQt(const livecomments::Comment& comment) { return Comment::fromCore(comment); }

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

private:
    void setState(State state, int attempt = 0, int delayMs = 0);
    void setEnded(bool ended);
    void openSubscription(CommentId resumeAfter);

    struct TokenBox {
        std::mutex mutex;
        std::string token;
    };
    Kind m_kind;
    QUrl m_server;
    QByteArray m_token;
    QString m_cachePath;
    std::function<void(const OutboxEntry&)> m_outboxHandler;
    std::shared_ptr<TokenBox> m_tokenBox = std::make_shared<TokenBox>();
    std::unique_ptr<livecomments::Client> m_client;
    QUrl m_clientServer;
    QString m_clientCache;
    std::unique_ptr<livecomments::Subscription> m_subscription;
    qint32 m_videoId = 0;
    quint64 m_generation = 0; ///< bumps per subscription: callbacks of an old one are ignored
    QString m_lastEventId;
    int m_connections = 0;
    int m_lastStatus = 0;
    State m_state = State::Idle;
    int m_attempt = 0;
    int m_delayMs = 0;
    bool m_ended = false;
};

} // namespace livecomments::qt
