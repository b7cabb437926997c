// SPDX-License-Identifier: MIT
#pragma once

#include <livecomments/comment.h>

#include <QDateTime>
#include <QString>

namespace livecomments::qt {

/// A core livecomments::Comment as the Qt model holds it (Qt strings, QDateTime) plus the model's
/// own gap mark. Built only from core values (fromCore()); the wire is decoded by the core.
///
/// Threading: a plain value type; copy it freely between threads.
struct Comment {
    quint64 id = 0; ///< snowflake id; ordering of comments = ordering of ids
    qint32 videoId = 0;
    QString userId;
    QString userName;
    QString userRole = QStringLiteral("viewer"); ///< "viewer", "streamer" or "moderator"
    QString text;
    QDateTime createdAt;
    bool gapBefore = false; ///< history before this comment may be incomplete (after a `reset`)
    /// An own post the server has not stored yet (id 0, keyed by localId).
    bool pending = false;
    /// An own post rejected for good; error says why.
    bool failed = false;
    QString localId; ///< outbox key of a pending or failed own post; empty otherwise
    QString error; ///< why a failed own post failed (the outbox entry's error message)

    /// The id as the decimal string used on the wire.
    QString idString() const { return QString::number(id); }
    /// The Qt view of core's @p comment.
    static Comment fromCore(const livecomments::Comment& comment);
    /// Parses a decimal id string (the wire form); 0 when invalid.
    static quint64 parseId(const QString& id);
};

} // namespace livecomments::qt
