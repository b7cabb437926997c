// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/qt/comment.h"

#include <QAbstractListModel>
#include <QList>
#include <QSet>
#include <QtQml/qqmlregistration.h>

#include <deque>

namespace livecomments::qt {

/// The comments of one video, kept sorted by id, for a QML ListView.
///
/// Change granularity is chosen for views (docs/qt-binding.md):
/// - live arrivals (addLive) are queued and flushed once per event-loop turn as ONE
///   beginInsertRows at the newest end (a late id that sorts inside the list is inserted where
///   it belongs, separately; that only happens on multi-node overlap);
/// - an older page (addOlder) is inserted in ONE insertion at the oldest end, so rows the
///   reader is looking at keep their identity;
/// - rows beyond maximumCount are trimmed from the oldest end in ONE removal (only while
///   autoTrim is on, i.e. while the reader follows the live edge);
/// - remove(id) (a `deleted` event) removes that row; ids already present are dropped;
/// - the user's own posts not stored yet (addOwn) follow the newest comment, in posting order,
///   as rows with `pending` (greyed "sending…") or, once rejected for good, `failed`; when one is
///   stored, settleOwn() turns it into the stored comment IN PLACE (one dataChanged, same row)
///   when that comment sorts where the pending row stood, else removes it and inserts the
///   stored comment at its id position.
///
/// `order` selects how rows map to comments: OldestFirst (row 0 = oldest) or NewestFirst
/// (row 0 = newest, what a `ListView { verticalLayoutDirection: ListView.BottomToTop }` wants).
///
/// Threading: a QObject of the GUI thread; every method must be called on the thread it lives on.
class CommentModel : public QAbstractListModel {
    Q_OBJECT
    QML_ELEMENT
    Q_PROPERTY(int count READ count NOTIFY countChanged)
    Q_PROPERTY(Order order READ order WRITE setOrder NOTIFY orderChanged)
    Q_PROPERTY(int maximumCount READ maximumCount WRITE setMaximumCount NOTIFY maximumCountChanged)
    Q_PROPERTY(bool autoTrim READ autoTrim WRITE setAutoTrim NOTIFY autoTrimChanged)
    Q_PROPERTY(QString ownUserId READ ownUserId WRITE setOwnUserId NOTIFY ownUserIdChanged)
    Q_PROPERTY(QString oldestId READ oldestId NOTIFY countChanged)
    Q_PROPERTY(QString newestId READ newestId NOTIFY countChanged)
public:
    /// Data roles (names in roleNames()).
    enum class Role {
        Id = Qt::UserRole + 1, ///< "commentId": decimal id string
        UserId, ///< "userId"
        UserName, ///< "userName"
        Text, ///< "text": plain text, display it with Text.PlainText
        CreatedAt, ///< "createdAt": QDateTime
        Own, ///< "own": written by ownUserId
        GapBefore, ///< "gapBefore": history before this row may be incomplete
        Pending, ///< "pending": an own post the server has not stored yet (commentId "0")
        Failed, ///< "failed": an own post rejected for good (see "error")
        LocalId, ///< "localId": outbox key of a pending/failed own post, else ""
        Error, ///< "error": why a failed own post failed, else ""
        UserRole, ///< "role": the author's role, "viewer", "streamer" or "moderator"
    };
    Q_ENUM(Role)
    /// Row order.
    enum class Order { OldestFirst, NewestFirst };
    Q_ENUM(Order)

    explicit CommentModel(QObject* parent = nullptr);
    ~CommentModel() override;

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;
    /// The role names, without an instance (tests, documentation).
    static QHash<int, QByteArray> staticRoleNames();

    /// Stored comments plus own pending/failed posts.
    int count() const { return static_cast<int>(m_rows.size() + m_own.size()); }
    Order order() const { return m_order; }
    void setOrder(Order order);
    int maximumCount() const { return m_maximumCount; }
    void setMaximumCount(int maximum);
    bool autoTrim() const { return m_autoTrim; }
    void setAutoTrim(bool on);
    QString ownUserId() const { return m_ownUserId; }
    void setOwnUserId(const QString& id);
    QString oldestId() const;
    QString newestId() const;
    /// The comment at @p row (in the current order); a default Comment when out of range.
    Comment at(int row) const;
    /// Whether a comment with this id is held (or queued).
    bool contains(quint64 id) const { return m_ids.contains(id); }
    /// Number of comments queued by addLive and not yet flushed.
    int pendingCount() const { return static_cast<int>(m_pending.size()); }

    /// Queues a live comment; all arrivals of this event-loop turn become one insertion.
    void addLive(const Comment& comment);
    /// Queues several live comments.
    void addLive(const QList<Comment>& comments);
    /// Inserts queued live comments now (one insertion at the newest end). Returns rows added.
    Q_INVOKABLE int flush();
    /// Inserts an older history page (any order) in one insertion at the oldest end; ids already
    /// held are dropped. Returns rows added.
    int addOlder(const QList<Comment>& comments);
    /// Removes the comment with this id (a `deleted` event). Returns whether it was held.
    bool remove(quint64 id);
    /// Removes rows beyond maximumCount from the oldest end in one removal. Returns rows removed.
    Q_INVOKABLE int trim();
    /// The next live comment inserted gets gapBefore (after a `reset`, history may have a hole).
    void markGap() { m_gapPending = true; }
    /// Appends an own post (Comment::pending or Comment::failed, keyed by Comment::localId)
    /// after the newest comment and the own posts already shown. A localId already held is
    /// ignored.
    void addOwn(const Comment& comment);
    /// Marks the own post @p localId failed, with @p error (kept when empty and one is known).
    /// Returns whether it is held.
    bool markOwnFailed(const QString& localId, const QString& error);
    /// The own post @p localId was stored as @p stored: its row becomes @p stored in place when
    /// it is the first own row and @p stored sorts after every comment held, else it is removed
    /// and @p stored inserted at its id position (unless that id is held already). Returns true
    /// when replaced in place.
    bool settleOwn(const QString& localId, const Comment& stored);
    /// Removes the own post @p localId (discarded, or settled elsewhere). Returns whether it was
    /// held.
    bool removeOwn(const QString& localId);
    /// The row of the own post @p localId, or -1.
    Q_INVOKABLE int rowOfOwn(const QString& localId) const;
    /// Number of own posts shown (pending and failed).
    int ownCount() const { return static_cast<int>(m_own.size()); }
    /// Removes everything.
    Q_INVOKABLE void clear();

signals:
    void countChanged();
    void orderChanged();
    void maximumCountChanged();
    void autoTrimChanged();
    void ownUserIdChanged();
    /// Emitted after a flush inserted @p rows live comments (views use it for "N new comments").
    void liveInserted(int rows);

private:
    int rowOf(std::size_t index) const;
    const Comment& commentAt(std::size_t index) const;
    int ownIndex(const QString& localId) const;
    std::size_t indexOf(int row) const;
    void insertBlock(std::size_t at, const std::vector<Comment>& block);
    void insertSorted(const Comment& comment);
    void scheduleFlush();

    std::deque<Comment> m_rows; ///< sorted by id, oldest first
    QSet<quint64> m_ids; ///< ids held in m_rows or m_pending
    std::vector<Comment> m_pending; ///< live arrivals of this turn
    std::vector<Comment> m_own; ///< own pending/failed posts, after m_rows, in posting order
    Order m_order = Order::OldestFirst;
    int m_maximumCount = 1000;
    bool m_autoTrim = true;
    bool m_flushScheduled = false;
    bool m_gapPending = false;
    QString m_ownUserId;
};

} // namespace livecomments::qt
