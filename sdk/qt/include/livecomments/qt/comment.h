// SPDX-License-Identifier: MIT
#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QString>

#include <optional>

namespace livecomments::qt {

/// One comment as the Qt binding holds it (docs/protocol.md "Objects").
///
/// Threading: a plain value type; copy it freely between threads.
struct Comment {
    quint64 id = 0; ///< snowflake id; ordering of comments = ordering of ids
    qint32 videoId = 0;
    QString userId;
    QString userName;
    QString text;
    QDateTime createdAt;
    bool gapBefore = false; ///< history before this comment may be incomplete (after a `reset`)

    /// The id as the decimal string used on the wire.
    QString idString() const { return QString::number(id); }
    /// Parses the wire JSON object; std::nullopt when the id is missing or not a decimal number.
    static std::optional<Comment> fromJson(const QJsonObject& object);
    /// Parses a decimal id string (the wire form); 0 when invalid.
    static quint64 parseId(const QString& id);
};

} // namespace livecomments::qt
