// SPDX-License-Identifier: MIT
#include "http_client.h"

#include <QCoreApplication>
#include <QEventLoop>
#include <QJsonDocument>
#include <QJsonValue>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QPointer>
#include <QTcpSocket>
#include <QThread>
#include <QTimer>
#include <QtDebug>

#include <cmath>
#include <limits>

namespace lctest {

namespace {

QNetworkAccessManager* manager()
{
    thread_local QPointer<QNetworkAccessManager> nam;
    if (!nam) {
        nam = new QNetworkAccessManager;
        // Owned by the application on its thread so it dies before QCoreApplication does; on
        // other threads it lives for the thread's life (tests create few).
        if (QCoreApplication::instance()
            && QThread::currentThread() == QCoreApplication::instance()->thread())
            nam->setParent(QCoreApplication::instance());
    }
    return nam;
}

QNetworkRequest makeRequest(
    const QUrl& url, const QByteArray& body, const HeaderList& headers, int timeoutMs)
{
    QNetworkRequest req(url);
    req.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
    req.setAttribute(
        QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
    req.setAttribute(QNetworkRequest::CacheLoadControlAttribute, QNetworkRequest::AlwaysNetwork);
    req.setTransferTimeout(timeoutMs);
    bool hasContentType = false;
    for (const auto& h : headers) {
        if (h.first.compare("content-type", Qt::CaseInsensitive) == 0)
            hasContentType = true;
        req.setRawHeader(h.first, h.second);
    }
    if (!body.isEmpty() && !hasContentType)
        req.setRawHeader("Content-Type", "application/json");
    return req;
}

HttpReply toReply(QNetworkReply* r, bool timedOut)
{
    HttpReply out;
    const QVariant status = r->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    out.status = status.isValid() ? status.toInt() : 0;
    out.body = r->readAll();
    for (const auto& pair : r->rawHeaderPairs())
        out.headers.insert(pair.first.toLower(), pair.second);
    if (out.status == 0)
        out.error = timedOut ? QStringLiteral("timeout") : r->errorString();
    return out;
}

QNetworkReply* send(const QByteArray& method, const QUrl& url, const QByteArray& body,
    const HeaderList& headers, int timeoutMs)
{
    // Diagnostics: LC_TEST_FRESH_CONNECTIONS=1 sends every request on a new connection, to tell
    // keep-alive problems from others.
    static const bool fresh = qEnvironmentVariableIntValue("LC_TEST_FRESH_CONNECTIONS") != 0;
    if (fresh)
        manager()->clearConnectionCache();
    const QNetworkRequest req = makeRequest(url, body, headers, timeoutMs);
    return manager()->sendCustomRequest(req, method, body);
}

} // namespace

QJsonObject HttpReply::json() const
{
    return QJsonDocument::fromJson(body).object();
}

QString HttpReply::errorCode() const
{
    return json()
        .value(QStringLiteral("error"))
        .toObject()
        .value(QStringLiteral("code"))
        .toString();
}

QString HttpReply::errorMessage() const
{
    return json()
        .value(QStringLiteral("error"))
        .toObject()
        .value(QStringLiteral("message"))
        .toString();
}

HttpReply http(const QByteArray& method, const QUrl& url, const QByteArray& body,
    const HeaderList& headers, int timeoutMs)
{
    QNetworkReply* r = send(method, url, body, headers, timeoutMs);
    QEventLoop loop;
    bool timedOut = false;
    QObject::connect(r, &QNetworkReply::finished, &loop, &QEventLoop::quit);
    QTimer timer;
    timer.setSingleShot(true);
    QObject::connect(&timer, &QTimer::timeout, &loop, [&] {
        timedOut = true;
        r->abort();
    });
    timer.start(timeoutMs + 1000);
    if (!r->isFinished())
        loop.exec();
    HttpReply out = toReply(r, timedOut);
    r->deleteLater();
    return out;
}

QList<HttpReply> httpMany(const QList<HttpRequest>& requests, int parallel, int timeoutMs)
{
    QList<HttpReply> out(requests.size());
    QEventLoop loop;
    int next = 0;
    int inFlight = 0;
    std::function<void()> launch = [&] {
        while (inFlight < parallel && next < requests.size()) {
            const int index = next++;
            const HttpRequest& rq = requests[index];
            QNetworkReply* r = send(rq.method, rq.url, rq.body, rq.headers, timeoutMs);
            ++inFlight;
            QObject::connect(r, &QNetworkReply::finished, &loop, [&, r, index] {
                out[index] = toReply(r, false);
                r->deleteLater();
                --inFlight;
                launch();
                if (inFlight == 0 && next >= requests.size())
                    loop.quit();
            });
        }
    };
    launch();
    if (inFlight > 0)
        loop.exec();
    return out;
}

HttpReply rawHttp(quint16 port, const QByteArray& rawRequest, int timeoutMs)
{
    HttpReply out;
    QTcpSocket sock;
    QByteArray buf;
    QEventLoop loop;
    bool headersDone = false;
    qsizetype bodyStart = -1;
    qint64 contentLength = -1;
    auto parse = [&] {
        buf += sock.readAll();
        if (!headersDone) {
            bodyStart = buf.indexOf("\r\n\r\n");
            if (bodyStart < 0)
                return;
            headersDone = true;
            const QList<QByteArray> lines = buf.left(bodyStart).split('\n');
            const QList<QByteArray> statusParts = lines.value(0).trimmed().split(' ');
            out.status = statusParts.value(1).toInt();
            for (int i = 1; i < lines.size(); ++i) {
                const qsizetype colon = lines[i].indexOf(':');
                if (colon > 0)
                    out.headers.insert(lines[i].left(colon).trimmed().toLower(),
                        lines[i].mid(colon + 1).trimmed());
            }
            bodyStart += 4;
            if (out.headers.contains("content-length"))
                contentLength = out.headers.value("content-length").toLongLong();
            if (out.status == 204 || out.status == 304)
                contentLength = 0;
        }
        if (contentLength >= 0 && buf.size() - bodyStart >= contentLength)
            loop.quit();
    };
    QObject::connect(&sock, &QTcpSocket::connected, &loop, [&] { sock.write(rawRequest); });
    QObject::connect(&sock, &QTcpSocket::readyRead, &loop, parse);
    QObject::connect(&sock, &QTcpSocket::disconnected, &loop, &QEventLoop::quit);
    QObject::connect(&sock, &QTcpSocket::errorOccurred, &loop, [&](QAbstractSocket::SocketError e) {
        if (e != QAbstractSocket::RemoteHostClosedError)
            out.error = sock.errorString();
        loop.quit();
    });
    QTimer::singleShot(timeoutMs, &loop, [&] {
        out.error = QStringLiteral("timeout");
        loop.quit();
    });
    sock.connectToHost(QStringLiteral("127.0.0.1"), port);
    loop.exec();
    parse();
    if (headersDone) {
        out.body = buf.mid(bodyStart);
        if (contentLength >= 0)
            out.body.truncate(contentLength);
        if (!out.status)
            out.error = QStringLiteral("bad status line");
        else
            out.error.clear();
    } else {
        out.status = 0;
        if (out.error.isEmpty())
            out.error = QStringLiteral("no response");
    }
    return out;
}

void resetHttpConnections()
{
    manager()->clearConnectionCache();
}

HeaderList bearer(const QString& token)
{
    if (token.isEmpty())
        return {};
    return { { "Authorization", "Bearer " + token.toUtf8() } };
}

QUrl endpoint(const QUrl& baseUrl, const QString& pathAndQuery)
{
    return QUrl(baseUrl.toString(QUrl::StripTrailingSlash) + pathAndQuery);
}

qint32 createVideo(const QUrl& baseUrl, const QString& token, const QString& title)
{
    const QByteArray body = QJsonDocument(
        QJsonObject { { QStringLiteral("title"),
            title } }).toJson(QJsonDocument::Compact);
    const HttpReply r
        = http("POST", endpoint(baseUrl, QStringLiteral("/videos")), body, bearer(token));
    const qint32 id = qint32(r.json().value(QStringLiteral("id")).toInteger());
    if (r.status != 201 || id <= 0) {
        qWarning().noquote() << "createVideo failed:" << r.status << r.error << r.body;
        return 0;
    }
    return id;
}

HttpReply postComment(const QUrl& baseUrl, const QString& token, qint32 videoId,
    const QString& text, const HeaderList& extraHeaders)
{
    const QByteArray body = QJsonDocument(
        QJsonObject { { QStringLiteral("text"),
            text } }).toJson(QJsonDocument::Compact);
    return http("POST", endpoint(baseUrl, QStringLiteral("/videos/%1/comments").arg(videoId)), body,
        bearer(token) + extraHeaders);
}

QList<HttpReply> postComments(const QUrl& baseUrl, const QString& token, qint32 videoId,
    const QStringList& texts, int parallel)
{
    QList<HttpRequest> requests;
    requests.reserve(texts.size());
    const QUrl url = endpoint(baseUrl, QStringLiteral("/videos/%1/comments").arg(videoId));
    for (const QString& t : texts) {
        requests.append({ "POST", url,
            QJsonDocument(QJsonObject { { QStringLiteral("text"), t } })
                .toJson(QJsonDocument::Compact),
            bearer(token) });
    }
    return httpMany(requests, parallel);
}

double metricValue(const QByteArray& metricsText, const QByteArray& series)
{
    for (const QByteArray& raw : metricsText.split('\n')) {
        const QByteArray line = raw.trimmed();
        if (line.isEmpty() || line.startsWith('#') || !line.startsWith(series))
            continue;
        // The series is the metric name plus an optional {labels} block; the value follows.
        qsizetype end = line.indexOf(' ');
        const qsizetype brace = line.indexOf('{');
        if (brace >= 0 && (end < 0 || brace < end))
            end = line.indexOf(' ', line.indexOf('}', brace));
        if (end < 0)
            continue;
        const QByteArray name = line.left(end);
        // Exact metric name unless the caller gave a label prefix.
        if (!series.contains('{') && name != series && !name.startsWith(series + '{'))
            continue;
        bool ok = false;
        const double v = line.mid(end + 1).trimmed().split(' ').value(0).toDouble(&ok);
        if (ok)
            return v;
    }
    return std::numeric_limits<double>::quiet_NaN();
}

} // namespace lctest
