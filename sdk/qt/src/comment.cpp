// SPDX-License-Identifier: MIT
#include "livecomments/qt/comment.h"

namespace livecomments::qt {

quint64 Comment::parseId(const QString& id)
{
    bool ok = false;
    const quint64 value = id.toULongLong(&ok, 10);
    return ok ? value : 0;
}

std::optional<Comment> Comment::fromJson(const QJsonObject& object)
{
    Comment c;
    // Ids are decimal strings on the wire (docs/protocol.md "Identifiers"); accept a number too, as
    // servers may.
    const QJsonValue id = object.value(QStringLiteral("id"));
    c.id = id.isString() ? parseId(id.toString()) : static_cast<quint64>(id.toDouble());
    if (c.id == 0)
        return std::nullopt;
    c.videoId = object.value(QStringLiteral("video_id")).toVariant().toInt();
    const QJsonObject user = object.value(QStringLiteral("user")).toObject();
    const QJsonValue userId = user.value(QStringLiteral("id"));
    c.userId = userId.isString() ? userId.toString() : QString::number(userId.toInteger());
    c.userName = user.value(QStringLiteral("name")).toString();
    c.text = object.value(QStringLiteral("text")).toString();
    c.createdAt = QDateTime::fromString(
        object.value(QStringLiteral("created_at")).toString(), Qt::ISODateWithMs);
    return c;
}

} // namespace livecomments::qt
