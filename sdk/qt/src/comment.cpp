// SPDX-License-Identifier: MIT
#include "livecomments/qt/comment.h"

namespace livecomments::qt {

quint64 Comment::parseId(const QString& id)
{
    return livecomments::parseCommentId(id.toStdString()).value_or(0);
}

Comment Comment::fromCore(const livecomments::Comment& c)
{
    Comment out;
    out.id = c.id;
    out.videoId = c.videoId;
    out.userId = QString::fromStdString(c.user.id);
    out.userName = QString::fromStdString(c.user.name);
    out.userRole = QString::fromStdString(c.user.role);
    out.text = QString::fromStdString(c.text);
    out.createdAt = QDateTime::fromString(QString::fromStdString(c.createdAt), Qt::ISODateWithMs);
    out.pending = c.pending;
    out.failed = c.failed;
    out.localId = QString::fromStdString(c.localId);
    return out;
}

} // namespace livecomments::qt
