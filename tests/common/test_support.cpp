// SPDX-License-Identifier: MIT
#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QTest>
#include <QTimer>

#include <algorithm>

namespace lctest {

HistoryPage getHistoryPage(
    const QUrl& baseUrl, const QString& pathAndQuery, const HeaderList& headers)
{
    HistoryPage page;
    page.reply = http("GET", endpoint(baseUrl, pathAndQuery), {}, headers);
    const QJsonObject obj = page.reply.json();
    for (const QJsonValue& v : obj.value(QStringLiteral("comments")).toArray())
        page.ids.append(v.toObject().value(QStringLiteral("id")).toString().toULongLong());
    const QJsonValue next = obj.value(QStringLiteral("next_cursor"));
    page.nextCursorNull = next.isNull() || next.isUndefined();
    page.nextCursor = next.toString();
    return page;
}

namespace {
QList<quint64> walk(const QUrl& baseUrl, qint32 videoId, const QString& direction, quint64 start,
    int limit, bool* ok, QString* error, int maxPages)
{
    QList<quint64> all;
    QString cursor = start ? QString::number(start) : QString();
    const QString limitParam = limit > 0 ? QStringLiteral("limit=%1").arg(limit) : QString();
    auto fail = [&](const QString& why) {
        if (ok)
            *ok = false;
        if (error)
            *error = why;
        return all;
    };
    for (int i = 0; i < maxPages; ++i) {
        QStringList query;
        if (!cursor.isEmpty())
            query << direction + QLatin1Char('=') + cursor;
        if (!limitParam.isEmpty())
            query << limitParam;
        const QString path = QStringLiteral("/videos/%1/comments").arg(videoId)
            + (query.isEmpty() ? QString() : QLatin1Char('?') + query.join(QLatin1Char('&')));
        const HistoryPage page = getHistoryPage(baseUrl, path);
        if (page.reply.status != 200)
            return fail(QStringLiteral("GET %1 -> %2 %3")
                            .arg(path)
                            .arg(page.reply.status)
                            .arg(QString::fromUtf8(page.reply.body.left(300))));
        if (limit > 0 && page.ids.size() > limit)
            return fail(
                QStringLiteral("GET %1 returned %2 > limit items").arg(path).arg(page.ids.size()));
        all += page.ids;
        if (page.ids.isEmpty() || page.nextCursorNull) {
            if (ok)
                *ok = true;
            return all;
        }
        if (page.nextCursor == cursor)
            return fail(QStringLiteral("next_cursor did not advance at %1").arg(path));
        cursor = page.nextCursor;
    }
    return fail(QStringLiteral("history walk did not end within %1 pages").arg(maxPages));
}
} // namespace

QList<quint64> walkBefore(
    const QUrl& baseUrl, qint32 videoId, int limit, bool* ok, QString* error, int maxPages)
{
    return walk(baseUrl, videoId, QStringLiteral("before"), 0, limit, ok, error, maxPages);
}

QList<quint64> walkAfter(const QUrl& baseUrl, qint32 videoId, quint64 start, int limit, bool* ok,
    QString* error, int maxPages)
{
    QList<quint64> all;
    // The first request must carry after=start even when start is 0.
    const QString first = QStringLiteral("/videos/%1/comments?after=%2%3")
                              .arg(videoId)
                              .arg(start)
                              .arg(limit > 0 ? QStringLiteral("&limit=%1").arg(limit) : QString());
    const HistoryPage page = getHistoryPage(baseUrl, first);
    if (page.reply.status != 200) {
        if (ok)
            *ok = false;
        if (error)
            *error = QStringLiteral("GET %1 -> %2 %3")
                         .arg(first)
                         .arg(page.reply.status)
                         .arg(QString::fromUtf8(page.reply.body.left(300)));
        return all;
    }
    all = page.ids;
    if (page.ids.isEmpty() || page.nextCursorNull) {
        if (ok)
            *ok = true;
        return all;
    }
    all += walk(baseUrl, videoId, QStringLiteral("after"), page.nextCursor.toULongLong(), limit, ok,
        error, maxPages);
    return all;
}

QString checkError(const HttpReply& r, int status)
{
    QStringList problems;
    if (r.status != status)
        problems << QStringLiteral("status %1, expected %2").arg(r.status).arg(status);
    QJsonParseError pe {};
    const QJsonDocument doc = QJsonDocument::fromJson(r.body, &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        problems << QStringLiteral("body is not a JSON object");
    } else {
        const QJsonValue err = doc.object().value(QStringLiteral("error"));
        if (!err.isObject()) {
            problems << QStringLiteral("no \"error\" object");
        } else {
            const QJsonObject e = err.toObject();
            if (!e.value(QStringLiteral("code")).isString()
                || e.value(QStringLiteral("code")).toString().isEmpty())
                problems << QStringLiteral("error.code missing or not a non-empty string");
            if (!e.value(QStringLiteral("message")).isString()
                || e.value(QStringLiteral("message")).toString().isEmpty())
                problems << QStringLiteral("error.message missing or not a non-empty string");
        }
    }
    if (!r.header("content-type").startsWith("application/json"))
        problems
            << QStringLiteral("content-type '%1'").arg(QString::fromUtf8(r.header("content-type")));
    if (problems.isEmpty())
        return {};
    return problems.join(QStringLiteral("; ")) + QStringLiteral(" — body: ")
        + QString::fromUtf8(r.body.left(400))
        + (r.error.isEmpty() ? QString() : QStringLiteral(" (") + r.error + QLatin1Char(')'));
}

QList<quint64> acknowledgedIds(const QList<HttpReply>& replies)
{
    QList<quint64> ids;
    for (const HttpReply& r : replies) {
        if (r.status == 201)
            ids.append(r.json().value(QStringLiteral("id")).toString().toULongLong());
    }
    return ids;
}

QList<quint64> sorted(QList<quint64> ids, bool descending)
{
    if (descending)
        std::sort(ids.begin(), ids.end(), std::greater<quint64>());
    else
        std::sort(ids.begin(), ids.end());
    return ids;
}

bool allUnique(const QList<quint64>& ids)
{
    return QSet<quint64>(ids.begin(), ids.end()).size() == ids.size();
}

bool strictlyOrdered(const QList<quint64>& ids, bool descending)
{
    for (qsizetype i = 1; i < ids.size(); ++i) {
        if (descending ? ids[i] >= ids[i - 1] : ids[i] <= ids[i - 1])
            return false;
    }
    return true;
}

QStringList texts(const QString& prefix, int n)
{
    QStringList out;
    out.reserve(n);
    for (int i = 0; i < n; ++i)
        out << QStringLiteral("%1 %2").arg(prefix).arg(i);
    return out;
}

BurstPoster::BurstPoster(
    QUrl baseUrl, QString token, QList<qint32> videoIds, int parallel, QObject* parent)
    : QObject(parent)
    , m_base(std::move(baseUrl))
    , m_token(std::move(token))
    , m_videos(std::move(videoIds))
    , m_parallel(parallel)
    , m_nam(new QNetworkAccessManager(this))
{ }

BurstPoster::~BurstPoster()
{
    m_running = false;
}

void BurstPoster::start()
{
    m_running = true;
    launch();
}

int BurstPoster::acknowledgedCount() const
{
    int n = 0;
    for (const auto& ids : m_acked)
        n += int(ids.size());
    return n;
}

void BurstPoster::stop(int timeoutMs)
{
    m_running = false;
    (void)QTest::qWaitFor([this] { return m_inFlight == 0; }, timeoutMs);
}

void BurstPoster::launch()
{
    while (m_running && m_inFlight < m_parallel) {
        const int n = m_next++;
        const qint32 video = m_videos.at(n % m_videos.size());
        QNetworkRequest req(endpoint(m_base, QStringLiteral("/videos/%1/comments").arg(video)));
        req.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
        req.setRawHeader("Content-Type", "application/json");
        req.setRawHeader("Authorization", "Bearer " + m_token.toUtf8());
        req.setTransferTimeout(10000);
        const QByteArray body = QJsonDocument(
            QJsonObject { { QStringLiteral("text"), QStringLiteral("burst %1").arg(n) } })
                                    .toJson(QJsonDocument::Compact);
        QNetworkReply* r = m_nam->post(req, body);
        ++m_inFlight;
        connect(r, &QNetworkReply::finished, this, [this, r, video] {
            --m_inFlight;
            ++m_responses;
            const int status = r->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
            const QByteArray body = r->readAll();
            if (status == 201) {
                m_acked[video].append(QJsonDocument::fromJson(body)
                                          .object()
                                          .value(QStringLiteral("id"))
                                          .toString()
                                          .toULongLong());
            } else {
                ++m_other[status];
                if (status != 0) {
                    m_otherBodies.append(body.left(300));
                    if (m_otherBodies.size() > 50)
                        m_otherBodies.removeFirst();
                }
            }
            r->deleteLater();
            if (status == 0) // server gone or restarting: do not spin on refused connections
                QTimer::singleShot(50, this, [this] { launch(); });
            else
                launch();
        });
    }
}

} // namespace lctest
