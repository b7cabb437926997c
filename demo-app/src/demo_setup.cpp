// SPDX-License-Identifier: MIT
#include "demo_setup.h"

#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QJsonDocument>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QQuickWindow>
#include <QRandomGenerator>
#include <QTimer>

#include <algorithm>

namespace livecomments::demo {

int DemoSetup::requestJson(const QByteArray& method, const QUrl& url, const QJsonObject& body,
    const QString& token, QJsonObject* reply, int timeoutMs)
{
    QNetworkAccessManager nam;
    QNetworkRequest req(url);
    req.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
    req.setRawHeader("Accept", "application/json");
    if (!token.isEmpty())
        req.setRawHeader("Authorization", "Bearer " + token.toUtf8());
    req.setAttribute(
        QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    req.setTransferTimeout(timeoutMs);
    QNetworkReply* r = nam.sendCustomRequest(req, method,
        body.isEmpty() ? QByteArray() : QJsonDocument(body).toJson(QJsonDocument::Compact));
    QEventLoop loop;
    QObject::connect(r, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    loop.exec();
    const int status = r->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    if (reply)
        *reply = QJsonDocument::fromJson(r->readAll()).object();
    r->deleteLater();
    return status;
}

QString DemoSetup::prepare(DemoConfig& config)
{
    if (config.name.isEmpty())
        config.name
            = QStringLiteral("viewer%1").arg(QRandomGenerator::global()->bounded(1000, 9999));
    auto url = [&config](const QString& path) {
        QUrl u = config.server;
        u.setPath(u.path().chopped(u.path().endsWith(QLatin1Char('/')) ? 1 : 0) + path);
        return u;
    };
    if (config.token.isEmpty()) {
        // Dev mode only (docs/protocol.md "Auth"); a streamer token, so it can create the video.
        const QString userId = QString::number(QRandomGenerator::global()->bounded(100000, 999999));
        QJsonObject reply;
        const int status = requestJson("POST", url(QStringLiteral("/auth/dev-token")),
            { { QStringLiteral("user_id"), userId }, { QStringLiteral("name"), config.name },
                { QStringLiteral("role"), QStringLiteral("streamer") } },
            {}, &reply);
        config.token = reply.value(QStringLiteral("token")).toString();
        if (status != 200 || config.token.isEmpty())
            return QStringLiteral(
                "POST /auth/dev-token failed (HTTP %1): start the server with --dev "
                "or pass --token=JWT")
                .arg(status);
    }
    if (config.videoId <= 0) {
        // The newest live video (GET /videos?limit=1 lists live videos newest first); only when
        // the server has none does the demo start its own.
        QJsonObject list;
        QUrl newest = url(QStringLiteral("/videos"));
        newest.setQuery(QStringLiteral("status=live&limit=1"));
        if (requestJson("GET", newest, {}, config.token, &list) == 200) {
            const auto videos = list.value(QStringLiteral("videos")).toArray();
            if (!videos.isEmpty())
                config.videoId
                    = videos.first().toObject().value(QStringLiteral("id")).toVariant().toInt();
        }
    }
    if (config.videoId <= 0) {
        QJsonObject reply;
        const int status = requestJson("POST", url(QStringLiteral("/videos")),
            { { QStringLiteral("title"),
                QStringLiteral("LiveComments demo — %1").arg(config.name) } },
            config.token, &reply);
        config.videoId = reply.value(QStringLiteral("id")).toVariant().toInt();
        if (status != 201 || config.videoId <= 0)
            return QStringLiteral("POST /videos failed (HTTP %1); pass --video=ID").arg(status);
    }
    return {};
}

QVariantMap DemoSetup::initialProperties(const DemoConfig& config)
{
    return {
        { QStringLiteral("serverUrl"), config.server },
        { QStringLiteral("videoId"), config.videoId },
        { QStringLiteral("token"), config.token },
        { QStringLiteral("mediaSource"), config.media },
        { QStringLiteral("hasMultimedia"), hasMultimedia() },
        { QStringLiteral("useCurl"), config.transport == QLatin1String("curl") },
        { QStringLiteral("cachePath"), config.cachePath },
        { QStringLiteral("dark"), config.dark },
    };
}

bool DemoSetup::hasMultimedia()
{
#ifdef LC_DEMO_HAS_MULTIMEDIA
    return true;
#else
    return false;
#endif
}

namespace {
qint64 nowNs()
{
    static QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return clock.nsecsElapsed();
}
} // namespace

FrameMeter::FrameMeter(QQuickWindow* window)
    : QObject(window)
{
    nowNs();
    connect(window, &QQuickWindow::frameSwapped, this, &FrameMeter::onFrame, Qt::DirectConnection);
}

void FrameMeter::start()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stampsNs.clear();
    m_startNs = nowNs();
    m_running = true;
}

void FrameMeter::onFrame()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_running)
        m_stampsNs.push_back(nowNs());
}

QJsonObject FrameMeter::report() const
{
    std::vector<qint64> stamps;
    qint64 start = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        stamps = m_stampsNs;
        start = m_startNs;
    }
    const double seconds = (nowNs() - start) / 1e9;
    std::vector<double> intervals;
    for (std::size_t i = 1; i < stamps.size(); ++i)
        intervals.push_back((stamps[i] - stamps[i - 1]) / 1e6);
    std::sort(intervals.begin(), intervals.end());
    auto pct = [&intervals](double p) {
        if (intervals.empty())
            return 0.0;
        const auto i = static_cast<std::size_t>(p * (intervals.size() - 1) + 0.5);
        return intervals[std::min(i, intervals.size() - 1)];
    };
    auto over = [&intervals](double ms) {
        return static_cast<int>(
            std::count_if(intervals.begin(), intervals.end(), [ms](double v) { return v > ms; }));
    };
    QJsonObject o;
    o.insert(QStringLiteral("frames"), static_cast<int>(stamps.size()));
    o.insert(QStringLiteral("seconds"), seconds);
    o.insert(QStringLiteral("fps"), seconds > 0 ? stamps.size() / seconds : 0.0);
    o.insert(QStringLiteral("p50_ms"), pct(0.50));
    o.insert(QStringLiteral("p95_ms"), pct(0.95));
    o.insert(QStringLiteral("p99_ms"), pct(0.99));
    o.insert(QStringLiteral("max_ms"), intervals.empty() ? 0.0 : intervals.back());
    o.insert(QStringLiteral("over_20ms"), over(20));
    o.insert(QStringLiteral("over_33ms"), over(33.4));
    o.insert(QStringLiteral("over_50ms"), over(50));
    return o;
}

} // namespace livecomments::demo
