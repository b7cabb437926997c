// SPDX-License-Identifier: MIT
#pragma once

#include "http_client.h"

#include <QList>
#include <QMap>
#include <QObject>
#include <QSet>
#include <QString>
#include <QUrl>

class QNetworkAccessManager;

namespace lctest {

/// One page of GET /videos/{id}/comments.
struct HistoryPage {
    HttpReply reply;
    QList<quint64> ids; ///< in response order
    QString nextCursor; ///< empty when null/absent
    bool nextCursorNull = false;
};

/// GET baseUrl + pathAndQuery and parse it as a history page.
HistoryPage getHistoryPage(
    const QUrl& baseUrl, const QString& pathAndQuery, const HeaderList& headers = {});

/// Walks `GET /videos/{id}/comments?before=…` from the newest page to the end (next_cursor null or
/// an empty page) with the given limit (0 = no limit parameter). `ok` is false when a page failed
/// or the walk did not end within maxPages; `error` then says why.
QList<quint64> walkBefore(const QUrl& baseUrl, qint32 videoId, int limit, bool* ok = nullptr,
    QString* error = nullptr, int maxPages = 2000);
/// Walks `?after=<start>` forward (oldest first) until next_cursor is null or a page is empty.
QList<quint64> walkAfter(const QUrl& baseUrl, qint32 videoId, quint64 start, int limit,
    bool* ok = nullptr, QString* error = nullptr, int maxPages = 2000);

/// Empty when `r` is a well-formed error: the given status and a JSON body
/// {"error":{"code":<non-empty string>,"message":<non-empty string>}}; otherwise a description
/// of what is wrong (for QVERIFY2).
QString checkError(const HttpReply& r, int status);

/// Ids of the comments in replies that are 201 with a comment id.
QList<quint64> acknowledgedIds(const QList<HttpReply>& replies);

/// Sorted copy.
QList<quint64> sorted(QList<quint64> ids, bool descending = false);
/// True when ids has no duplicate.
bool allUnique(const QList<quint64>& ids);
/// True when strictly increasing (or decreasing with descending).
bool strictlyOrdered(const QList<quint64>& ids, bool descending = false);

/// n distinct comment texts with a prefix ("<prefix> 0", "<prefix> 1", ...).
QStringList texts(const QString& prefix, int n);

/**
 * Keeps `parallel` POST /videos/{id}/comments requests in flight until stop(), round-robin over
 * `videoIds`, and records which comments were acknowledged (201) — for durability tests that
 * stop or kill the server mid-burst.
 *
 * Threading: lives on the creating thread and needs its event loop (use QTRY_* / qWaitFor while
 * it runs). Not thread-safe.
 */
class BurstPoster : public QObject {
    Q_OBJECT
public:
    BurstPoster(QUrl baseUrl, QString token, QList<qint32> videoIds, int parallel = 8,
        QObject* parent = nullptr);
    ~BurstPoster() override;
    void start();
    /// Stops launching new requests; waits (event loop) for in-flight ones up to timeoutMs.
    void stop(int timeoutMs = 15000);
    /// Comment ids acknowledged with 201, per video.
    QMap<qint32, QList<quint64>> acknowledged() const { return m_acked; }
    int acknowledgedCount() const;
    int responses() const { return m_responses; }
    /// Statuses of non-201 responses (0 = transport error), counted.
    QMap<int, int> otherStatuses() const { return m_other; }
    /// Bodies of non-201 responses that had an HTTP status (last 50), for diagnostics.
    QList<QByteArray> otherBodies() const { return m_otherBodies; }

private:
    void launch();

    QUrl m_base;
    QString m_token;
    QList<qint32> m_videos;
    int m_parallel;
    bool m_running = false;
    int m_inFlight = 0;
    int m_next = 0;
    int m_responses = 0;
    QMap<qint32, QList<quint64>> m_acked;
    QMap<int, int> m_other;
    QList<QByteArray> m_otherBodies;
    QNetworkAccessManager* m_nam = nullptr;
};

} // namespace lctest
