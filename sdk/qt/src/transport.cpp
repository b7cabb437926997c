// SPDX-License-Identifier: MIT
#include "livecomments/qt/transport.h"

#include "curl_transport.h"
#include "qt_network_transport.h"

#include <livecomments/sse_parser.h>

#include <QJsonDocument>

namespace livecomments::qt {

std::unique_ptr<Transport> Transport::create(Kind kind, QObject* parent)
{
    if (kind == Kind::Curl)
        return std::make_unique<CurlTransport>(parent);
    return std::make_unique<QtNetworkTransport>(parent);
}

Transport::Transport(QObject* parent)
    : QObject(parent)
{ }

Transport::~Transport() = default;

void Transport::setState(State state, int attempt, int delayMs)
{
    if (state == m_state && attempt == m_attempt && delayMs == m_delayMs)
        return;
    m_state = state;
    m_attempt = attempt;
    m_delayMs = delayMs;
    emit stateChanged();
}

QUrl Transport::urlFor(const QString& pathAndQuery) const
{
    QUrl base = m_server;
    QString path = base.path();
    while (path.endsWith(QLatin1Char('/')))
        path.chop(1);
    const qsizetype q = pathAndQuery.indexOf(QLatin1Char('?'));
    base.setPath(path + (q < 0 ? pathAndQuery : pathAndQuery.left(q)));
    base.setQuery(q < 0 ? QString() : pathAndQuery.mid(q + 1));
    return base;
}

QUrl Transport::streamUrl(qint32 videoId) const
{
    return urlFor(QStringLiteral("/videos/%1/subscriptions").arg(videoId));
}

bool Transport::isFatalStatus(int status)
{
    // The reconnect table of docs/sdk.md "Streams": no reconnect on 401/403/404/204 (204 = "stop",
    // as in WHATWG EventSource); 5xx and 429 are load shedding and are retried with backoff.
    return status == 204 || status == 401 || status == 403 || status == 404 || status == 400
        || status == 405;
}

void Transport::resetDedupe()
{
    m_seen.clear();
    m_seenOrder.clear();
}

void Transport::setEnded(bool ended)
{
    if (ended == m_ended)
        return;
    m_ended = ended;
    if (ended)
        emit videoEnded();
}

void Transport::dispatchEvent(const SseEvent& event)
{
    const QByteArray data = QByteArray::fromStdString(event.data);
    const QJsonObject object = QJsonDocument::fromJson(data).object();
    if (!event.lastEventId.empty())
        m_lastEventId = QString::fromStdString(event.lastEventId);
    if (event.type == "comment") {
        auto comment = Comment::fromJson(object);
        if (!comment || m_seen.contains(comment->id))
            return;
        m_seen.insert(comment->id);
        m_seenOrder.push_back(comment->id);
        if (m_seenOrder.size() > kDedupeWindow) {
            m_seen.remove(m_seenOrder.front());
            m_seenOrder.pop_front();
        }
        emit commentReceived(*comment);
    } else if (event.type == "deleted") {
        const quint64 id
            = Comment::parseId(object.value(QStringLiteral("id")).toVariant().toString());
        if (id != 0)
            emit commentDeleted(id);
    } else if (event.type == "hello") {
        const int heartbeat = object.value(QStringLiteral("heartbeat_ms")).toInt(15000);
        setState(State::Live);
        emit hello(object.value(QStringLiteral("resumed")).toBool(), heartbeat);
    } else if (event.type == "reset") {
        emit resetReceived(object.value(QStringLiteral("reason")).toString());
    } else if (event.type == "ended") {
        // The QtNetwork transport's decoding of `ended` (the Curl transport gets core's
        // Subscription onEnded, decoded in one place there).
        if (object.value(QStringLiteral("video_id")).toInt() > 0)
            setEnded(true);
    } else if (event.type == "stats") {
        emit statsReceived(object.value(QStringLiteral("viewers")).toInt());
    }
    // Unknown event types are ignored (forward compatibility).
}

} // namespace livecomments::qt
