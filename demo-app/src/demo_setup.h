// SPDX-License-Identifier: MIT
#pragma once

#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QUrl>

#include <mutex>
#include <vector>

class QQuickWindow;

namespace livecomments::demo {

/// What the player needs before its window opens.
struct DemoConfig {
    QUrl server { QStringLiteral("http://127.0.0.1:8080") };
    int videoId = 0; ///< 0 = the newest live video, or a new one when none is live
    QString name; ///< display name for the dev token
    QString media; ///< file or URL for Qt Multimedia; empty = animated scene
    QString token; ///< JWT; empty = ask POST /auth/dev-token
    QString transport = QStringLiteral("qt"); ///< "qt" or "curl"
    /// History cache + persistent outbox; main.cpp defaults it to LiveSession::defaultCachePath().
    QString cachePath;
    bool dark = true;
};

/// Blocking start-up steps against the server (token, video), run before the QML loads.
///
/// Threading: GUI thread, before the event loop runs (uses a local QEventLoop per request).
class DemoSetup {
public:
    /// Fills config.token (dev token) and config.videoId (the newest live video, else a new one)
    /// when missing.
    /// Returns an error message, or an empty string on success.
    static QString prepare(DemoConfig& config);
    /// The initial properties of Main.qml for @p config.
    static QVariantMap initialProperties(const DemoConfig& config);
    /// Whether Qt Multimedia was available at build time.
    static bool hasMultimedia();
    /// One blocking JSON request; returns the status (0 = no response) and fills @p reply.
    static int requestJson(const QByteArray& method, const QUrl& url, const QJsonObject& body,
        const QString& token, QJsonObject* reply, int timeoutMs = 10000);
};

/// Counts QQuickWindow::frameSwapped and reports frame intervals (--measure-frames).
///
/// Threading: frameSwapped is emitted on the render thread (threaded render loop): the meter
/// connects with Qt::DirectConnection and guards its samples with a mutex; report() may run on
/// the GUI thread at any time.
class FrameMeter : public QObject {
    Q_OBJECT
public:
    explicit FrameMeter(QQuickWindow* window);
    /// Starts counting now (drops earlier frames).
    void start();
    /// Summary JSON: frames, seconds, fps, p50/p95/p99/max interval ms, intervals over 20/33/50 ms.
    QJsonObject report() const;

private:
    void onFrame();
    mutable std::mutex m_mutex;
    std::vector<qint64> m_stampsNs;
    qint64 m_startNs = 0;
    bool m_running = false;
};

} // namespace livecomments::demo
