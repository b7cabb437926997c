// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/transport.h"

#include <livecomments/client.h>

#include <memory>
#include <mutex>
#include <string>

namespace livecomments::qt {

/// Transport over livecomments::core's Client (libcurl multi loop on the Client's I/O thread):
/// the stream is a core Subscription (parser, backoff, heartbeat watchdog, dedupe are the core's),
/// requests are the Client's fetchVideo/fetchHistory/post (the outbox with Idempotency-Key).
///
/// Threading: a QObject of its creator's thread. The Client's executor posts every callback to
/// this object's thread with a queued invocation, so all signals and callbacks arrive there. The
/// Client is destroyed (its I/O thread joined) before this QObject, so no task can target a dead
/// object; tasks still queued die with the object (Qt drops posted events of a deleted
/// receiver).
class CurlTransport final : public Transport {
    Q_OBJECT
public:
    explicit CurlTransport(QObject* parent = nullptr);
    ~CurlTransport() override;

    Kind kind() const override { return Kind::Curl; }
    void subscribe(qint32 videoId, const QString& lastEventId = {}) override;
    void unsubscribe() override;
    void reconnectNow() override;
    void fetchVideo(qint32 videoId, QObject* context,
        std::function<void(const VideoInfo&, const std::optional<Failure>&)> done) override;
    void fetchHistory(qint32 videoId, const QString& before, int limit, QObject* context,
        std::function<void(const HistoryPage&, const std::optional<Failure>&)> done) override;
    QString post(qint32 videoId, const QString& text, QObject* context,
        std::function<void(const PostUpdate&)> update) override;

    /// Converts core's comment to the Qt value type.
    static Comment toQt(const livecomments::Comment& comment);
    /// Converts core's error.
    static Failure toQt(const livecomments::Error& error);

private:
    /// The Client for the current server(), created on first use.
    livecomments::Client* client();
    void openSubscription(CommentId resumeAfter);

    struct TokenBox {
        std::mutex mutex;
        std::string token;
    };
    std::shared_ptr<TokenBox> m_tokenBox = std::make_shared<TokenBox>();
    std::unique_ptr<livecomments::Client> m_client;
    QUrl m_clientServer;
    std::unique_ptr<livecomments::Subscription> m_subscription;
    qint32 m_videoId = 0;
    quint64 m_generation = 0; ///< bumps per subscription: callbacks of an old one are ignored
};

} // namespace livecomments::qt
