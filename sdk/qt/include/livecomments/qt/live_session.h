// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/comment_model.h"
#include "livecomments/qt/transport.h"

#include <QElapsedTimer>
#include <QJSValue>
#include <QObject>
#include <QQmlParserStatus>
#include <QTimer>
#include <QUrl>
#include <QVariantList>
#include <QtQml/qqmlregistration.h>

#include <memory>

namespace livecomments::qt {

/// A viewer's session on one live video, for QML: the live stream, the history pager, the
/// outbox, and the header facts (title, live/ended, viewers).
///
/// ```qml
/// LiveSession { id: session; server: "http://127.0.0.1:8080"; videoId: 42; token: myJwt }
/// ListView { model: session.comments; verticalLayoutDirection: ListView.BottomToTop }
/// ```
/// It starts once the QML component is complete (or on start()) and restarts when server,
/// videoId or transport change. Errors become the `status` property and errorOccurred();
/// nothing throws. QNetworkInformation reachability "online" skips a pending backoff wait.
///
/// Threading: a QObject of the GUI thread; the transport delivers everything on that thread.
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
    Q_PROPERTY(State state READ state NOTIFY stateChanged)
    Q_PROPERTY(int reconnectIn READ reconnectIn NOTIFY countdownChanged) ///< seconds, Reconnecting
    Q_PROPERTY(int attempt READ attempt NOTIFY stateChanged)
    Q_PROPERTY(Status status READ status NOTIFY statusChanged)
    Q_PROPERTY(QString errorString READ errorString NOTIFY statusChanged)
    Q_PROPERTY(QString title READ title NOTIFY videoChanged)
    Q_PROPERTY(QString streamerName READ streamerName NOTIFY videoChanged)
    Q_PROPERTY(bool live READ live NOTIFY videoChanged)
    Q_PROPERTY(bool ended READ ended NOTIFY videoChanged)
    Q_PROPERTY(int viewers READ viewers NOTIFY viewersChanged)
    Q_PROPERTY(QString userId READ userId NOTIFY tokenChanged) ///< `sub` of the token
    Q_PROPERTY(QString userName READ userName NOTIFY tokenChanged) ///< `name` of the token
    Q_PROPERTY(livecomments::qt::CommentModel* comments READ comments CONSTANT)
    Q_PROPERTY(bool loadingOlder READ loadingOlder NOTIFY historyChanged)
    Q_PROPERTY(bool atBeginning READ atBeginning NOTIFY historyChanged)
    Q_PROPERTY(bool historyLoaded READ historyLoaded NOTIFY historyChanged)
    /// Own posts not yet confirmed: [{key, text, state: "pending"|"failed", error, attempts}].
    Q_PROPERTY(QVariantList outbox READ outbox NOTIFY outboxChanged)
    Q_PROPERTY(int rateLimitedFor READ rateLimitedFor NOTIFY countdownChanged) ///< seconds (429)
    Q_PROPERTY(int maxLength READ maxLength CONSTANT) ///< comment length limit (characters)
public:
    /// Which transport carries the session.
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
    State state() const;
    int reconnectIn() const;
    int attempt() const;
    Status status() const { return m_status; }
    QString errorString() const { return m_errorString; }
    QString title() const { return m_video.title; }
    QString streamerName() const { return m_video.streamerName; }
    bool live() const { return m_video.live; }
    bool ended() const { return m_videoKnown && !m_video.live; }
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
    /// The transport in use (tests).
    Transport* transportObject() const { return m_transport.get(); }

    /// Connects (again) with the current properties.
    Q_INVOKABLE void start();
    /// Disconnects on purpose.
    Q_INVOKABLE void stop();
    /// Posts @p text (trimmed); returns the outbox key, or "" when rejected at once.
    Q_INVOKABLE QString post(const QString& text);
    /// Posts a failed outbox entry's text again (new key) and drops the failed entry.
    Q_INVOKABLE void retry(const QString& key);
    /// Drops a failed outbox entry.
    Q_INVOKABLE void dismiss(const QString& key);
    /// Loads the next older history page (no-op while loading or at the beginning).
    Q_INVOKABLE void loadOlder();
    /// Skips a pending reconnect wait.
    Q_INVOKABLE void reconnect();

signals:
    void serverChanged();
    void videoIdChanged();
    void tokenChanged();
    void tokenProviderChanged();
    void transportChanged();
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
    /// Keys: commentId, text, userName, own.
    void liveComment(const QVariantMap& comment);
    /// Something failed; also reflected in status/errorString.
    void errorOccurred(livecomments::qt::LiveSession::Status status, const QString& message);

private:
    void rebuildTransport();
    void refreshToken();
    void setFailure(const Failure& failure);
    void clearFailure();
    void onComment(const Comment& comment);
    void onPostUpdate(const QString& text, const PostUpdate& update);
    void fetchVideo();
    void fetchNewestPage();

    struct OutboxRow {
        QString key;
        QString text;
        PostUpdate::State state = PostUpdate::State::Pending;
        QString error;
        int attempts = 0;
    };

    QUrl m_server;
    int m_videoId = 0;
    QString m_token;
    QJSValue m_tokenProvider;
    TransportKind m_transportKind = TransportKind::QtNetwork;
    std::unique_ptr<Transport> m_transport;
    CommentModel* m_model = nullptr;
    Status m_status = Status::Ok;
    QString m_errorString;
    VideoInfo m_video;
    bool m_videoKnown = false;
    QString m_userId;
    QString m_userName;
    bool m_complete = false;
    bool m_loadingOlder = false;
    bool m_atBeginning = false;
    bool m_historyLoaded = false;
    QList<OutboxRow> m_outbox;
    QElapsedTimer m_clock;
    qint64 m_reconnectAtMs = 0;
    qint64 m_rateLimitedUntilMs = 0;
    QTimer m_tick;
    quint64 m_epoch = 0; ///< bumps on start(): replies of an older start are ignored
};

} // namespace livecomments::qt
