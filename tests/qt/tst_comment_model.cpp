// SPDX-License-Identifier: MIT
// CommentModel under QAbstractItemModelTester: live batches, older pages, trims, deletions and
// duplicates, in both row orders.
#include "livecomments/qt/comment_model.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>

#include <algorithm>

using livecomments::qt::Comment;
using livecomments::qt::CommentModel;

namespace {
Comment make(quint64 id, const QString& user = QStringLiteral("7"))
{
    Comment c;
    c.id = id;
    c.videoId = 1;
    c.userId = user;
    c.userName = QStringLiteral("user") + user;
    c.text = QStringLiteral("comment %1").arg(id);
    return c;
}

QList<Comment> range(quint64 first, quint64 last)
{
    QList<Comment> out;
    for (quint64 id = first; id <= last; ++id)
        out.append(make(id));
    return out;
}

/// The ids in row order.
QList<quint64> ids(const CommentModel& model)
{
    QList<quint64> out;
    for (int row = 0; row < model.rowCount(); ++row)
        out.append(model.index(row).data(int(CommentModel::Role::Id)).toString().toULongLong());
    return out;
}

QList<quint64> seq(quint64 first, quint64 last)
{
    QList<quint64> out;
    if (first <= last) {
        for (quint64 id = first; id <= last; ++id)
            out.append(id);
    } else {
        for (quint64 id = first; id >= last; --id)
            out.append(id);
    }
    return out;
}
} // namespace

class TstCommentModel : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void orders_data();
    void liveArrivalsAreOneInsertionPerTurn_data() { orders_data(); }
    void liveArrivalsAreOneInsertionPerTurn();
    void olderPageIsOneInsertionAtOldestEnd_data() { orders_data(); }
    void olderPageIsOneInsertionAtOldestEnd();
    void trimRemovesOldestInOneRemoval_data() { orders_data(); }
    void trimRemovesOldestInOneRemoval();
    void trimWaitsWhileAutoTrimOff();
    void deletedEventRemovesRow_data() { orders_data(); }
    void deletedEventRemovesRow();
    void duplicatesDropped();
    void lateIdsSortIn();
    void gapMarkerAndOwnRole();
    void roleNamesAreStatic();
    void ownPostSettlesInPlace_data() { orders_data(); }
    void ownPostSettlesInPlace();
    void ownPostSettlesAtItsIdWhenOvertaken_data() { orders_data(); }
    void ownPostSettlesAtItsIdWhenOvertaken();
    void ownPostFailsAndIsRemoved();
    void ownRowsAreNeverTrimmed();
    void authorRoleRole();

private:
    CommentModel* m_model = nullptr;
    QAbstractItemModelTester* m_tester = nullptr;
};

void TstCommentModel::init()
{
    m_model = new CommentModel;
    m_tester = new QAbstractItemModelTester(
        m_model, QAbstractItemModelTester::FailureReportingMode::QtTest);
}

void TstCommentModel::cleanup()
{
    delete m_tester;
    delete m_model;
    m_tester = nullptr;
    m_model = nullptr;
}

void TstCommentModel::orders_data()
{
    QTest::addColumn<CommentModel::Order>("order");
    QTest::newRow("oldest-first") << CommentModel::Order::OldestFirst;
    QTest::newRow("newest-first") << CommentModel::Order::NewestFirst;
}

void TstCommentModel::liveArrivalsAreOneInsertionPerTurn()
{
    QFETCH(CommentModel::Order, order);
    m_model->setOrder(order);
    QSignalSpy inserted(m_model, &QAbstractItemModel::rowsInserted);
    QSignalSpy live(m_model, &CommentModel::liveInserted);
    for (quint64 id = 10; id < 20; ++id)
        m_model->addLive(make(id));
    QCOMPARE(m_model->rowCount(), 0); // nothing before the event loop turns
    QCOMPARE(m_model->pendingCount(), 10);
    QTRY_COMPARE(m_model->rowCount(), 10);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(live.count(), 1);
    QCOMPARE(live.at(0).at(0).toInt(), 10);

    // The second burst goes at the newest end, again in one insertion.
    inserted.clear();
    m_model->addLive(range(20, 24));
    QTRY_COMPARE(m_model->rowCount(), 15);
    QCOMPARE(inserted.count(), 1);
    const int first = inserted.at(0).at(1).toInt();
    const int last = inserted.at(0).at(2).toInt();
    QCOMPARE(last - first + 1, 5);
    if (order == CommentModel::Order::OldestFirst) {
        QCOMPARE(first, 10);
        QCOMPARE(ids(*m_model), seq(10, 24));
        QCOMPARE(m_model->newestId(), QStringLiteral("24"));
    } else {
        QCOMPARE(first, 0);
        QCOMPARE(ids(*m_model), seq(24, 10));
    }
}

void TstCommentModel::olderPageIsOneInsertionAtOldestEnd()
{
    QFETCH(CommentModel::Order, order);
    m_model->setOrder(order);
    m_model->addLive(range(100, 109));
    m_model->flush();
    // A view holding the newest row by persistent index must keep it across the prepend.
    const QPersistentModelIndex newest
        = m_model->index(order == CommentModel::Order::OldestFirst ? 9 : 0);
    QSignalSpy inserted(m_model, &QAbstractItemModel::rowsInserted);
    QList<Comment> page = range(80, 99);
    std::reverse(page.begin(), page.end()); // history arrives newest first
    QCOMPARE(m_model->addOlder(page), 20);
    QCOMPARE(inserted.count(), 1);
    const int first = inserted.at(0).at(1).toInt();
    QCOMPARE(inserted.at(0).at(2).toInt() - first + 1, 20);
    QCOMPARE(first, order == CommentModel::Order::OldestFirst ? 0 : 10);
    QVERIFY(newest.isValid());
    QCOMPARE(newest.data(int(CommentModel::Role::Id)).toString(), QStringLiteral("109"));
    QCOMPARE(m_model->oldestId(), QStringLiteral("80"));
    QCOMPARE(
        ids(*m_model), order == CommentModel::Order::OldestFirst ? seq(80, 109) : seq(109, 80));
}

void TstCommentModel::trimRemovesOldestInOneRemoval()
{
    QFETCH(CommentModel::Order, order);
    m_model->setOrder(order);
    m_model->setMaximumCount(50);
    m_model->addLive(range(1, 40));
    m_model->flush();
    QSignalSpy removed(m_model, &QAbstractItemModel::rowsRemoved);
    m_model->addLive(range(41, 70));
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 50);
    QCOMPARE(removed.count(), 1);
    QCOMPARE(removed.at(0).at(2).toInt() - removed.at(0).at(1).toInt() + 1, 20);
    QCOMPARE(removed.at(0).at(1).toInt(), order == CommentModel::Order::OldestFirst ? 0 : 50);
    QCOMPARE(m_model->oldestId(), QStringLiteral("21"));
    QCOMPARE(m_model->newestId(), QStringLiteral("70"));
}

void TstCommentModel::trimWaitsWhileAutoTrimOff()
{
    m_model->setMaximumCount(10);
    m_model->setAutoTrim(false); // the reader scrolled up: do not pull rows away
    m_model->addLive(range(1, 30));
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 30);
    QSignalSpy removed(m_model, &QAbstractItemModel::rowsRemoved);
    m_model->setAutoTrim(true);
    QCOMPARE(m_model->rowCount(), 10);
    QCOMPARE(removed.count(), 1);
    QCOMPARE(ids(*m_model), seq(21, 30));
}

void TstCommentModel::deletedEventRemovesRow()
{
    QFETCH(CommentModel::Order, order);
    m_model->setOrder(order);
    m_model->addLive(range(1, 10));
    m_model->flush();
    QSignalSpy removed(m_model, &QAbstractItemModel::rowsRemoved);
    QVERIFY(m_model->remove(4));
    QCOMPARE(removed.count(), 1);
    QCOMPARE(removed.at(0).at(1).toInt(), order == CommentModel::Order::OldestFirst ? 3 : 6);
    QVERIFY(!m_model->remove(4));
    QVERIFY(!m_model->remove(999));
    QCOMPARE(m_model->rowCount(), 9);
    QVERIFY(!ids(*m_model).contains(4));
    // A deletion of a comment still queued removes it before it is ever shown.
    m_model->addLive(make(11));
    QVERIFY(m_model->remove(11));
    m_model->flush();
    QCOMPARE(m_model->rowCount(), 9);
}

void TstCommentModel::duplicatesDropped()
{
    m_model->addLive(range(1, 5));
    m_model->addLive(range(3, 7)); // overlap replay after a reconnect
    m_model->flush();
    QCOMPARE(ids(*m_model), seq(1, 7));
    m_model->addLive(range(5, 8));
    m_model->flush();
    QCOMPARE(ids(*m_model), seq(1, 8));
    QSignalSpy inserted(m_model, &QAbstractItemModel::rowsInserted);
    QCOMPARE(m_model->addOlder(range(1, 8)), 0);
    QCOMPARE(inserted.count(), 0);
    QCOMPARE(m_model->addOlder(range(0, 3)), 0); // id 0 is invalid
    QCOMPARE(m_model->rowCount(), 8);
}

void TstCommentModel::lateIdsSortIn()
{
    m_model->addLive({ make(10), make(20), make(30) });
    m_model->flush();
    // Another node's id that sorts between: it goes where it belongs.
    m_model->addLive({ make(25), make(40), make(41) });
    m_model->flush();
    QCOMPARE(ids(*m_model), (QList<quint64> { 10, 20, 25, 30, 40, 41 }));
}

void TstCommentModel::gapMarkerAndOwnRole()
{
    m_model->setOwnUserId(QStringLiteral("42"));
    m_model->addLive({ make(1, QStringLiteral("42")), make(2) });
    m_model->flush();
    m_model->markGap();
    m_model->addLive({ make(9), make(8) });
    m_model->flush();
    const auto role
        = [this](int row, CommentModel::Role r) { return m_model->index(row).data(int(r)); };
    QCOMPARE(role(0, CommentModel::Role::Own).toBool(), true);
    QCOMPARE(role(1, CommentModel::Role::Own).toBool(), false);
    QCOMPARE(role(1, CommentModel::Role::GapBefore).toBool(), false);
    QCOMPARE(role(2, CommentModel::Role::GapBefore).toBool(), true); // the oldest of the batch
    QCOMPARE(role(3, CommentModel::Role::GapBefore).toBool(), false);
    QCOMPARE(role(0, CommentModel::Role::UserName).toString(), QStringLiteral("user42"));
    QCOMPARE(role(2, CommentModel::Role::Text).toString(), QStringLiteral("comment 8"));
}

void TstCommentModel::roleNamesAreStatic()
{
    const auto names = CommentModel::staticRoleNames();
    QCOMPARE(m_model->roleNames(), names);
    QCOMPARE(names.value(int(CommentModel::Role::Text)), QByteArray("text"));
    QCOMPARE(names.value(int(CommentModel::Role::Id)), QByteArray("commentId"));
}

namespace {
Comment pendingPost(const QString& key, const QString& text)
{
    Comment c;
    c.videoId = 1;
    c.userId = QStringLiteral("42");
    c.text = text;
    c.pending = true;
    c.localId = key;
    return c;
}
} // namespace

void TstCommentModel::ownPostSettlesInPlace()
{
    QFETCH(CommentModel::Order, order);
    m_model->setOrder(order);
    m_model->addLive(range(1, 3));
    m_model->flush();
    m_model->addOwn(pendingPost(QStringLiteral("k1"), QStringLiteral("mine")));
    m_model->addOwn(pendingPost(QStringLiteral("k1"), QStringLiteral("twice"))); // same key
    QCOMPARE(m_model->count(), 4);
    QCOMPARE(m_model->ownCount(), 1);
    const int row = order == CommentModel::Order::OldestFirst ? 3 : 0;
    QCOMPARE(m_model->rowOfOwn(QStringLiteral("k1")), row);
    const QModelIndex pending = m_model->index(row);
    QCOMPARE(pending.data(int(CommentModel::Role::Pending)).toBool(), true);
    QCOMPARE(pending.data(int(CommentModel::Role::Own)).toBool(), true);
    QCOMPARE(pending.data(int(CommentModel::Role::LocalId)).toString(), QStringLiteral("k1"));
    QCOMPARE(pending.data(int(CommentModel::Role::Id)).toString(), QStringLiteral("0"));
    QCOMPARE(pending.data(int(CommentModel::Role::Text)).toString(), QStringLiteral("mine"));
    // A live comment arriving meanwhile goes before the pending post, which stays the newest row.
    m_model->addLive(make(4));
    m_model->flush();
    const int after = order == CommentModel::Order::OldestFirst ? 4 : 0;
    QCOMPARE(m_model->rowOfOwn(QStringLiteral("k1")), after);

    const QPersistentModelIndex held(m_model->index(after));
    QSignalSpy inserted(m_model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(m_model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy changed(m_model, &QAbstractItemModel::dataChanged);
    Comment stored = make(5, QStringLiteral("42"));
    stored.text = QStringLiteral("mine");
    QVERIFY(m_model->settleOwn(QStringLiteral("k1"), stored));
    QCOMPARE(inserted.count(), 0);
    QCOMPARE(removed.count(), 0);
    QCOMPARE(changed.count(), 1);
    QVERIFY(held.isValid());
    QCOMPARE(held.row(), after);
    QCOMPARE(held.data(int(CommentModel::Role::Pending)).toBool(), false);
    QCOMPARE(held.data(int(CommentModel::Role::Id)).toString(), QStringLiteral("5"));
    QCOMPARE(held.data(int(CommentModel::Role::LocalId)).toString(), QString());
    QCOMPARE(m_model->ownCount(), 0);
    QCOMPARE(m_model->count(), 5);
    QCOMPARE(m_model->newestId(), QStringLiteral("5"));
    QVERIFY(m_model->contains(5));
    // Its echo later is a duplicate.
    m_model->addLive(stored);
    QCOMPARE(m_model->flush(), 0);
    QCOMPARE(m_model->count(), 5);
}

void TstCommentModel::ownPostSettlesAtItsIdWhenOvertaken()
{
    QFETCH(CommentModel::Order, order);
    m_model->setOrder(order);
    m_model->addLive(range(1, 3));
    m_model->flush();
    m_model->addOwn(pendingPost(QStringLiteral("a"), QStringLiteral("first")));
    m_model->addOwn(pendingPost(QStringLiteral("b"), QStringLiteral("second")));
    // "b" is stored while "a" is still pending: not where "b" stood (after "a"), so it moves.
    Comment storedB = make(10, QStringLiteral("42"));
    QVERIFY(!m_model->settleOwn(QStringLiteral("b"), storedB));
    QCOMPARE(m_model->ownCount(), 1);
    QCOMPARE(m_model->count(), 5);
    QCOMPARE(m_model->newestId(), QStringLiteral("10"));
    // "a" is stored with an id older than a comment already held: it sorts in by id.
    Comment storedA = make(9, QStringLiteral("42"));
    QVERIFY(!m_model->settleOwn(QStringLiteral("a"), storedA));
    QCOMPARE(m_model->ownCount(), 0);
    QList<quint64> expected { 1, 2, 3, 9, 10 };
    if (order == CommentModel::Order::NewestFirst)
        std::reverse(expected.begin(), expected.end());
    QCOMPARE(ids(*m_model), expected);
}

void TstCommentModel::ownPostFailsAndIsRemoved()
{
    m_model->setOrder(CommentModel::Order::NewestFirst);
    m_model->addLive(range(1, 2));
    m_model->flush();
    m_model->addOwn(pendingPost(QStringLiteral("k"), QStringLiteral("rejected")));
    QSignalSpy changed(m_model, &QAbstractItemModel::dataChanged);
    QVERIFY(m_model->markOwnFailed(QStringLiteral("k"), QStringLiteral("too long")));
    QCOMPARE(changed.count(), 1);
    // The Timeline's own "failed" (without a reason) keeps the reason the outbox gave.
    QVERIFY(m_model->markOwnFailed(QStringLiteral("k"), QString()));
    QCOMPARE(changed.count(), 1);
    const QModelIndex row = m_model->index(0);
    QCOMPARE(row.data(int(CommentModel::Role::Failed)).toBool(), true);
    QCOMPARE(row.data(int(CommentModel::Role::Pending)).toBool(), false);
    QCOMPARE(row.data(int(CommentModel::Role::Error)).toString(), QStringLiteral("too long"));
    QVERIFY(!m_model->markOwnFailed(QStringLiteral("other"), QStringLiteral("x")));
    QVERIFY(m_model->removeOwn(QStringLiteral("k")));
    QVERIFY(!m_model->removeOwn(QStringLiteral("k")));
    QCOMPARE(m_model->count(), 2);
    QCOMPARE(m_model->rowOfOwn(QStringLiteral("k")), -1);
}

void TstCommentModel::ownRowsAreNeverTrimmed()
{
    m_model->setMaximumCount(3);
    m_model->addOwn(pendingPost(QStringLiteral("k"), QStringLiteral("mine")));
    m_model->addLive(range(1, 5));
    m_model->flush();
    // Three rows: the two newest stored comments and the pending post.
    QCOMPARE(m_model->count(), 3);
    QCOMPARE(m_model->ownCount(), 1);
    QCOMPARE(ids(*m_model), (QList<quint64> { 4, 5, 0 }));
    m_model->clear();
    QCOMPARE(m_model->ownCount(), 0);
}

void TstCommentModel::authorRoleRole()
{
    livecomments::Comment core;
    core.id = 3;
    core.user = { "9", "mod", "moderator" };
    core.text = "hi";
    const Comment moderator = Comment::fromCore(core);
    QCOMPARE(moderator.userRole, QStringLiteral("moderator"));
    core.id = 4;
    core.user = { "1", "host", "streamer" };
    core.localId.clear();
    const Comment streamer = Comment::fromCore(core);
    m_model->addLive({ moderator, streamer, make(5) });
    m_model->flush();
    const auto role = [this](int row) {
        return m_model->index(row).data(int(CommentModel::Role::UserRole)).toString();
    };
    QCOMPARE(role(0), QStringLiteral("moderator"));
    QCOMPARE(role(1), QStringLiteral("streamer"));
    QCOMPARE(role(2), QStringLiteral("viewer")); // a Comment made without one
    QCOMPARE(CommentModel::staticRoleNames().value(int(CommentModel::Role::UserRole)),
        QByteArray("role"));
    QCOMPARE(CommentModel::staticRoleNames().value(int(CommentModel::Role::Pending)),
        QByteArray("pending"));
}

QTEST_GUILESS_MAIN(TstCommentModel)
#include "tst_comment_model.moc"
