// SPDX-License-Identifier: MIT
#include "livecomments/qt/comment_model.h"

#include <QMetaObject>

#include <algorithm>

namespace livecomments::qt {

namespace {
bool byId(const Comment& a, const Comment& b)
{
    return a.id < b.id;
}
} // namespace

CommentModel::CommentModel(QObject* parent)
    : QAbstractListModel(parent)
{ }

CommentModel::~CommentModel() = default;

int CommentModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : count();
}

std::size_t CommentModel::indexOf(int row) const
{
    return m_order == Order::OldestFirst ? static_cast<std::size_t>(row)
                                         : static_cast<std::size_t>(count() - 1 - row);
}

int CommentModel::rowOf(std::size_t index) const
{
    // Combined index: stored rows, then own posts.
    return m_order == Order::OldestFirst ? static_cast<int>(index)
                                         : count() - 1 - static_cast<int>(index);
}

QVariant CommentModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Comment& c = commentAt(indexOf(index.row()));
    switch (static_cast<Role>(role)) {
    case Role::Id:
        return c.idString();
    case Role::UserId:
        return c.userId;
    case Role::UserName:
        return c.userName;
    case Role::Text:
        return c.text;
    case Role::CreatedAt:
        return c.createdAt;
    case Role::Own:
        return c.pending || c.failed || (!m_ownUserId.isEmpty() && c.userId == m_ownUserId);
    case Role::GapBefore:
        return c.gapBefore;
    case Role::Pending:
        return c.pending;
    case Role::Failed:
        return c.failed;
    case Role::LocalId:
        return c.localId;
    case Role::Error:
        return c.error;
    case Role::UserRole:
        return c.userRole;
    }
    if (role == Qt::DisplayRole)
        return c.text;
    return {};
}

QHash<int, QByteArray> CommentModel::staticRoleNames()
{
    return {
        { static_cast<int>(Role::Id), "commentId" },
        { static_cast<int>(Role::UserId), "userId" },
        { static_cast<int>(Role::UserName), "userName" },
        { static_cast<int>(Role::Text), "text" },
        { static_cast<int>(Role::CreatedAt), "createdAt" },
        { static_cast<int>(Role::Own), "own" },
        { static_cast<int>(Role::GapBefore), "gapBefore" },
        { static_cast<int>(Role::Pending), "pending" },
        { static_cast<int>(Role::Failed), "failed" },
        { static_cast<int>(Role::LocalId), "localId" },
        { static_cast<int>(Role::Error), "error" },
        { static_cast<int>(Role::UserRole), "role" },
    };
}

QHash<int, QByteArray> CommentModel::roleNames() const
{
    return staticRoleNames();
}

void CommentModel::setOrder(Order order)
{
    if (order == m_order)
        return;
    beginResetModel();
    m_order = order;
    endResetModel();
    emit orderChanged();
}

void CommentModel::setMaximumCount(int maximum)
{
    maximum = std::max(1, maximum);
    if (maximum == m_maximumCount)
        return;
    m_maximumCount = maximum;
    emit maximumCountChanged();
    if (m_autoTrim)
        trim();
}

void CommentModel::setAutoTrim(bool on)
{
    if (on == m_autoTrim)
        return;
    m_autoTrim = on;
    emit autoTrimChanged();
    if (m_autoTrim)
        trim();
}

void CommentModel::setOwnUserId(const QString& id)
{
    if (id == m_ownUserId)
        return;
    m_ownUserId = id;
    emit ownUserIdChanged();
    if (!m_rows.empty())
        emit dataChanged(index(0), index(count() - 1), { static_cast<int>(Role::Own) });
}

QString CommentModel::oldestId() const
{
    return m_rows.empty() ? QString() : m_rows.front().idString();
}

QString CommentModel::newestId() const
{
    return m_rows.empty() ? QString() : m_rows.back().idString();
}

const Comment& CommentModel::commentAt(std::size_t index) const
{
    return index < m_rows.size() ? m_rows[index] : m_own[index - m_rows.size()];
}

Comment CommentModel::at(int row) const
{
    if (row < 0 || row >= count())
        return {};
    return commentAt(indexOf(row));
}

int CommentModel::ownIndex(const QString& localId) const
{
    if (localId.isEmpty())
        return -1;
    for (std::size_t k = 0; k < m_own.size(); ++k) {
        if (m_own[k].localId == localId)
            return static_cast<int>(k);
    }
    return -1;
}

int CommentModel::rowOfOwn(const QString& localId) const
{
    const int k = ownIndex(localId);
    return k < 0 ? -1 : rowOf(m_rows.size() + static_cast<std::size_t>(k));
}

void CommentModel::addOwn(const Comment& comment)
{
    if (comment.localId.isEmpty() || ownIndex(comment.localId) >= 0)
        return;
    const int s = count();
    const int row = m_order == Order::OldestFirst ? s : 0;
    beginInsertRows({}, row, row);
    m_own.push_back(comment);
    endInsertRows();
    emit countChanged();
}

bool CommentModel::markOwnFailed(const QString& localId, const QString& error)
{
    const int k = ownIndex(localId);
    if (k < 0)
        return false;
    Comment& c = m_own[static_cast<std::size_t>(k)];
    if (c.failed && (error.isEmpty() || error == c.error))
        return true;
    c.pending = false;
    c.failed = true;
    if (!error.isEmpty())
        c.error = error;
    const QModelIndex at = index(rowOf(m_rows.size() + static_cast<std::size_t>(k)));
    emit dataChanged(at, at,
        { static_cast<int>(Role::Pending), static_cast<int>(Role::Failed),
            static_cast<int>(Role::Error) });
    return true;
}

bool CommentModel::settleOwn(const QString& localId, const Comment& stored)
{
    // Queued live arrivals first: "sorts after every comment held" must see them.
    flush();
    const int k = ownIndex(localId);
    const bool known = stored.id == 0 || m_ids.contains(stored.id);
    if (k == 0 && !known && (m_rows.empty() || stored.id > m_rows.back().id)) {
        // The stored comment takes the pending row's place: the same combined index, so the
        // same row in either order; the delegate stays and only its data changes.
        m_own.erase(m_own.begin());
        m_rows.push_back(stored);
        m_ids.insert(stored.id);
        const QModelIndex at = index(rowOf(m_rows.size() - 1));
        emit dataChanged(at, at);
        emit countChanged(); // newestId changed
        return true;
    }
    removeOwn(localId);
    if (!known) {
        m_ids.insert(stored.id);
        insertSorted(stored);
        if (m_autoTrim)
            trim();
        emit countChanged();
    }
    return false;
}

bool CommentModel::removeOwn(const QString& localId)
{
    const int k = ownIndex(localId);
    if (k < 0)
        return false;
    const int row = rowOf(m_rows.size() + static_cast<std::size_t>(k));
    beginRemoveRows({}, row, row);
    m_own.erase(m_own.begin() + k);
    endRemoveRows();
    emit countChanged();
    return true;
}

void CommentModel::addLive(const Comment& comment)
{
    if (comment.id == 0 || m_ids.contains(comment.id))
        return;
    m_ids.insert(comment.id);
    m_pending.push_back(comment);
    scheduleFlush();
}

void CommentModel::addLive(const QList<Comment>& comments)
{
    for (const Comment& c : comments)
        addLive(c);
}

void CommentModel::scheduleFlush()
{
    if (m_flushScheduled)
        return;
    m_flushScheduled = true;
    // A queued call runs after every event already posted in this turn, so a burst of stream
    // events read from one socket read becomes one model insertion.
    QMetaObject::invokeMethod(this, &CommentModel::flush, Qt::QueuedConnection);
}

void CommentModel::insertBlock(std::size_t at, const std::vector<Comment>& block)
{
    if (block.empty())
        return;
    const int s = count();
    const int n = static_cast<int>(block.size());
    const int a = static_cast<int>(at);
    const int first = m_order == Order::OldestFirst ? a : s - a;
    beginInsertRows({}, first, first + n - 1);
    m_rows.insert(m_rows.begin() + static_cast<std::ptrdiff_t>(at), block.begin(), block.end());
    endInsertRows();
}

void CommentModel::insertSorted(const Comment& comment)
{
    const auto it = std::lower_bound(m_rows.begin(), m_rows.end(), comment, byId);
    insertBlock(static_cast<std::size_t>(it - m_rows.begin()), { comment });
}

int CommentModel::flush()
{
    m_flushScheduled = false;
    if (m_pending.empty())
        return 0;
    std::vector<Comment> batch;
    batch.swap(m_pending);
    std::sort(batch.begin(), batch.end(), byId);
    if (m_gapPending) {
        batch.front().gapBefore = true;
        m_gapPending = false;
    }
    const quint64 newest = m_rows.empty() ? 0 : m_rows.back().id;
    const auto split = std::upper_bound(
        batch.begin(), batch.end(), newest, [](quint64 id, const Comment& c) { return id < c.id; });
    const int added = static_cast<int>(batch.size());
    // Late ids (overlap replay of another node) go where they sort, one by one: rare.
    for (auto it = batch.begin(); it != split; ++it)
        insertSorted(*it);
    insertBlock(m_rows.size(), std::vector<Comment>(split, batch.end()));
    if (m_autoTrim)
        trim();
    emit countChanged();
    emit liveInserted(added);
    return added;
}

int CommentModel::addOlder(const QList<Comment>& comments)
{
    flush();
    std::vector<Comment> page;
    page.reserve(static_cast<std::size_t>(comments.size()));
    for (const Comment& c : comments) {
        if (c.id == 0 || m_ids.contains(c.id))
            continue;
        m_ids.insert(c.id);
        page.push_back(c);
    }
    if (page.empty())
        return 0;
    std::sort(page.begin(), page.end(), byId);
    const quint64 oldest = m_rows.empty() ? ~quint64(0) : m_rows.front().id;
    const auto split = std::lower_bound(
        page.begin(), page.end(), oldest, [](const Comment& c, quint64 id) { return c.id < id; });
    const int added = static_cast<int>(page.size());
    insertBlock(0, std::vector<Comment>(page.begin(), split));
    for (auto it = split; it != page.end(); ++it)
        insertSorted(*it);
    emit countChanged();
    return added;
}

bool CommentModel::remove(quint64 id)
{
    if (!m_ids.contains(id))
        return false;
    m_ids.remove(id);
    const auto pending = std::find_if(
        m_pending.begin(), m_pending.end(), [id](const Comment& c) { return c.id == id; });
    if (pending != m_pending.end()) {
        m_pending.erase(pending);
        return true;
    }
    Comment key;
    key.id = id;
    const auto it = std::lower_bound(m_rows.begin(), m_rows.end(), key, byId);
    if (it == m_rows.end() || it->id != id)
        return false;
    const int row = rowOf(static_cast<std::size_t>(it - m_rows.begin()));
    beginRemoveRows({}, row, row);
    m_rows.erase(it);
    endRemoveRows();
    emit countChanged();
    return true;
}

int CommentModel::trim()
{
    // Own posts are never trimmed: only stored comments, from the oldest end.
    const int excess = std::min(count() - m_maximumCount, static_cast<int>(m_rows.size()));
    if (excess <= 0)
        return 0;
    const int s = count();
    const int first = m_order == Order::OldestFirst ? 0 : s - excess;
    beginRemoveRows({}, first, first + excess - 1);
    for (int i = 0; i < excess; ++i) {
        m_ids.remove(m_rows.front().id);
        m_rows.pop_front();
    }
    endRemoveRows();
    emit countChanged();
    return excess;
}

void CommentModel::clear()
{
    beginResetModel();
    m_rows.clear();
    m_pending.clear();
    m_own.clear();
    m_ids.clear();
    m_gapPending = false;
    endResetModel();
    emit countChanged();
}

} // namespace livecomments::qt
