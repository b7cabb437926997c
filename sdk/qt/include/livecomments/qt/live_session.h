// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/comment_model.h"
#include "livecomments/qt/transport.h"

#include <QElapsedTimer>
#include <QJSValue>
#include <QObject>
#include <QQmlParserStatus>
#include <QSet>
#include <QTimer>
#include <QUrl>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>

#include <memory>

namespace livecomments::qt {

/// A viewer's session on one live video, for QML: a core livecomments::Timeline (cached history
/// at once, the gap filled with `after=`, older pages prefetched, the live stream with the core's
/// reconnects and watchdog), the core's persistent outbox, and the header facts (title,
/// live/ended, viewers). The comment model is fed from the Timeline's changes only.
///
/// ```qml
/// LiveSession { id: session; server: "http://127.0.0.1:8080"; videoId: 42; token: myJwt }
/// ListView { model: session.comments; verticalLayoutDirection: ListView.BottomToTop }
/// ```
/// It starts once the QML component is complete (or on start()) and restarts when server,
/// videoId, transport or cachePath change. The SQLite cache (history + outbox) defaults to
/// `livecomments-cache.sqlite` in QStandardPaths::AppDataLocation; a comment posted offline is
/// kept there and sent once, also after an app restart. Errors become the `status` property and
/// errorOccurred(); nothing throws. QNetworkInformation reachability "online" skips a pending
/// backoff wait.
///
/// Threading: a QObject of the GUI thread; the core Client's executor delivers every callback on
/// that thread.
class LiveSession : public QObject, public QQmlParserStatus {
    Q_OBJECT
    Q_INTERFACES(QQmlParserStatus)
    QML_ELEMENT
    Q_PROPERTY(QUrl server READ server WRITE setServer NOTIFY serverChanged)
    Q_PROPERTY(int videoId READ videoId WRITE setVideoId NOTIFY videoIdChanged)
    Q_PROPERTY(QString token READ token WRITE setToken NOTIFY tokenChanged)
    /// Optional function returning a fresh token; called before connecting and before posts.
    Q_PROPERTY(QJSValue tokenProvider READ tokenProvider WRITE setTokenProvider NOTIFY
            tokenProviderChanged)
    Q_PROPERTY(TransportKind transport READ transport WRITE setTransport NOTIFY transportChanged)
    /// SQLite cache file (history pages and the persistent outbox); "" = no cache (outbox in
    /// memory only). Default: livecomments-cache.sqlite in QStandardPaths::AppDataLocation.
    Q_PROPERTY(QString cachePath READ cachePath WRITE setCachePath NOTIFY cachePathChanged)
    /// One line for the header: "Live", "Connecting…", "Offline — reconnecting in 3s", ...
    Q_PROPERTY(QString statusText READ statusText NOTIFY statusTextChanged)
    Q_PROPERTY(State state READ state NOTIFY stateChanged)
    Q_PROPERTY(int reconnectIn READ reconnectIn NOTIFY countdownChanged) ///< seconds, Reconnecting
    Q_PROPERTY(int attempt READ attempt NOTIFY stateChanged)
    Q_PROPERTY(Status status READ status NOTIFY statusChanged)
    Q_PROPERTY(QString errorString READ errorString NOTIFY statusChanged)
    Q_PROPERTY(QString title READ title NOTIFY videoChanged)
    Q_PROPERTY(QString streamerName READ streamerName NOTIFY videoChanged)
    /// The video's streamer's user id (empty until the video is known): what tells "the
    /// streamer of this video" from any author whose token has the streamer role.
    Q_PROPERTY(QString streamerId READ streamerId NOTIFY videoChanged)
    Q_PROPERTY(bool live READ live NOTIFY videoChanged)
    Q_PROPERTY(bool ended READ ended NOTIFY videoChanged)
    Q_PROPERTY(int viewers READ viewers NOTIFY viewersChanged)
    Q_PROPERTY(QString userId READ userId NOTIFY tokenChanged) ///< `sub` of the token
    Q_PROPERTY(QString userName READ userName NOTIFY tokenChanged) ///< `name` of the token
    Q_PROPERTY(livecomments::qt::CommentModel* comments READ comments CONSTANT)
    Q_PROPERTY(bool loadingOlder READ loadingOlder NOTIFY historyChanged)
    Q_PROPERTY(bool atBeginning READ atBeginning NOTIFY historyChanged)
    Q_PROPERTY(bool historyLoaded READ historyLoaded NOTIFY historyChanged)
    /// Own posts not yet confirmed (also those restored from the cache after a restart):
    /// [{key, text, state: "pending"|"failed", error, attempts}]. The same posts are rows of
    /// `comments` (roles pending/failed/localId/error): that is where the demo shows them.
    Q_PROPERTY(QVariantList outbox READ outbox NOTIFY outboxChanged)
    Q_PROPERTY(int rateLimitedFor READ rateLimitedFor NOTIFY countdownChanged) ///< seconds (429)
    Q_PROPERTY(int maxLength READ maxLength CONSTANT) ///< comment length limit (characters)
public:
    /// Which HTTP backend carries the session's core Client.
    enum class TransportKind { Curl, QtNetwork };
    Q_ENUM(TransportKind)
    /// Connection state (the header's indicator).
    enum class State { Idle, Connecting, Live, Reconnecting, Closed };
    Q_ENUM(State)
    /// Last error class (Ok when the last operation succeeded).
    enum class Status {
        Ok,
        Unauthorized,
        Forbidden,
        NotFound,
        RateLimited,
        Ended,
        Rejected,
        NetworkError,
        ServerError
    };
    Q_ENUM(Status)

    explicit LiveSession(QObject* parent = nullptr);
    ~LiveSession() override;

    void classBegin() override { }
    void componentComplete() override;

    QUrl server() const { return m_server; }
    void setServer(const QUrl& server);
    int videoId() const { return m_videoId; }
    void setVideoId(int id);
    QString token() const { return m_token; }
    void setToken(const QString& token);
    QJSValue tokenProvider() const { return m_tokenProvider; }
    void setTokenProvider(const QJSValue& provider);
    TransportKind transport() const { return m_transportKind; }
    void setTransport(TransportKind kind);
    QString cachePath() const { return m_cachePath; }
    void setCachePath(const QString& path);
    /// The default cachePath (QStandardPaths::AppDataLocation).
    static QString defaultCachePath();
    QString statusText() const;
    State state() const { return m_state; }
    int reconnectIn() const;
    int attempt() const { return m_attempt; }
    Status status() const { return m_status; }
    QString errorString() const { return m_errorString; }
    QString title() const { return QString::fromStdString(m_video.title); }
    QString streamerName() const { return QString::fromStdString(m_video.streamer.name); }
    QString streamerId() const { return QString::fromStdString(m_video.streamer.id); }
    bool live() const { return m_videoKnown && !m_ended && m_video.status == "live"; }
    bool ended() const { return m_ended || (m_videoKnown && m_video.status != "live"); }
    int viewers() const { return static_cast<int>(m_video.viewers); }
    QString userId() const { return m_userId; }
    QString userName() const { return m_userName; }
    CommentModel* comments() const { return m_model; }
    bool loadingOlder() const { return m_loadingOlder; }
    bool atBeginning() const { return m_atBeginning; }
    bool historyLoaded() const { return m_historyLoaded; }
    QVariantList outbox() const;
    int rateLimitedFor() const;
    int maxLength() const { return 500; }
    /// The Client holder in use (tests).
    Transport* transportObject() const { return m_transport.get(); }
    /// The core Timeline in use, or nullptr (tests).
    livecomments::Timeline* timeline() const { return m_timeline.get(); }

    /// Connects (again) with the current properties.
    Q_INVOKABLE void start();
    /// Disconnects on purpose.
    Q_INVOKABLE void stop();
    /// Posts @p text (trimmed); returns the outbox key, or "" when rejected at once.
    Q_INVOKABLE QString post(const QString& text);
    /// Posts a failed outbox entry's text again (new key) and drops the failed entry and its
    /// chat row.
    Q_INVOKABLE void retry(const QString& key);
    /// Drops a failed outbox entry and its chat row.
    Q_INVOKABLE void dismiss(const QString& key);
    /// Loads the next older history page (no-op while loading or at the beginning).
    Q_INVOKABLE void loadOlder();
    /// The oldest row the reader can see (a row of `comments`): the Timeline prefetches the next
    /// older page when it gets within TimelineOptions::prefetchDistance of the oldest loaded one.
    Q_INVOKABLE void setReaderRow(int row);
    /// Skips a pending reconnect wait.
    Q_INVOKABLE void reconnect();

signals:
    void serverChanged();
    void videoIdChanged();
    void tokenChanged();
    void tokenProviderChanged();
    void transportChanged();
    void cachePathChanged();
    void statusTextChanged();
    void stateChanged();
    void countdownChanged();
    void statusChanged();
    void videoChanged();
    void viewersChanged();
    /// The streamer ended the video while this session watched it (`ended` event): ended
    /// becomes true, status Ended, and the stream is not reopened once it drops.
    void videoEnded();
    void historyChanged();
    void outboxChanged();
    /// A comment arrived live (not history, never twice): for the danmaku overlay.
    /// Keys: commentId, text, userName, role, own. The user's own post comes when the server has
    /// stored it (its row stops being pending), never while pending.
    void liveComment(const QVariantMap& comment);
    /// Something failed; also reflected in status/errorString.
    void errorOccurred(livecomments::qt::LiveSession::Status status, const QString& message);

private:
    void rebuildTransport();
    void refreshToken();
    void setFailure(const Failure& failure);
    void clearFailure();
    void setState(State state, int attempt = 0, int delayMs = 0);
    void onChange(const TimelineChange& change);
    void insertChange(const TimelineChange& change);
    void updateChange(const TimelineChange& change);
    /// The model row of an own post of the Timeline (with the outbox's error, if known).
    Comment ownRow(const livecomments::Comment& comment) const;
    void emitLiveComment(const Comment& comment);
    void forgetOwn(const QString& key);
    void onTimelineStatus(const TimelineStatus& status);
    void onStreamStatus(const StreamStatus& status);
    void onOutbox(const OutboxEntry& entry);
    void fetchVideo();

    struct OutboxRow {
        QString key;
        QString text;
        PostState state = PostState::Pending;
        QString error;
        int attempts = 0;
    };

    QUrl m_server;
    int m_videoId = 0;
    QString m_token;
    QJSValue m_tokenProvider;
    TransportKind m_transportKind = TransportKind::QtNetwork;
    QString m_cachePath;
    std::unique_ptr<Transport> m_transport;
    std::unique_ptr<livecomments::Timeline> m_timeline;
    /// One entry of the Timeline's sequence: a stored comment's id, or an own post's outbox key.
    struct SequenceKey {
        CommentId id = 0;
        QString localId;
    };
    /// The Timeline's sequence as delivered so far (to map Removed/Updated ranges to rows).
    std::vector<SequenceKey> m_sequence;
    /// Own failed posts the user discarded or retried: the Timeline keeps them, the chat not.
    QSet<QString> m_dropped;
    CommentModel* m_model = nullptr;
    State m_state = State::Idle;
    int m_attempt = 0;
    int m_delayMs = 0;
    Status m_status = Status::Ok;
    QString m_errorString;
    Video m_video;
    bool m_videoKnown = false;
    bool m_ended = false;
    QString m_userId;
    QString m_userName;
    bool m_complete = false;
    bool m_loadingOlder = false;
    bool m_atBeginning = false;
    bool m_fillingGap = false;
    bool m_historyLoaded = false;
    QList<OutboxRow> m_outbox;
    QElapsedTimer m_clock;
    qint64 m_reconnectAtMs = 0;
    qint64 m_rateLimitedUntilMs = 0;
    QTimer m_tick;
    quint64 m_epoch = 0; ///< bumps on start(): replies of an older start are ignored
};

} // namespace livecomments::qt
