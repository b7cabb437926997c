// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/transport.h"

#include <livecomments/backoff.h>
#include <livecomments/sse_parser.h>

#include <QElapsedTimer>
#include <QNetworkAccessManager>
#include <QPointer>
#include <QTimer>

#include <memory>

class QNetworkReply;

namespace livecomments::qt {

/// Transport over QNetworkAccessManager. The bytes of the stream go into core's SseParser and
/// reconnect delays come from core's Backoff: the protocol rules are the core's, not rewritten.
///
/// Qt 6 traps handled (docs/qt-binding.md): HTTP/2 off for the stream, no transfer timeout on it,
/// everything read on each readyRead, redirects explicit (POST never silently becomes GET),
/// compression off on the stream and a decompression limit on requests, an intentional abort
/// never schedules a reconnect, Last-Event-ID on reconnect, heartbeat watchdog.
///
/// Threading: lives on its creator's thread; QNetworkAccessManager delivers there too.
class QtNetworkTransport final : public Transport {
    Q_OBJECT
public:
    explicit QtNetworkTransport(QObject* parent = nullptr);
    ~QtNetworkTransport() override;

    Kind kind() const override { return Kind::QtNetwork; }
    void subscribe(qint32 videoId, const QString& lastEventId = {}) override;
    void unsubscribe() override;
    void reconnectNow() override;
    void fetchVideo(qint32 videoId, QObject* context,
        std::function<void(const VideoInfo&, const std::optional<Failure>&)> done) override;
    void fetchHistory(qint32 videoId, const QString& before, int limit, QObject* context,
        std::function<void(const HistoryPage&, const std::optional<Failure>&)> done) override;
    QString post(qint32 videoId, const QString& text, QObject* context,
        std::function<void(const PostUpdate&)> update) override;

    /// A raw response of a short request.
    struct Response {
        int status = 0; ///< 0 = no response
        QByteArray body;
        QByteArray retryAfter;
        QString networkError;
    };
    /// The Failure for a non-2xx @p response (std::nullopt for 2xx).
    static std::optional<Failure> failureOf(const Response& response);

private:
    void openStream();
    void closeStream();
    void onStreamMetaData();
    void onStreamReadyRead();
    void onStreamFinished();
    void scheduleReconnect(int minimumMs = 0);
    void armWatchdog();
    void send(const QByteArray& method, const QString& pathAndQuery, const QByteArray& body,
        const QList<QPair<QByteArray, QByteArray>>& headers, QObject* context,
        std::function<void(const Response&)> done);
    struct OutboxItem;
    void attemptPost(const std::shared_ptr<OutboxItem>& item);

    QNetworkAccessManager m_nam;
    std::unique_ptr<SseParser> m_parser;
    Backoff m_backoff;
    QPointer<QNetworkReply> m_stream;
    QTimer m_reconnectTimer;
    QTimer m_watchdog;
    qint32 m_videoId = 0;
    int m_heartbeatMs = 15000;
    bool m_subscribed = false;
    bool m_statusChecked = false;
    bool m_fatal = false;
};

} // namespace livecomments::qt
