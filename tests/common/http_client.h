// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QPair>
#include <QStringList>
#include <QUrl>

namespace lctest {

using HeaderList = QList<QPair<QByteArray, QByteArray>>;

/// One HTTP response. status is 0 when no response arrived (connection error or timeout; then
/// `error` says why).
struct HttpReply {
    int status = 0;
    QByteArray body;
    QMap<QByteArray, QByteArray> headers; ///< lower-case keys
    QString error; ///< transport error text, empty on a response
    /// The body parsed as a JSON object (empty object when it is not one).
    QJsonObject json() const;
    /// error.code / error.message of a `{"error":{"code","message"}}` body (empty when absent).
    QString errorCode() const;
    QString errorMessage() const;
    QByteArray header(const QByteArray& lowerName) const { return headers.value(lowerName); }
};

/// One request for httpMany().
struct HttpRequest {
    QByteArray method;
    QUrl url;
    QByteArray body;
    HeaderList headers;
};

/**
 * Sends one request through a per-thread QNetworkAccessManager and runs a local event loop until
 * the response (or timeoutMs) — other objects on the thread (SseReader, QTcpServer) keep working
 * meanwhile. Redirects are not followed, HTTP/2 is off, and a request with a body but no
 * Content-Type header gets `Content-Type: application/json`.
 *
 * Threading: call from a thread with a Qt event dispatcher (the test's main thread).
 */
HttpReply http(const QByteArray& method, const QUrl& url, const QByteArray& body = {},
    const HeaderList& headers = {}, int timeoutMs = 10000);

/// Runs all requests with at most `parallel` in flight; replies in the order of `requests`.
QList<HttpReply> httpMany(
    const QList<HttpRequest>& requests, int parallel = 6, int timeoutMs = 30000);

/**
 * Writes `rawRequest` verbatim to 127.0.0.1:port over a fresh QTcpSocket and reads the response
 * until the server closes the connection, a complete Content-Length body arrived, or timeoutMs.
 * For requests QNetworkAccessManager would not send (bad framing, odd headers, wrong lengths).
 */
HttpReply rawHttp(quint16 port, const QByteArray& rawRequest, int timeoutMs = 10000);

/// Drops the per-thread manager's kept-alive connections (ServerProcess calls it on start/exit).
void resetHttpConnections();

/// `Authorization: Bearer <token>` (empty list for an empty token).
HeaderList bearer(const QString& token);

/// POST /videos {"title"} with the token; returns the new id, or 0 on failure (with a qWarning).
qint32 createVideo(
    const QUrl& baseUrl, const QString& token, const QString& title = QStringLiteral("test video"));

/// POST /videos/{id}/comments {"text"} with the token (plus extra headers).
HttpReply postComment(const QUrl& baseUrl, const QString& token, qint32 videoId,
    const QString& text, const HeaderList& extraHeaders = {});

/// Posts `texts` concurrently (`parallel` in flight); replies in order of `texts`.
QList<HttpReply> postComments(const QUrl& baseUrl, const QString& token, qint32 videoId,
    const QStringList& texts, int parallel = 6);

/// `baseUrl` + path (path may carry a query string, e.g. "/videos/1/comments?limit=5").
QUrl endpoint(const QUrl& baseUrl, const QString& pathAndQuery);

/// The value of one Prometheus sample from /metrics text: the first line whose series (name plus
/// optional labels) starts with `series`; NaN when absent.
double metricValue(const QByteArray& metricsText, const QByteArray& series);

} // namespace lctest
