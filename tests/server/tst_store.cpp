// SPDX-License-Identifier: MIT
// The comment store suite, run once per engine: every test runs against SQLite (a temporary file)
// and against PostgreSQL (a throwaway server from lctest::PostgresProcess), through the same
// CommentStore interface built by makeCommentStore() from a --store URL.
#include "postgres_process.h"

#include "ids/snowflake.h"
#include "model/errors.h"
#include "model/json_text.h"
#include "store/archive.h"
#include "store/comment_store.h"
#include "store/region_events.h"
#include "store/store_factory.h"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>
#include <Poco/Exception.h>

#include <QDateTime>
#include <QElapsedTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

using namespace livecomments::server;
using store::CommentStore;
using store::CommitEvent;
using store::PageQuery;

namespace {

Principal user(const std::string& id, Role role = Role::Viewer)
{
    return Principal { id, "user " + id, role };
}

std::uint64_t idOf(const std::string& body)
{
    const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(body)).object();
    const QJsonValue id = o.value(QStringLiteral("id"));
    // Comment ids are decimal strings (64-bit), video ids are numbers.
    return id.isString() ? id.toString().toULongLong() : static_cast<std::uint64_t>(id.toInt());
}

std::int64_t nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

/// A video made in region "a" (slot 0 of three), as its relay delivers it.
Video videoOfRegionA()
{
    Video v;
    v.id = 3000;
    v.title = "from a";
    v.streamerId = "7";
    v.streamerName = "seven";
    v.createdAtMs = 1764518400000;
    return v;
}

/// A comment relayed from another region, with the creation time its id carries.
Comment relayedComment(std::uint32_t videoId, std::uint64_t id, const std::string& text)
{
    Comment c;
    c.id = id;
    c.videoId = videoId;
    c.userId = "9";
    c.userName = "nine";
    c.text = text;
    c.createdAtMs = ids::snowflakeUnixMs(id);
    return c;
}

QList<std::uint64_t> idsOf(const std::vector<Comment>& comments)
{
    QList<std::uint64_t> out;
    for (const auto& c : comments)
        out.append(c.id);
    return out;
}

/// A page as the JSON the server sends for it: equal lists mean byte-identical pages.
QStringList jsonOf(const std::vector<Comment>& comments)
{
    QStringList out;
    for (const auto& c : comments)
        out.append(QString::fromStdString(commentJson(c)));
    return out;
}

/// `user.role` of an encoded comment object.
QString roleOf(const std::string& commentJsonText)
{
    return QJsonDocument::fromJson(QByteArray::fromStdString(commentJsonText))
        .object()
        .value(QStringLiteral("user"))
        .toObject()
        .value(QStringLiteral("role"))
        .toString();
}

/// The ApiError kind `fn` throws, or an empty optional when it returns.
template <typename Fn> std::optional<ErrorKind> errorKindOf(Fn&& fn)
{
    try {
        fn();
    } catch (const ApiError& e) {
        return e.kind();
    }
    return std::nullopt;
}

/// Runs `write(store, thread, round)` for `rounds` rounds on `threadsPerStore` threads of each
/// store, all at once; returns how many writes threw (each is logged).
int writeConcurrently(const std::vector<CommentStore*>& stores, int threadsPerStore, int rounds,
    const std::function<void(CommentStore&, int, int)>& write)
{
    std::atomic<int> errors { 0 };
    std::vector<std::thread> threads;
    for (CommentStore* s : stores) {
        for (int t = 0; t < threadsPerStore; ++t) {
            threads.emplace_back([&, s, t] {
                for (int r = 0; r < rounds; ++r) {
                    try {
                        write(*s, t, r);
                    } catch (const std::exception& e) {
                        qWarning("write failed: %s", e.what());
                        ++errors;
                    }
                }
            });
        }
    }
    for (auto& thread : threads)
        thread.join();
    return errors.load();
}

} // namespace

class TstStore : public QObject {
    Q_OBJECT
private slots:
    void initTestCase_data();
    void initTestCase();
    void init();
    void cleanupTestCase();

    void videoLifecycle();
    void groupCommitAcksAfterCommit();
    void historyPages();
    void historyIsOneRangeScan();
    void deletion();
    void idempotencyKeys();
    void retentionRemovesOnlyOldComments();
    void archivedPagesEqualLivePages();
    void deletingArchivedComments();
    void rowsAndBlocksMerge();
    void archiverPacksEndedVideos();
    void retentionRemovesEndedVideosWhole();
    void reopenKeepsEverything();
    void migrationsFreshThenNoOp();
    void commentRolesStoredAndBackfilled();
    void archiveBlocksWithoutRolesStillRead();
    void regionRelayOutboxAndReplicatedOps();
    void tombstonesRefuseLateComments();
    void retentionForgetsOldTombstones();
    void relayedDeletionRacesCommentOnAnotherNode();
    void closedStoreRefusesWrites();
    void writesResumeAfterLostConnection();
    void twoStoresShareOneDatabase();
    void commitOrderIsIdOrderAcrossNodes();
    void reMintedIdsStayAboveTheFloor();
    void chainHeadBackfilledByMigration();
    void malformedUrls_data();
    void malformedUrls();
    void unreachableStoreFailsWithinDeadline();

private:
    /// A store on this test's fresh database, opened.
    std::unique_ptr<CommentStore> openStore(const store::StoreOptions& options = {});
    std::unique_ptr<CommentStore> makeStore(const store::StoreOptions& options = {});
    /// Opens the store of `region` ("a", "b" or "c": slot 0, 1 or 2 of three) relaying to the
    /// other two; every committed event is appended to `seen` under `mutex`.
    std::unique_ptr<CommentStore> openRegionStore(
        const std::string& region, std::mutex& mutex, std::vector<CommitEvent>& seen);
    /// A session of the test's own on this test's database (beside the store's).
    std::unique_ptr<Poco::Data::Session> ownSession();
    /// Rows of deleted_comments (the tombstones), read on a session of the test's own.
    int tombstoneCount();
    std::uint32_t newVideo(CommentStore& s, const std::string& streamer = "1");
    std::vector<std::uint64_t> addComments(CommentStore& s, std::uint32_t video, int n);
    /// A connection of our own to this test's database (after makeStore()).
    std::unique_ptr<Poco::Data::Session> rawSession();

    QTemporaryDir m_sqliteDir;
    std::unique_ptr<lctest::PostgresProcess> m_postgres;
    QString m_url; ///< this test's fresh database (empty until makeStore())
    int m_databases = 0;
    ids::SnowflakeGenerator m_ids { 1 };
};

void TstStore::initTestCase_data()
{
    QTest::addColumn<QString>("engine");
    QTest::newRow("sqlite") << QStringLiteral("sqlite");
    QTest::newRow("postgresql") << QStringLiteral("postgresql");
}

void TstStore::initTestCase()
{
    QVERIFY(m_sqliteDir.isValid());
    // One server for the whole run (both rows); each test gets its own database.
    m_postgres = std::make_unique<lctest::PostgresProcess>();
    QVERIFY2(m_postgres->start(), qPrintable(m_postgres->errorString()));
}

void TstStore::cleanupTestCase()
{
    m_postgres.reset(); // stops the server, deletes its directory
}

void TstStore::init()
{
    m_url.clear(); // created by the test's first makeStore()
}

std::unique_ptr<CommentStore> TstStore::makeStore(const store::StoreOptions& options)
{
    if (m_url.isEmpty()) {
        QFETCH_GLOBAL(QString, engine);
        const QString name = QStringLiteral("t%1").arg(++m_databases);
        if (engine == QLatin1String("sqlite")) {
            m_url = QStringLiteral("sqlite:") + m_sqliteDir.filePath(name + QStringLiteral(".db"));
        } else {
            m_url = m_postgres->createDatabase(name);
            if (m_url.isEmpty())
                throw std::runtime_error(
                    "createdb failed: " + m_postgres->errorString().toStdString());
        }
    }
    return store::makeCommentStore(m_url.toStdString(), options, m_ids);
}

std::unique_ptr<CommentStore> TstStore::openStore(const store::StoreOptions& options)
{
    auto s = makeStore(options);
    s->open();
    return s;
}

std::unique_ptr<Poco::Data::Session> TstStore::ownSession()
{
    QFETCH_GLOBAL(QString, engine);
    const auto url = store::parseStoreUrl(m_url.toStdString());
    if (engine == QLatin1String("sqlite"))
        return std::make_unique<Poco::Data::Session>("SQLite", url.path);
    return std::make_unique<Poco::Data::Session>("PostgreSQL",
        "host=127.0.0.1 port=" + std::to_string(url.port)
            + " user=postgres dbname=" + url.database);
}

std::unique_ptr<CommentStore> TstStore::openRegionStore(
    const std::string& region, std::mutex& mutex, std::vector<CommitEvent>& seen)
{
    store::StoreOptions options;
    options.region = region;
    for (const char* name : { "a", "b", "c" }) {
        if (region != name)
            options.relayPeers.push_back(name);
    }
    options.videoIdStride = 3;
    options.videoIdSlot = static_cast<std::uint32_t>(region[0] - 'a');
    auto s = makeStore(options);
    s->onCommitted = [&](const std::vector<CommitEvent>& events) {
        std::lock_guard lock(mutex);
        seen.insert(seen.end(), events.begin(), events.end());
    };
    s->open();
    return s;
}

int TstStore::tombstoneCount()
{
    auto db = ownSession();
    int count = -1;
    *db << "SELECT COUNT(*) FROM deleted_comments", Poco::Data::Keywords::into(count),
        Poco::Data::Keywords::now;
    return count;
}

std::uint32_t TstStore::newVideo(CommentStore& s, const std::string& streamer)
{
    return static_cast<std::uint32_t>(
        idOf(s.createVideo(user(streamer, Role::Streamer), "v", {}).body));
}

std::vector<std::uint64_t> TstStore::addComments(CommentStore& s, std::uint32_t video, int n)
{
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < n; ++i)
        ids.push_back(idOf(s.addComment(video, user("2"), "c" + std::to_string(i), {}).body));
    return ids;
}

std::unique_ptr<Poco::Data::Session> TstStore::rawSession()
{
    const auto url = store::parseStoreUrl(m_url.toStdString());
    if (m_url.startsWith(QLatin1String("sqlite:"))) {
        Poco::Data::SQLite::Connector::registerConnector();
        return std::make_unique<Poco::Data::Session>("SQLite", url.path);
    }
    Poco::Data::PostgreSQL::Connector::registerConnector();
    return std::make_unique<Poco::Data::Session>("PostgreSQL",
        "host=127.0.0.1 port=" + std::to_string(url.port)
            + " user=postgres dbname=" + url.database);
}

void TstStore::videoLifecycle()
{
    auto s = openStore();
    std::vector<CommitEvent> events;
    const auto streamer = user("10", Role::Streamer);
    const auto created = s->createVideo(streamer, "first", {});
    QVERIFY(!created.replayed);
    const auto first = static_cast<std::uint32_t>(idOf(created.body));
    QVERIFY(first > 0);
    const std::uint32_t second = newVideo(*s, "11");
    QVERIFY(second > first);

    const auto v = s->video(first);
    QVERIFY(v.has_value());
    QCOMPARE(v->title, std::string("first"));
    QCOMPARE(v->streamerId, std::string("10"));
    QCOMPARE(v->streamerName, std::string("user 10"));
    QVERIFY(v->status == VideoStatus::Live);
    QCOMPARE(v->commentCount, std::int64_t(0));
    QVERIFY(std::abs(v->createdAtMs - nowMs()) < 60000);
    QVERIFY(!s->video(second + 1000).has_value());

    // Only the streamer or a moderator ends a video; ending twice changes nothing.
    QCOMPARE(errorKindOf([&] { s->endVideo(first, user("99")); }), ErrorKind::Forbidden);
    QCOMPARE(errorKindOf([&] { s->endVideo(second + 1000, streamer); }), ErrorKind::NotFound);
    const Video ended = s->endVideo(first, streamer);
    QVERIFY(ended.status == VideoStatus::Ended);
    QVERIFY(ended.endedAtMs > 0);
    QCOMPARE(s->endVideo(first, user("98", Role::Moderator)).endedAtMs, ended.endedAtMs);
    QVERIFY(s->video(first)->status == VideoStatus::Ended);
    QCOMPARE(
        errorKindOf([&] { s->addComment(first, user("2"), "late", {}); }), ErrorKind::Conflict);
    QCOMPARE(errorKindOf([&] { s->addComment(second + 1000, user("2"), "x", {}); }),
        ErrorKind::NotFound);

    // Newest first, optionally by status.
    const auto all = s->videos(std::nullopt, 10);
    QCOMPARE(all.size(), std::size_t(2));
    QCOMPARE(all[0].id, second);
    QCOMPARE(all[1].id, first);
    const auto live = s->videos(VideoStatus::Live, 10);
    QCOMPARE(live.size(), std::size_t(1));
    QCOMPARE(live[0].id, second);
    QCOMPARE(s->videos(VideoStatus::Ended, 10).at(0).id, first);
    QCOMPARE(s->videos(std::nullopt, 1).size(), std::size_t(1));
}

void TstStore::groupCommitAcksAfterCommit()
{
    constexpr int kThreads = 6;
    constexpr int kPerThread = 40;
    auto s = makeStore();
    std::mutex eventsMutex;
    std::vector<std::uint64_t> committedIds; // in onCommitted order
    std::atomic<int> commits { 0 };
    std::atomic<std::size_t> largestBatch { 0 };
    std::atomic<std::size_t> opsTimed { 0 };
    CommentStore* raw = s.get();
    s->onCommitted = [&](const std::vector<CommitEvent>& events) {
        if (events.front().type == CommitEvent::Type::CommentAdded && commits++ == 0) {
            // Hold the first commit until every other thread's write is queued (each thread has
            // one write in flight): the next batch must then carry them all in one transaction.
            const std::size_t others = kThreads - events.size();
            QElapsedTimer waited;
            waited.start();
            while (raw->queuedWrites() < others && waited.elapsed() < 20000)
                std::this_thread::yield();
        }
        std::lock_guard lock(eventsMutex);
        for (const auto& e : events)
            if (e.type == CommitEvent::Type::CommentAdded)
                committedIds.push_back(e.comment.id);
    };
    s->onCommitTimed = [&](double, std::size_t ops) {
        opsTimed += ops;
        std::size_t seen = largestBatch;
        while (ops > seen && !largestBatch.compare_exchange_weak(seen, ops)) { }
    };
    s->open();
    const std::uint32_t video = newVideo(*s);

    std::atomic<int> notVisible { 0 };
    std::mutex ackedMutex;
    std::vector<std::uint64_t> acked;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                const auto r = s->addComment(video, user(std::to_string(100 + t)),
                    "t" + std::to_string(t) + " " + std::to_string(i), {});
                const std::uint64_t id = idOf(r.body);
                // Acknowledged means committed: another connection sees it right away.
                PageQuery q;
                q.direction = PageQuery::Direction::After;
                q.cursor = id - 1;
                q.limit = 1;
                const auto page = s->comments(video, q);
                if (page.empty() || page.front().id != id)
                    ++notVisible;
                std::lock_guard lock(ackedMutex);
                acked.push_back(id);
            }
        });
    }
    for (auto& thread : threads)
        thread.join();

    QCOMPARE(notVisible.load(), 0);
    QCOMPARE(acked.size(), std::size_t(kThreads * kPerThread));
    // The first batch or the one after it held at least half of the threads' writes.
    QVERIFY2(largestBatch >= std::size_t(kThreads / 2),
        qPrintable(QStringLiteral("largest batch %1").arg(largestBatch.load())));
    // Every write went through a timed group commit: the comments, the video and at most one
    // idempotency-key expiry the purge thread runs at open.
    const std::size_t writes = kThreads * kPerThread + 1;
    QVERIFY2(opsTimed >= writes && opsTimed <= writes + 1,
        qPrintable(QStringLiteral("%1 ops timed").arg(opsTimed.load())));
    // onCommitted saw every comment once, in id (= commit) order.
    {
        std::lock_guard lock(eventsMutex);
        QCOMPARE(committedIds.size(), acked.size());
        QVERIFY(std::is_sorted(committedIds.begin(), committedIds.end()));
        QVERIFY(std::adjacent_find(committedIds.begin(), committedIds.end()) == committedIds.end());
    }
    QCOMPARE(s->video(video)->commentCount, std::int64_t(kThreads * kPerThread));
    QCOMPARE(s->countAfter(video, 0, 10000), std::size_t(kThreads * kPerThread));
}

void TstStore::historyPages()
{
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    const std::uint32_t other = newVideo(*s);
    std::vector<std::uint64_t> ids; // ascending
    for (int i = 0; i < 25; ++i) {
        ids.push_back(idOf(s->addComment(video, user("2"), "c" + std::to_string(i), {}).body));
        s->addComment(other, user("3"), "other", {}); // interleaved: must never show up
    }
    QVERIFY(std::is_sorted(ids.begin(), ids.end()));

    PageQuery q;
    q.limit = 10;
    const auto newest = s->comments(video, q);
    QCOMPARE(newest.size(), std::size_t(10));
    for (std::size_t i = 0; i < newest.size(); ++i) {
        QCOMPARE(newest[i].id, ids[24 - i]);
        QCOMPARE(newest[i].videoId, video);
    }
    QCOMPARE(newest[0].text, std::string("c24"));
    QCOMPARE(newest[0].userId, std::string("2"));
    QCOMPARE(newest[0].userName, std::string("user 2"));
    QCOMPARE(newest[0].createdAtMs, ids::snowflakeUnixMs(ids[24]));

    q.direction = PageQuery::Direction::Before;
    q.cursor = ids[15];
    q.limit = 5;
    QCOMPARE(idsOf(s->comments(video, q)),
        (QList<std::uint64_t> { ids[14], ids[13], ids[12], ids[11], ids[10] }));
    q.cursor = ids[2];
    QCOMPARE(idsOf(s->comments(video, q)), (QList<std::uint64_t> { ids[1], ids[0] }));
    q.cursor = ids[0];
    QVERIFY(s->comments(video, q).empty());

    q.direction = PageQuery::Direction::After;
    q.cursor = ids[20];
    q.limit = 100;
    QCOMPARE(idsOf(s->comments(video, q)),
        (QList<std::uint64_t> { ids[21], ids[22], ids[23], ids[24] }));
    q.cursor = 0;
    q.limit = 3;
    QCOMPARE(idsOf(s->comments(video, q)), (QList<std::uint64_t> { ids[0], ids[1], ids[2] }));
    QCOMPARE(
        idsOf(s->commentsAfter(video, ids[22], 10)), (QList<std::uint64_t> { ids[23], ids[24] }));

    QCOMPARE(s->countAfter(video, ids[19], 100), std::size_t(5));
    QCOMPARE(s->countAfter(video, ids[19], 3), std::size_t(4)); // stops at cap + 1
    QCOMPARE(s->countAfter(video, ids[24], 100), std::size_t(0));
    QCOMPARE(s->countAfter(other, 0, 100), std::size_t(25));
    PageQuery none;
    QVERIFY(s->comments(other + 1000, none).empty());
}

void TstStore::historyIsOneRangeScan()
{
    QFETCH_GLOBAL(QString, engine);
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    addComments(*s, video, 3);
    s->close();
    // The query plan of a history page, read with a session of our own.
    std::vector<std::string> plan;
    using Poco::Data::Keywords::into;
    using Poco::Data::Keywords::now;
    const std::string page = "FROM comments WHERE video_id = " + std::to_string(video)
        + " AND id < 9000000000000000000 ORDER BY id DESC LIMIT 50";
    auto session = rawSession();
    Poco::Data::Session& db = *session;
    if (engine == QLatin1String("sqlite")) {
        std::vector<Poco::Int64> a, b, c;
        db << "EXPLAIN QUERY PLAN SELECT id " + page, into(a), into(b), into(c), into(plan), now;
        const std::string all = plan.empty() ? "" : plan.front();
        QVERIFY2(
            all.find("comments_by_video (video_id=? AND id<?)") != std::string::npos, all.c_str());
    } else {
        int partitions = 0;
        db << "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = 'comments'::regclass",
            into(partitions), now;
        QCOMPARE(partitions, 16);
        db << "EXPLAIN SELECT id " + page, into(plan), now;
        std::string all;
        for (const auto& line : plan)
            all += line + "\n";
        // One partition, read backwards along the (video_id, id) key.
        std::size_t partitionsInPlan = 0;
        for (std::size_t at = all.find(" on comments_p"); at != std::string::npos;
             at = all.find(" on comments_p", at + 1))
            ++partitionsInPlan;
        QVERIFY2(partitionsInPlan == 1, all.c_str());
        QVERIFY2(all.find("Index Only Scan Backward") != std::string::npos
                || all.find("Index Scan Backward") != std::string::npos,
            all.c_str());
    }
}

void TstStore::deletion()
{
    auto s = openStore();
    std::vector<CommitEvent> events;
    std::mutex eventsMutex;
    s->close();
    s = makeStore();
    s->onCommitted = [&](const std::vector<CommitEvent>& e) {
        std::lock_guard lock(eventsMutex);
        events.insert(events.end(), e.begin(), e.end());
    };
    s->open();
    const std::uint32_t video = newVideo(*s);
    const std::uint32_t other = newVideo(*s);
    const auto ids = addComments(*s, video, 3); // by user 2

    QCOMPARE(
        errorKindOf([&] { s->deleteComment(video, ids[0], user("3")); }), ErrorKind::Forbidden);
    QCOMPARE(errorKindOf([&] { s->deleteComment(other, ids[0], user("2")); }), ErrorKind::NotFound);
    QCOMPARE(
        errorKindOf([&] { s->deleteComment(video, ids[2] + 1, user("2")); }), ErrorKind::NotFound);
    QCOMPARE(errorKindOf([&] { s->deleteComment(video, ids[0], user("2")); }), std::nullopt);
    QCOMPARE(errorKindOf([&] { s->deleteComment(video, ids[1], user("7", Role::Moderator)); }),
        std::nullopt);
    QCOMPARE(errorKindOf([&] { s->deleteComment(video, ids[0], user("2")); }), ErrorKind::NotFound);

    PageQuery q;
    QCOMPARE(idsOf(s->comments(video, q)), (QList<std::uint64_t> { ids[2] }));
    QCOMPARE(s->video(video)->commentCount, std::int64_t(1));
    std::lock_guard lock(eventsMutex);
    QCOMPARE(std::count_if(events.begin(), events.end(),
                 [](const auto& e) { return e.type == CommitEvent::Type::CommentDeleted; }),
        2L);
    QCOMPARE(events.back().type, CommitEvent::Type::CommentDeleted);
    QCOMPARE(events.back().comment.id, ids[1]);
    QCOMPARE(events.back().videoId, video);
}

void TstStore::idempotencyKeys()
{
    auto s = openStore();
    const auto streamer = user("1", Role::Streamer);
    const auto v1 = s->createVideo(streamer, "keyed", "video-key");
    const auto v2 = s->createVideo(streamer, "keyed again", "video-key");
    QVERIFY(!v1.replayed);
    QVERIFY(v2.replayed);
    QCOMPARE(v2.body, v1.body);
    QCOMPARE(s->videos(std::nullopt, 10).size(), std::size_t(1));
    const auto video = static_cast<std::uint32_t>(idOf(v1.body));

    const auto first = s->addComment(video, user("2"), "once", "k1");
    const auto again = s->addComment(video, user("2"), "once (retry)", "k1");
    QVERIFY(!first.replayed);
    QVERIFY(again.replayed);
    QCOMPARE(again.body, first.body);
    QCOMPARE(s->findCommentResult(video, "2", "k1"), std::optional<std::string>(first.body));
    QCOMPARE(s->findCommentResult(video, "2", "k2"), std::nullopt);
    // Keys belong to a user and a video.
    const auto otherUser = s->addComment(video, user("3"), "same key", "k1");
    QVERIFY(!otherUser.replayed);
    QVERIFY(idOf(otherUser.body) != idOf(first.body));
    // A failed write does not keep its key: the retry does the write.
    const auto video2 = static_cast<std::uint32_t>(idOf(s->createVideo(streamer, "v2", {}).body));
    s->endVideo(video2, streamer);
    QCOMPARE(
        errorKindOf([&] { s->addComment(video2, user("2"), "late", "k9"); }), ErrorKind::Conflict);
    QCOMPARE(s->findCommentResult(video2, "2", "k9"), std::nullopt);

    PageQuery q;
    QCOMPARE(s->comments(video, q).size(), std::size_t(2));
    QCOMPARE(s->video(video)->commentCount, std::int64_t(2));
}

void TstStore::retentionRemovesOnlyOldComments()
{
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    const auto old = addComments(*s, video, 5);
    const auto keyed = s->addComment(video, user("4"), "keyed", "rk");
    const std::uint32_t other = newVideo(*s);
    const auto otherOld = addComments(*s, other, 2);
    // The cutoff lies after every comment so far: wait for the clock to pass it.
    const std::int64_t cutoff = ids::snowflakeUnixMs(otherOld.back()) + 1;
    QTRY_VERIFY_WITH_TIMEOUT(nowMs() > cutoff, 5000);
    const auto fresh = addComments(*s, video, 3);
    const std::uint32_t newer = newVideo(*s);
    const auto newerIds = addComments(*s, newer, 2);

    QCOMPARE(s->purgeCommentsBefore(cutoff), std::size_t(old.size() + 1 + otherOld.size()));
    PageQuery q;
    q.limit = 100;
    QCOMPARE(idsOf(s->comments(video, q)), (QList<std::uint64_t> { fresh[2], fresh[1], fresh[0] }));
    QVERIFY(s->comments(other, q).empty());
    QCOMPARE(s->comments(newer, q).size(), std::size_t(2));
    // Videos and idempotency keys stay; counts follow.
    QCOMPARE(s->videos(std::nullopt, 10).size(), std::size_t(3));
    QCOMPARE(s->video(video)->commentCount, std::int64_t(3));
    QCOMPARE(s->video(other)->commentCount, std::int64_t(0));
    QCOMPARE(s->video(newer)->commentCount, std::int64_t(2));
    QCOMPARE(s->findCommentResult(video, "4", "rk"), std::optional<std::string>(keyed.body));
    QCOMPARE(s->purgeCommentsBefore(cutoff), std::size_t(0));

    // Idempotency keys expire on their own clock.
    QCOMPARE(s->purgeIdempotencyKeysBefore(nowMs() - 3600000), std::size_t(0));
    QCOMPARE(s->purgeIdempotencyKeysBefore(nowMs() + 1000), std::size_t(1));
    QCOMPARE(s->findCommentResult(video, "4", "rk"), std::nullopt);
    QCOMPARE(s->comments(video, q).size(), std::size_t(3));
}

/// Every page shape of `video`: newest, before and after each cursor in `cursors`, counts.
QStringList allPages(
    CommentStore& s, std::uint32_t video, const std::vector<std::uint64_t>& cursors)
{
    QStringList out;
    for (const std::size_t limit : { std::size_t(1), std::size_t(50), std::size_t(300) }) {
        PageQuery q;
        q.limit = limit;
        out += jsonOf(s.comments(video, q));
        for (const std::uint64_t cursor : cursors) {
            q.cursor = cursor;
            q.direction = PageQuery::Direction::Before;
            out += QStringLiteral("before %1/%2").arg(cursor).arg(limit);
            out += jsonOf(s.comments(video, q));
            q.direction = PageQuery::Direction::After;
            out += QStringLiteral("after %1/%2").arg(cursor).arg(limit);
            out += jsonOf(s.comments(video, q));
            out += QStringLiteral("count %1").arg(s.countAfter(video, cursor, limit));
        }
    }
    return out;
}

void TstStore::archivedPagesEqualLivePages()
{
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    const std::uint32_t other = newVideo(*s);
    // Realistic variety: several authors, names and texts with quotes, escapes and non-ASCII.
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 600; ++i) {
        const std::string author = std::to_string(2 + i % 7);
        const std::string text = (i % 5 == 0 ? "\"quoted\" \\ " : "")
            + std::string(i % 3 ? "gg " : "caf\u00e9 \xF0\x9F\x8E\x89 ") + std::to_string(i);
        // Some authors hold a moderator or a streamer token at times: the role goes with each
        // comment into the blocks.
        const Role role = i % 11 == 0 ? Role::Moderator
            : i % 13 == 0             ? Role::Streamer
                                      : Role::Viewer;
        ids.push_back(idOf(s->addComment(video, user(author, role), text, {}).body));
        if (i % 100 == 0)
            s->addComment(other, user("9"), "other video", {});
    }
    std::vector<std::uint64_t> cursors { 0, 1, ids[0], ids[1], ids[255], ids[256], ids[257],
        ids[300], ids[511], ids[512], ids[598], ids[599], ids[599] + 1,
        std::numeric_limits<std::uint64_t>::max() >> 1 };
    QCOMPARE(s->archiveVideo(video), std::size_t(0)); // live: left alone
    const QStringList before = allPages(*s, video, cursors);
    const QStringList otherBefore = allPages(*s, other, cursors);
    QVERIFY(before.size() > 100);
    QVERIFY(before.join(QString()).contains(QStringLiteral("\"role\":\"moderator\"")));
    QVERIFY(before.join(QString()).contains(QStringLiteral("\"role\":\"streamer\"")));

    s->endVideo(video, user("1", Role::Streamer));
    QCOMPARE(s->archiveVideo(video), std::size_t(600));
    const auto stats = s->archiveStats(video);
    QCOMPARE(stats.rows, std::size_t(0));
    QCOMPARE(stats.blocks, std::size_t(3)); // 256 + 256 + 88
    QCOMPARE(stats.archivedComments, std::size_t(600));
    QVERIFY(stats.archived);
    QVERIFY2(stats.blockBytes < 600 * 20, qPrintable(QString::number(stats.blockBytes)));
    QCOMPARE(s->archiveStats(other).blocks, std::size_t(0));

    const QStringList after = allPages(*s, video, cursors);
    QCOMPARE(after.size(), before.size());
    for (int i = 0; i < before.size(); ++i)
        QCOMPARE(after[i], before[i]);
    QCOMPARE(allPages(*s, other, cursors), otherBefore);
    QCOMPARE(s->video(video)->commentCount, std::int64_t(600));
    QCOMPARE(s->archiveVideo(video), std::size_t(0)); // idempotent

    // The same after reopening (the blocks are in the database, not in memory).
    s->close();
    s = openStore();
    QCOMPARE(allPages(*s, video, cursors), before);
}

void TstStore::deletingArchivedComments()
{
    std::vector<CommitEvent> events;
    std::mutex eventsMutex;
    auto s = makeStore();
    s->onCommitted = [&](const std::vector<CommitEvent>& e) {
        std::lock_guard lock(eventsMutex);
        events.insert(events.end(), e.begin(), e.end());
    };
    s->open();
    const std::uint32_t video = newVideo(*s);
    const auto ids = addComments(*s, video, 300); // by user 2: blocks of 256 and 44
    s->endVideo(video, user("1", Role::Streamer));
    QCOMPARE(s->archiveVideo(video), std::size_t(300));

    QCOMPARE(
        errorKindOf([&] { s->deleteComment(video, ids[10], user("3")); }), ErrorKind::Forbidden);
    // Another node's id (node bits + 1) in the same millisecond: never one of ours.
    const std::uint64_t unknown = ids[10] + (1ULL << 12);
    QCOMPARE(
        errorKindOf([&] { s->deleteComment(video, unknown, user("2")); }), ErrorKind::NotFound);
    // The middle, the first and the last comment of a block, and a moderator's deletion.
    QCOMPARE(errorKindOf([&] { s->deleteComment(video, ids[10], user("2")); }), std::nullopt);
    QCOMPARE(errorKindOf([&] { s->deleteComment(video, ids[0], user("2")); }), std::nullopt);
    QCOMPARE(errorKindOf([&] { s->deleteComment(video, ids[255], user("7", Role::Moderator)); }),
        std::nullopt);
    QCOMPARE(
        errorKindOf([&] { s->deleteComment(video, ids[10], user("2")); }), ErrorKind::NotFound);
    // Emptying a block removes it.
    for (std::size_t i = 256; i < 300; ++i)
        s->deleteComment(video, ids[i], user("2"));
    QCOMPARE(s->archiveStats(video).blocks, std::size_t(1));
    QCOMPARE(s->archiveStats(video).archivedComments, std::size_t(253));

    PageQuery q;
    q.limit = 1000;
    q.direction = PageQuery::Direction::After;
    QList<std::uint64_t> expected;
    for (std::size_t i = 0; i < 256; ++i) {
        if (i != 0 && i != 10 && i != 255)
            expected.append(ids[i]);
    }
    QCOMPARE(idsOf(s->comments(video, q)), expected);
    q.direction = PageQuery::Direction::Before;
    q.cursor = ids[12];
    q.limit = 3;
    QCOMPARE(idsOf(s->comments(video, q)), (QList<std::uint64_t> { ids[11], ids[9], ids[8] }));
    QCOMPARE(s->countAfter(video, ids[5], 1000), std::size_t(253 - 5));
    QCOMPARE(s->video(video)->commentCount, std::int64_t(253));
    std::lock_guard lock(eventsMutex);
    QCOMPARE(std::count_if(events.begin(), events.end(),
                 [](const auto& e) { return e.type == CommitEvent::Type::CommentDeleted; }),
        47L);
}

void TstStore::rowsAndBlocksMerge()
{
    // A video with comments both in blocks and in rows (what a reader sees while a video is
    // being packed, or when a comment is stored after packing): pages merge the two in id
    // order.
    QFETCH_GLOBAL(QString, engine);
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    const auto packed = addComments(*s, video, 300);
    s->endVideo(video, user("1", Role::Streamer));
    QCOMPARE(s->archiveVideo(video), std::size_t(300));
    // Rows between, before and after archived ids, written with a session of our own.
    auto db = ownSession();
    std::vector<std::uint64_t> all(packed.begin(), packed.end());
    // Other nodes' ids (node bits +-1) in the same millisecond: never equal to one of ours.
    constexpr std::uint64_t kNode = 1ULL << 12;
    for (const std::uint64_t id : { packed[0] - kNode, packed[10] + kNode, packed[255] + kNode,
             packed[256] + kNode, packed[299] + kNode }) {
        Poco::Int64 i = static_cast<Poco::Int64>(id), v = video, at = ids::snowflakeUnixMs(id);
        std::string who = "8", name = "user 8", text = "row";
        const std::string insert = engine == QLatin1String("sqlite")
            ? "INSERT INTO comments (id, video_id, user_id, user_name, text, created_at) "
              "VALUES "
              "(?, ?, ?, ?, ?, ?)"
            : "INSERT INTO comments (id, video_id, user_id, user_name, text, created_at) "
              "VALUES "
              "($1, $2, $3, $4, $5, $6)";
        using Poco::Data::Keywords::use;
        *db << insert, use(i), use(v), use(who), use(name), use(text), use(at),
            Poco::Data::Keywords::now;
        all.push_back(id);
    }
    std::sort(all.begin(), all.end());
    QCOMPARE(s->archiveStats(video).rows, std::size_t(5));

    // Walk every direction with several page sizes: every id exactly once, in order.
    for (const std::size_t limit : { std::size_t(1), std::size_t(7), std::size_t(50) }) {
        std::vector<std::uint64_t> down, up;
        PageQuery q;
        q.limit = limit;
        for (auto page = s->comments(video, q); !page.empty(); page = s->comments(video, q)) {
            for (const auto& c : page)
                down.push_back(c.id);
            q.direction = PageQuery::Direction::Before;
            q.cursor = page.back().id;
        }
        q.direction = PageQuery::Direction::After;
        q.cursor = 0;
        for (auto page = s->comments(video, q); !page.empty(); page = s->comments(video, q)) {
            for (const auto& c : page)
                up.push_back(c.id);
            q.cursor = page.back().id;
        }
        QCOMPARE(up, all);
        std::reverse(down.begin(), down.end());
        QCOMPARE(down, all);
    }
    QCOMPARE(s->countAfter(video, packed[250], 1000), std::size_t(49 + 3));
    QCOMPARE(s->countAfter(video, 0, 1000), all.size());
    // A row is deleted as a row, an archived comment from its block.
    s->deleteComment(video, packed[10] + kNode, user("8"));
    s->deleteComment(video, packed[11], user("2"));
    QCOMPARE(s->archiveStats(video).rows, std::size_t(4));
    QCOMPARE(s->archiveStats(video).archivedComments, std::size_t(299));
    // Packing again takes the rows in too.
    QCOMPARE(s->archiveVideo(video), std::size_t(4));
    QCOMPARE(s->archiveStats(video).rows, std::size_t(0));
    QCOMPARE(s->countAfter(video, 0, 1000), std::size_t(303));
}

void TstStore::archiverPacksEndedVideos()
{
    store::StoreOptions options;
    options.archiveAfterSeconds = 0;
    auto s = openStore(options);
    const std::uint32_t ended = newVideo(*s);
    const std::uint32_t live = newVideo(*s);
    addComments(*s, ended, 20);
    addComments(*s, live, 20);
    QVERIFY(!s->archiveStats(ended).archived);
    s->endVideo(ended, user("1", Role::Streamer)); // wakes the archiver thread
    QTRY_VERIFY_WITH_TIMEOUT(s->archiveStats(ended).archived, 10000);
    QCOMPARE(s->archiveStats(ended).archivedComments, std::size_t(20));
    QCOMPARE(s->archiveStats(ended).rows, std::size_t(0));
    QCOMPARE(s->archiveStats(live).blocks, std::size_t(0));
    QCOMPARE(s->archiveStats(live).rows, std::size_t(20));
    QCOMPARE(s->comments(ended, PageQuery {}).size(), std::size_t(20));

    // A delay: nothing is due before it passes.
    s->close();
    options.archiveAfterSeconds = 3600;
    s = openStore(options);
    const std::uint32_t later = newVideo(*s);
    addComments(*s, later, 5);
    s->endVideo(later, user("1", Role::Streamer));
    QCOMPARE(s->archiveDue(), std::size_t(0));
    QVERIFY(!s->archiveStats(later).archived);
}

void TstStore::retentionRemovesEndedVideosWhole()
{
    auto s = openStore();
    const auto streamer = user("1", Role::Streamer);
    const std::uint32_t archived = newVideo(*s);
    const std::uint32_t ended = newVideo(*s);
    const std::uint32_t live = newVideo(*s);
    addComments(*s, archived, 300);
    addComments(*s, ended, 10);
    const auto liveIds = addComments(*s, live, 4);
    s->endVideo(archived, streamer);
    s->endVideo(ended, streamer);
    QCOMPARE(s->archiveVideo(archived), std::size_t(300));
    // The cutoff lies after both ends: wait for the clock to pass it.
    const std::int64_t cutoff = s->video(ended)->endedAtMs + 1;
    QTRY_VERIFY_WITH_TIMEOUT(nowMs() > cutoff, 5000);
    const std::uint32_t recent = newVideo(*s);
    addComments(*s, recent, 3);
    s->endVideo(recent, streamer);

    QCOMPARE(s->purgeVideosEndedBefore(cutoff), std::size_t(2));
    QVERIFY(!s->video(archived).has_value());
    QVERIFY(!s->video(ended).has_value());
    PageQuery q;
    q.limit = 1000;
    QVERIFY(s->comments(archived, q).empty());
    QVERIFY(s->comments(ended, q).empty());
    QCOMPARE(s->archiveStats(archived).blocks, std::size_t(0));
    QCOMPARE(s->countAfter(archived, 0, 1000), std::size_t(0));
    // Nothing else: the live video (older than the cutoff too) and the recently ended one stay.
    QCOMPARE(idsOf(s->comments(live, q)),
        (QList<std::uint64_t> { liveIds[3], liveIds[2], liveIds[1], liveIds[0] }));
    QCOMPARE(s->comments(recent, q).size(), std::size_t(3));
    QCOMPARE(s->videos(std::nullopt, 10).size(), std::size_t(2));
    QCOMPARE(s->purgeVideosEndedBefore(cutoff), std::size_t(0));
}

void TstStore::reopenKeepsEverything()
{
    std::uint32_t video = 0;
    std::vector<std::uint64_t> ids;
    std::string keyedBody;
    {
        auto s = openStore();
        video = newVideo(*s);
        ids = addComments(*s, video, 7);
        keyedBody = s->addComment(video, user("5"), "keyed", "rk").body;
        s->deleteComment(video, ids[0], user("2"));
        s->close();
    }
    auto s = openStore();
    QCOMPARE(s->migrationsApplied(), 0);
    const auto v = s->video(video);
    QVERIFY(v.has_value());
    QCOMPARE(v->commentCount, std::int64_t(7));
    PageQuery q;
    q.direction = PageQuery::Direction::After;
    q.limit = 100;
    const auto page = s->comments(video, q);
    QCOMPARE(page.size(), std::size_t(7));
    QCOMPARE(page.front().id, ids[1]);
    QCOMPARE(s->findCommentResult(video, "5", "rk"), std::optional<std::string>(keyedBody));
    // New ids continue above the old ones, writes work after reopening.
    const auto later = addComments(*s, video, 1);
    QVERIFY(later[0] > page.back().id);
}

void TstStore::migrationsFreshThenNoOp()
{
    int version = 0;
    {
        auto s = openStore();
        version = s->schemaVersion();
        QVERIFY(version >= 1);
        // A fresh database runs every step (versions may have gaps: numbers reserved elsewhere).
        QCOMPARE(s->migrationsApplied(), s->migrationSteps());
    }
    for (int i = 0; i < 2; ++i) {
        auto s = openStore();
        QCOMPARE(s->schemaVersion(), version);
        QCOMPARE(s->migrationsApplied(), 0);
    }
    // A version missing BELOW the highest recorded one (a step merged later than a higher one) is
    // still applied: here the newest step (the comment author's role) is undone and a higher
    // version recorded.
    {
        auto db = ownSession();
        using Poco::Data::Keywords::now;
        *db << "ALTER TABLE comments DROP COLUMN user_role", now;
        *db << "DELETE FROM schema_migrations WHERE version = " + std::to_string(version), now;
        *db << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1000, 'x', 0)",
            now;
    }
    auto s = openStore();
    QCOMPARE(s->migrationsApplied(), 1);
    QCOMPARE(s->schemaVersion(), 1000);
    // The column is back: a moderator's comment keeps its role.
    const std::uint32_t video = newVideo(*s);
    s->addComment(video, user("8", Role::Moderator), "mod", {});
    QCOMPARE(s->comments(video, {}).at(0).userRole, Role::Moderator);
    // Tombstones (the step before) are there too.
    QVERIFY(!s->deleteReplicatedComment(1, 1, "peer"));
    QCOMPARE(tombstoneCount(), 1);
}

void TstStore::commentRolesStoredAndBackfilled()
{
    std::uint32_t video = 0;
    std::vector<std::uint64_t> earlier;
    {
        auto s = openStore();
        video = newVideo(*s);
        earlier = addComments(*s, video, 3);
        s->addComment(video, user("8", Role::Moderator), "will be a viewer's", {});
        s->close();
    }
    {
        // Back to the schema before roles: every comment so far was written without one.
        using Poco::Data::Keywords::now;
        auto db = rawSession();
        *db << "ALTER TABLE comments DROP COLUMN user_role", now;
        *db << "DELETE FROM schema_migrations WHERE name = 'comment_user_role'", now;
    }
    std::mutex mutex;
    std::vector<CommitEvent> seen;
    auto s = openRegionStore("b", mutex, seen);
    QCOMPARE(s->migrationsApplied(), 1);
    PageQuery q;
    q.direction = PageQuery::Direction::After;
    q.limit = 100;
    const auto backfilled = s->comments(video, q);
    QCOMPARE(backfilled.size(), std::size_t(4));
    for (const auto& c : backfilled) {
        QCOMPARE(c.userRole, Role::Viewer);
        QCOMPARE(roleOf(commentJson(c)), QStringLiteral("viewer"));
    }

    // Local posts take the role of the token they were posted with, per comment: user 8 holds a
    // moderator and a viewer token.
    const std::string modBody = s->addComment(video, user("8", Role::Moderator), "mod", {}).body;
    const std::string streamerBody = s->addComment(video, user("1", Role::Streamer), "s", {}).body;
    const std::string viewerBody = s->addComment(video, user("8"), "as a viewer", {}).body;
    QCOMPARE(roleOf(modBody), QStringLiteral("moderator"));
    QCOMPARE(roleOf(streamerBody), QStringLiteral("streamer"));
    QCOMPARE(roleOf(viewerBody), QStringLiteral("viewer"));
    const auto page = s->comments(video, q);
    QCOMPARE(page.size(), std::size_t(7));
    QCOMPARE(page[4].userRole, Role::Moderator);
    QCOMPARE(page[5].userRole, Role::Streamer);
    QCOMPARE(page[6].userRole, Role::Viewer);
    QCOMPARE(commentJson(page[4]), modBody); // history = the acknowledgement, byte for byte
    QCOMPARE(s->commentsAfter(video, earlier.back(), 10).at(1).userRole, Role::Moderator);
    {
        std::lock_guard lock(mutex);
        const auto added = std::count_if(seen.begin(), seen.end(), [](const CommitEvent& e) {
            return e.type == CommitEvent::Type::CommentAdded
                && e.comment.userRole == Role::Moderator;
        });
        QCOMPARE(static_cast<int>(added), 1); // the fan-out's event carries it too
    }

    // The relay carries the role; a peer without roles sends none (read as a viewer), and one
    // this version does not know is read as a viewer too.
    auto rows = s->relayPending("a", 100, 1 << 20);
    QVERIFY(!rows.empty());
    std::vector<std::string> payloads;
    for (const auto& row : rows)
        payloads.push_back(row.payload);
    std::string region;
    const auto relayed = store::decodeRegionBatch(store::regionBatchJson("b", payloads), region);
    QCOMPARE(relayed.size(), std::size_t(3));
    QCOMPARE(relayed[0].comment.userRole, Role::Moderator);
    QCOMPARE(relayed[1].comment.userRole, Role::Streamer);
    QCOMPARE(relayed[2].comment.userRole, Role::Viewer);
    QVERIFY(payloads[0].find("\"user_role\":\"moderator\"") != std::string::npos);
    std::string old = payloads[0];
    old.erase(
        old.find(",\"user_role\":\"moderator\""), std::strlen(",\"user_role\":\"moderator\""));
    std::string unknown = payloads[0];
    unknown.replace(unknown.find("moderator"), std::strlen("moderator"), "admin");
    QCOMPARE(store::decodeRegionBatch(store::regionBatchJson("b", { old }), region)
                 .at(0)
                 .comment.userRole,
        Role::Viewer);
    QCOMPARE(store::decodeRegionBatch(store::regionBatchJson("b", { unknown }), region)
                 .at(0)
                 .comment.userRole,
        Role::Viewer);

    // A relayed comment is stored with the role it came with.
    const Video remote = videoOfRegionA();
    QVERIFY(s->addReplicatedVideo(remote, "a"));
    Comment c = relayedComment(remote.id, m_ids.next(), "relayed moderator");
    c.userRole = Role::Moderator;
    QVERIFY(s->addReplicatedComment(c, "a"));
    QCOMPARE(s->comments(remote.id, {}).at(0).userRole, Role::Moderator);

    // Packed into archive blocks, every role reads back the same.
    const QStringList before = jsonOf(s->comments(video, q));
    s->endVideo(video, user("1", Role::Streamer));
    QCOMPARE(s->archiveVideo(video), std::size_t(7));
    QCOMPARE(s->archiveStats(video).rows, std::size_t(0));
    QCOMPARE(jsonOf(s->comments(video, q)), before);
}

void TstStore::archiveBlocksWithoutRolesStillRead()
{
    const auto zstd = [](const std::string& bytes) {
        std::string out(ZSTD_compressBound(bytes.size()), '\0');
        out.resize(ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 3));
        return out;
    };
    // A block of the first format (before roles), built by hand: format 1, two comments, id and
    // created_at deltas, user ids, user names, texts.
    std::string raw;
    raw += '\x01';
    raw += '\x02';
    raw += "\x05\x0a\x01\x02"; // ids 5, 6; created_at 5, 6 (zigzag 10 = 5, 2 = 1)
    raw += std::string("\x01") + "7" + std::string("\x01") + "8";
    raw += std::string("\x02") + "al" + std::string("\x02") + "bo";
    raw += std::string("\x02") + "hi" + std::string("\x03") + "yo!";
    const auto comments = store::archive::decodeBlock(zstd(raw), 4);
    QCOMPARE(comments.size(), std::size_t(2));
    QCOMPARE(comments[1].id, std::uint64_t(6));
    QCOMPARE(comments[1].createdAtMs, std::int64_t(6));
    QCOMPARE(comments[1].userName, std::string("bo"));
    QCOMPARE(comments[1].text, std::string("yo!"));
    for (const auto& c : comments)
        QCOMPARE(c.userRole, Role::Viewer);
    // Today's blocks keep each role.
    std::vector<Comment> roles(3);
    for (std::size_t i = 0; i < roles.size(); ++i) {
        roles[i].id = 10 + i;
        roles[i].userId = "1";
        roles[i].text = "t";
    }
    roles[1].userRole = Role::Moderator;
    roles[2].userRole = Role::Streamer;
    const auto decoded = store::archive::decodeBlock(store::archive::encodeBlock(roles), 4);
    QCOMPARE(decoded.at(0).userRole, Role::Viewer);
    QCOMPARE(decoded.at(1).userRole, Role::Moderator);
    QCOMPARE(decoded.at(2).userRole, Role::Streamer);

    // Corrupt blocks are refused with an error, before any allocation the data cannot back.
    const auto refused = [](const std::string& block) {
        try {
            store::archive::decodeBlock(block, 4);
        } catch (const std::runtime_error&) {
            return true;
        }
        return false;
    };
    // A count of 2^40 comments in 20 MiB of zeros: would be terabytes of Comment objects.
    QVERIFY(refused(
        zstd(std::string("\x02\x80\x80\x80\x80\x80\x20", 7) + std::string(20u << 20, '\0'))));
    // The same for a count under the byte-size bound but above the per-block bound.
    QVERIFY(refused(zstd(std::string("\x02\x80\x80\x10", 4) + std::string(2u << 20, '\0'))));
    QVERIFY(refused(zstd(raw + "x"))); // trailing bytes
    QVERIFY(refused(zstd(raw.substr(0, raw.size() - 1)))); // truncated text
    QVERIFY(refused(std::string("not zstd")));
    // Timestamps at the ends of the range round-trip (the deltas wrap, never overflow).
    std::vector<Comment> extremes(2);
    extremes[0].id = 1;
    extremes[0].createdAtMs = std::numeric_limits<std::int64_t>::min();
    extremes[1].id = 2;
    extremes[1].createdAtMs = std::numeric_limits<std::int64_t>::max();
    const auto back = store::archive::decodeBlock(store::archive::encodeBlock(extremes), 4);
    QCOMPARE(back.at(0).createdAtMs, extremes[0].createdAtMs);
    QCOMPARE(back.at(1).createdAtMs, extremes[1].createdAtMs);
}

void TstStore::regionRelayOutboxAndReplicatedOps()
{
    // Region "b" of three (a, b, c): it relays to a and c.
    std::mutex mutex;
    std::vector<CommitEvent> seen;
    auto s = openRegionStore("b", mutex, seen);

    // Local writes: partitioned video ids, one relay row per peer in the write's transaction.
    const std::uint32_t local = newVideo(*s);
    QCOMPARE(local % 3, 1u);
    const auto ids = addComments(*s, local, 2);
    QCOMPARE(s->relayBacklog("a").depth, std::size_t(3));
    QCOMPARE(s->relayBacklog("c").depth, std::size_t(3));
    QVERIFY(s->relayBacklog("a").oldestMs > 0);
    auto rows = s->relayPending("a", 10, 1 << 20);
    QCOMPARE(rows.size(), std::size_t(3));
    QVERIFY(rows[0].seq < rows[1].seq && rows[1].seq < rows[2].seq);
    std::string region;
    auto decoded = store::decodeRegionBatch(
        store::regionBatchJson("b", { rows[0].payload, rows[1].payload, rows[2].payload }), region);
    QCOMPARE(decoded[0].type, store::RegionEvent::Type::VideoCreated);
    QCOMPARE(decoded[0].video.id, local);
    QCOMPARE(decoded[2].comment.id, ids[1]);
    QCOMPARE(decoded[2].comment.text, std::string("c1"));
    QCOMPARE(s->relayPending("a", 10, 1).size(), std::size_t(1)); // at least one row
    s->relayDelivered("a", { rows[0].seq, rows[1].seq });
    QCOMPARE(s->relayBacklog("a").depth, std::size_t(1));
    QCOMPARE(s->relayBacklog("c").depth, std::size_t(3));

    // Replicated writes: same ids, idempotent, fanned out with their origin, never queued.
    const Video remote = videoOfRegionA();
    const Comment c = relayedComment(remote.id, ids[1] + (1u << 12), "relayed"); // another node
    try {
        s->addReplicatedComment(c, "a");
        QFAIL("a comment of an unknown video was stored");
    } catch (const ApiError& e) {
        QCOMPARE(e.code(), std::string("unknown_video"));
    }
    QVERIFY(s->addReplicatedVideo(remote, "a"));
    QVERIFY(!s->addReplicatedVideo(remote, "a"));
    QVERIFY(s->addReplicatedComment(c, "a"));
    QVERIFY(!s->addReplicatedComment(c, "a"));
    QCOMPARE(s->video(remote.id)->commentCount, std::int64_t(1));
    const auto page = s->comments(remote.id, {});
    QCOMPARE(page.size(), std::size_t(1));
    QCOMPARE(page[0].id, c.id);
    QCOMPARE(page[0].text, std::string("relayed"));
    QCOMPARE(page[0].createdAtMs, c.createdAtMs);
    // The next local video goes above every id seen, in this region's class.
    const std::uint32_t after = newVideo(*s);
    QCOMPARE(after, 3001u);
    // Once packed into an archive block, a repeated relay still stores nothing.
    QVERIFY(s->endReplicatedVideo(remote.id, remote.createdAtMs + 1000, "a"));
    QVERIFY(!s->endReplicatedVideo(remote.id, remote.createdAtMs + 2000, "a"));
    QCOMPARE(s->video(remote.id)->status, VideoStatus::Ended);
    QCOMPARE(s->video(remote.id)->endedAtMs, remote.createdAtMs + 1000);
    QCOMPARE(s->archiveVideo(remote.id), std::size_t(1));
    QVERIFY(!s->addReplicatedComment(c, "a"));
    QCOMPARE(s->archiveStats(remote.id).rows, std::size_t(0));
    QVERIFY(s->deleteReplicatedComment(remote.id, c.id, "a")); // from the archive block
    QVERIFY(!s->deleteReplicatedComment(remote.id, c.id, "a"));
    QVERIFY(s->comments(remote.id, {}).empty());
    QCOMPARE(s->video(remote.id)->commentCount, std::int64_t(0));
    // Nothing relayed came back into the queues: only the second local video was added.
    QCOMPARE(s->relayBacklog("a").depth, std::size_t(2));
    QCOMPARE(s->relayBacklog("c").depth, std::size_t(4));

    // Relayed comments and the chain: a copy above the video's head joins the chain after it;
    // an older copy (written there while newer ones arrived here) is stored unchained.
    Video chained = remote;
    chained.id = 3003;
    QVERIFY(s->addReplicatedVideo(chained, "a"));
    const auto eventOf = [&](std::uint64_t id) {
        std::lock_guard lock(mutex);
        for (const CommitEvent& e : seen) {
            if (e.type == CommitEvent::Type::CommentAdded && e.comment.id == id)
                return e;
        }
        return CommitEvent {};
    };
    Comment first = c, older = c, newer = c;
    first.videoId = older.videoId = newer.videoId = chained.id;
    older.id = c.id - (1u << 22); // a millisecond earlier
    newer.id = c.id + (1u << 22);
    QVERIFY(s->addReplicatedComment(first, "a"));
    QVERIFY(s->addReplicatedComment(older, "a"));
    QVERIFY(s->addReplicatedComment(newer, "a"));
    QCOMPARE(eventOf(first.id).comment.id, first.id);
    QVERIFY(eventOf(first.id).chained);
    QCOMPARE(eventOf(first.id).prevId, std::uint64_t(0));
    QCOMPARE(eventOf(older.id).comment.id, older.id);
    QVERIFY(!eventOf(older.id).chained);
    QVERIFY(eventOf(newer.id).chained);
    QCOMPARE(eventOf(newer.id).prevId, first.id);
    // A local comment after them follows the newest copy.
    const auto localAfter = addComments(*s, chained.id, 1);
    QVERIFY(localAfter[0] > newer.id);
    QCOMPARE(eventOf(localAfter[0]).prevId, newer.id);

    // The right to drain a peer: always this node's on SQLite (a region of one node); on
    // PostgreSQL one holder per peer until its connection closes.
    QFETCH_GLOBAL(QString, engine);
    auto lease = s->tryRelayLease("a");
    QVERIFY(lease && lease->held());
    QVERIFY(s->tryRelayLease("c") != nullptr); // another peer, another lease
    if (engine == QLatin1String("sqlite")) {
        QVERIFY(s->tryRelayLease("a") != nullptr);
    } else {
        QVERIFY(s->tryRelayLease("a") == nullptr);
        lease.reset();
        QTRY_VERIFY(s->tryRelayLease("a") != nullptr);
    }

    std::lock_guard lock(mutex);
    std::size_t fromA = 0;
    for (const auto& e : seen)
        fromA += e.origin == "a" ? 1 : 0;
    // video, comment, ended, deleted: each once; then the chained video and its three copies
    QCOMPARE(fromA, std::size_t(8));
}

void TstStore::tombstonesRefuseLateComments()
{
    // Region "c" of three: with the link a→c down, b's deletion of a comment written in a reaches
    // c before the comment (or even its video) does. The tombstone keeps it deleted.
    std::mutex mutex;
    std::vector<CommitEvent> seen;
    auto s = openRegionStore("c", mutex, seen);
    const auto committed = [&](std::uint64_t commentId) {
        std::lock_guard lock(mutex);
        return std::count_if(seen.begin(), seen.end(), [&](const CommitEvent& e) {
            return e.comment.id == commentId && e.type != CommitEvent::Type::VideoCreated;
        });
    };
    const Video remote = videoOfRegionA();
    const Comment c = relayedComment(remote.id,
        ids::snowflakeFloorForUnixMs(remote.createdAtMs + 1000) | (3u << 12), "deleted in b");
    PageQuery all;
    all.limit = 1000;

    // The video is here, the deletion arrives first: nothing to delete, but the tombstone stays,
    // and the comment arriving afterwards is refused: not stored, not committed, not counted.
    QVERIFY(s->addReplicatedVideo(remote, "a"));
    QVERIFY(!s->deleteReplicatedComment(remote.id, c.id, "b"));
    QCOMPARE(tombstoneCount(), 1);
    QVERIFY(!s->addReplicatedComment(c, "a"));
    QVERIFY(s->comments(remote.id, all).empty());
    QCOMPARE(s->video(remote.id)->commentCount, std::int64_t(0));
    QCOMPARE(committed(c.id), 0L);
    // Another comment of the same video still arrives.
    Comment kept = c;
    kept.id = c.id + (1u << 22);
    kept.text = "kept";
    QVERIFY(s->addReplicatedComment(kept, "a"));
    QCOMPARE(idsOf(s->comments(remote.id, all)), (QList<std::uint64_t> { kept.id }));

    // The deletion arrives before the video itself: same outcome once the video and the comment
    // arrive.
    Video later = remote;
    later.id = 3003;
    Comment early = c;
    early.videoId = later.id;
    QVERIFY(!s->deleteReplicatedComment(later.id, early.id, "b"));
    QVERIFY(!s->video(later.id).has_value());
    QVERIFY(s->addReplicatedVideo(later, "a"));
    QVERIFY(!s->addReplicatedComment(early, "a"));
    QVERIFY(s->comments(later.id, all).empty());
    QCOMPARE(committed(early.id), 0L);

    // Deleted here, then the same batch from a again (its sender died between c's 200 and
    // dropping its rows): the local deletion's tombstone refuses the repeat.
    QCOMPARE(errorKindOf([&] { s->deleteComment(remote.id, kept.id, user("5", Role::Moderator)); }),
        std::nullopt);
    QVERIFY(!s->addReplicatedComment(kept, "a"));
    QVERIFY(s->comments(remote.id, all).empty());
    QCOMPARE(committed(kept.id), 2L); // added once, deleted once
    QCOMPARE(tombstoneCount(), 3);
    // Only the local deletion was queued for the peers, nothing relayed.
    QCOMPARE(s->relayBacklog("a").depth, std::size_t(1));

    // Retention: a removed video's tombstones go with it; a deletion of a video that never came
    // goes once older than the cutoff; nothing else.
    QVERIFY(!s->deleteReplicatedComment(3006, c.id, "b")); // video 3006 never arrives
    QCOMPARE(tombstoneCount(), 4);
    QVERIFY(s->endReplicatedVideo(remote.id, remote.createdAtMs + 1000, "a"));
    QCOMPARE(s->purgeVideosEndedBefore(remote.createdAtMs + 2000), std::size_t(1));
    QCOMPARE(tombstoneCount(), 2);
    QCOMPARE(s->purgeOrphanTombstonesBefore(nowMs() - 60000), std::size_t(0)); // too recent
    const std::int64_t cutoff = nowMs() + 1;
    QTRY_VERIFY_WITH_TIMEOUT(nowMs() > cutoff, 5000);
    QCOMPARE(s->purgeOrphanTombstonesBefore(cutoff), std::size_t(1));
    QCOMPARE(tombstoneCount(), 1); // video 3003's: the video is still here
    QVERIFY(!s->addReplicatedComment(early, "a"));
}

void TstStore::retentionForgetsOldTombstones()
{
    // Retention (7 days here) removes the tombstones older than its cutoff together with the old
    // comments of a live video, not only when the video itself goes; a relayed copy of a comment
    // older than the window is refused by its age once its tombstone is gone.
    std::mutex mutex;
    std::vector<CommitEvent> seen;
    store::StoreOptions options;
    options.region = "c";
    options.relayPeers = { "a", "b" };
    options.videoIdStride = 3;
    options.videoIdSlot = 2;
    options.retentionDays = 7;
    auto s = openStore(options);
    const Video remote = videoOfRegionA(); // created long before the window, still live
    QVERIFY(s->addReplicatedVideo(remote, "a"));
    const Comment old = relayedComment(remote.id,
        ids::snowflakeFloorForUnixMs(remote.createdAtMs + 1000) | (3u << 12), "deleted in b");
    QVERIFY(!s->deleteReplicatedComment(remote.id, old.id, "b"));
    const std::uint64_t local = idOf(s->addComment(remote.id, user("2"), "mine", {}).body);
    QCOMPARE(errorKindOf([&] { s->deleteComment(remote.id, local, user("2")); }), std::nullopt);
    QCOMPARE(tombstoneCount(), 2);

    // Younger than the cutoff: kept.
    s->purgeCommentsBefore(nowMs() - 60000);
    QCOMPARE(tombstoneCount(), 2);
    // A cutoff after both deletions, and a third deletion after the cutoff.
    const std::int64_t cutoff = nowMs() + 1;
    QTRY_VERIFY_WITH_TIMEOUT(nowMs() > cutoff, 5000);
    const Comment recent = relayedComment(
        remote.id, ids::snowflakeFloorForUnixMs(nowMs()) | (4u << 12), "deleted in b later");
    QVERIFY(!s->deleteReplicatedComment(remote.id, recent.id, "b"));
    QCOMPARE(tombstoneCount(), 3);
    s->purgeCommentsBefore(cutoff);
    QCOMPARE(tombstoneCount(), 1); // the third one's
    QVERIFY(s->video(remote.id).has_value()); // the live video stays

    // Late copies: the old one stays deleted by its age, the recent one by its tombstone; a
    // recent comment still arrives.
    QVERIFY(!s->addReplicatedComment(old, "a"));
    QVERIFY(!s->addReplicatedComment(recent, "a"));
    Comment fresh = recent;
    fresh.id = recent.id + (1u << 22);
    QVERIFY(s->addReplicatedComment(fresh, "a"));
    PageQuery all;
    all.limit = 1000;
    QCOMPARE(idsOf(s->comments(remote.id, all)), (QList<std::uint64_t> { fresh.id }));
}

void TstStore::relayedDeletionRacesCommentOnAnotherNode()
{
    // Region c on PostgreSQL with two nodes (two stores on one database). Node 1 ingests b's
    // deletion of a comment of a's video before that video is here; meanwhile node 2 ingests the
    // video and then the comment itself. Whatever the interleaving, the comment must end deleted.
    // The interleaving that lost it: node 1 checked for the video (absent) and is about to record
    // the tombstone when node 2 stores video and comment. Held there deterministically: a session
    // of the test's own inserts the same tombstone key first (uncommitted), so node 1's insert
    // waits on it; it rolls back once node 2 has stored the comment or is waiting for node 1.
    QFETCH_GLOBAL(QString, engine);
    if (engine == QLatin1String("sqlite"))
        QSKIP("one writer per SQLite file: two nodes cannot interleave their transactions");
    store::StoreOptions options;
    options.region = "c";
    options.relayPeers = { "a", "b" };
    options.videoIdStride = 3;
    options.videoIdSlot = 2;
    auto node1 = openStore(options);
    ids::SnowflakeGenerator otherNode { 2 };
    auto node2 = store::makeCommentStore(m_url.toStdString(), options, otherNode);
    node2->open();
    const Video remote = videoOfRegionA();
    const Comment c = relayedComment(remote.id,
        ids::snowflakeFloorForUnixMs(remote.createdAtMs + 1000) | (3u << 12), "deleted in b");

    auto holder = ownSession();
    auto watcher = ownSession();
    const auto lockWaits = [&] {
        Poco::Int64 waiting = -1;
        *watcher << "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'",
            Poco::Data::Keywords::into(waiting), Poco::Data::Keywords::now;
        return waiting;
    };
    Poco::Int64 vid = remote.id, cid = static_cast<Poco::Int64>(c.id);
    holder->begin();
    *holder << "INSERT INTO deleted_comments (video_id, comment_id, deleted_at) VALUES ($1, $2, 0)",
        Poco::Data::Keywords::use(vid), Poco::Data::Keywords::use(cid), Poco::Data::Keywords::now;

    std::atomic<int> deletion { -1 }, comment { -1 }; // -1 running, else the result (0/1), 2 threw
    const auto run = [](std::atomic<int>& result, const std::function<bool()>& fn) {
        return std::thread([&result, fn] {
            try {
                result = fn() ? 1 : 0;
            } catch (const std::exception& e) {
                qWarning("%s", e.what());
                result = 2;
            }
        });
    };
    std::thread deleter
        = run(deletion, [&] { return node1->deleteReplicatedComment(remote.id, c.id, "b"); });
    const bool deleterWaits = QTest::qWaitFor([&] { return lockWaits() == 1; }, 10000);
    QVERIFY(node2->addReplicatedVideo(remote, "a"));
    std::thread commenter = run(comment, [&] { return node2->addReplicatedComment(c, "a"); });
    const bool commenterSettled
        = QTest::qWaitFor([&] { return comment != -1 || lockWaits() == 2; }, 10000);
    holder->rollback();
    deleter.join();
    commenter.join();
    QVERIFY(deleterWaits);
    QVERIFY(commenterSettled);
    QCOMPARE(deletion.load(), 0); // nothing was there to delete when it ran
    QCOMPARE(comment.load(), 0); // refused: the tombstone committed first
    PageQuery all;
    all.limit = 1000;
    QVERIFY(node1->comments(remote.id, all).empty());
    QVERIFY(node2->comments(remote.id, all).empty());
    QCOMPARE(node1->video(remote.id)->commentCount, std::int64_t(0));
    QCOMPARE(tombstoneCount(), 1);

    // The other order, many times and unsteered: each deletion on node 1 races the comment's
    // ingest on node 2 (video already here); the comment never survives.
    for (int round = 0; round < 50; ++round) {
        Comment raced = c;
        raced.id = c.id + (std::uint64_t(round + 1) << 22);
        std::thread d([&] { node1->deleteReplicatedComment(remote.id, raced.id, "b"); });
        node2->addReplicatedComment(raced, "a");
        d.join();
        QVERIFY2(node1->comments(remote.id, all).empty(), qPrintable(QString::number(round)));
    }
    QCOMPARE(node2->video(remote.id)->commentCount, std::int64_t(0));

    // Video ids use all 32 bits: the per-video lock takes the largest one too.
    Video big = remote;
    big.id = 4294967295u; // UINT32_MAX: region a's slot (divisible by 3)
    QVERIFY(node1->addReplicatedVideo(big, "a"));
    const Comment onBig
        = relayedComment(big.id, c.id + (std::uint64_t(60) << 22), "on the largest video id");
    QVERIFY(node2->addReplicatedComment(onBig, "a"));
    QCOMPARE(idsOf(node1->comments(big.id, all)), (QList<std::uint64_t> { onBig.id }));
    QVERIFY(node1->deleteReplicatedComment(big.id, onBig.id, "b"));
    QVERIFY(node2->comments(big.id, all).empty());
}

void TstStore::closedStoreRefusesWrites()
{
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    s->close();
    s->close(); // idempotent
    QCOMPARE(
        errorKindOf([&] { s->addComment(video, user("2"), "x", {}); }), ErrorKind::Unavailable);
    QVERIFY(s->video(video).has_value()); // reads keep working
}

void TstStore::writesResumeAfterLostConnection()
{
    QFETCH_GLOBAL(QString, engine);
    auto s = openStore();
    const std::uint32_t video = newVideo(*s);
    addComments(*s, video, 2);
    QVERIFY(s->video(video).has_value()); // a reader connection is open too
    if (engine == QLatin1String("postgresql")) {
        // What a PostgreSQL restart or failover does to the server's connections.
        Poco::Data::PostgreSQL::Connector::registerConnector();
        Poco::Data::Session admin("PostgreSQL",
            QStringLiteral("host=127.0.0.1 port=%1 user=postgres dbname=postgres")
                .arg(m_postgres->port())
                .toStdString());
        int terminated = 0;
        admin << "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE application_name = 'livecomments-server'",
            Poco::Data::Keywords::into(terminated), Poco::Data::Keywords::now;
        QVERIFY2(terminated >= 2, qPrintable(QString::number(terminated))); // writer + a reader
    }
    // SQLite has no connection to lose: the same writes simply keep working. On PostgreSQL the
    // first batch may fail (500, nothing committed); the writer then reconnects.
    int failures = 0;
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 5; ++i) {
        try {
            ids.push_back(idOf(s->addComment(video, user("2"), "after", {}).body));
        } catch (const ApiError& e) {
            QCOMPARE(e.kind(), ErrorKind::Internal);
            ++failures;
        }
    }
    qInfo("write failures after the loss: %d", failures);
    QVERIFY2(failures <= 1, qPrintable(QString::number(failures)));
    QVERIFY(ids.size() >= 4);
    // Readers recover too: every acknowledged comment is there.
    std::optional<Video> v;
    for (int i = 0; i < 3 && !v; ++i) {
        try {
            v = s->video(video);
        } catch (const Poco::Exception&) { }
    }
    QVERIFY(v.has_value());
    QCOMPARE(v->commentCount, std::int64_t(2 + ids.size()));
}

void TstStore::twoStoresShareOneDatabase()
{
    // Two stores with their own writers on one database, as two servers of a cluster: batches
    // of both touch the same videos concurrently and race on the same idempotency keys.
    constexpr int kThreadsPerStore = 3;
    constexpr int kRounds = 20;
    auto a = openStore();
    ids::SnowflakeGenerator otherNode { 2 };
    auto b = store::makeCommentStore(m_url.toStdString(), {}, otherNode);
    b->open();
    const std::vector<std::uint32_t> videos { newVideo(*a), newVideo(*b), newVideo(*a) };

    std::mutex resultsMutex;
    std::map<std::string, std::vector<store::IdempotentResult>> raced; // key → both results
    const int errors = writeConcurrently(
        { a.get(), b.get() }, kThreadsPerStore, kRounds, [&](CommentStore& s, int t, int r) {
            // Each thread walks the videos in its own order.
            for (int i = 0; i < 3; ++i)
                s.addComment(videos[(t + i) % 3], user("2"), "plain", {});
            const std::string key = "race-" + std::to_string(t) + "-" + std::to_string(r);
            auto result = s.addComment(videos[t], user("9"), "raced", key);
            std::lock_guard lock(resultsMutex);
            raced[key].push_back(std::move(result));
        });
    QCOMPARE(errors, 0);

    QCOMPARE(raced.size(), std::size_t(kThreadsPerStore * kRounds));
    for (const auto& [key, results] : raced) {
        QCOMPARE(results.size(), std::size_t(2));
        QCOMPARE(results[0].body, results[1].body); // one comment, the same answer twice
        QVERIFY2(results[0].replayed != results[1].replayed, key.c_str());
    }
    // Both stores see the same history; counts match the rows.
    const std::size_t plainPerVideo = 2 * kThreadsPerStore * kRounds;
    for (std::size_t i = 0; i < videos.size(); ++i) {
        const std::size_t expected = plainPerVideo + kRounds; // + thread i's raced keys
        QCOMPARE(a->countAfter(videos[i], 0, 100000), expected);
        QCOMPARE(b->countAfter(videos[i], 0, 100000), expected);
        QCOMPARE(a->video(videos[i])->commentCount, std::int64_t(expected));
    }
}

void TstStore::commitOrderIsIdOrderAcrossNodes()
{
    // Two stores on one database as two nodes; node 4's clock runs 5 s ahead, so node 3 mints
    // smaller ids than the ones node 4 committed just before (docs/protocol.md "Order across
    // nodes"). The store re-mints them above the video's newest id and links every comment to
    // the one committed before it.
    ids::SnowflakeGenerator nodeA { 3 };
    ids::SnowflakeGenerator nodeB { 4, [] { return nowMs() + 5000; } };
    std::mutex eventsMutex;
    std::vector<CommitEvent> events; // of both stores, each store's in its commit order
    auto record = [&](const std::vector<CommitEvent>& committed) {
        std::lock_guard lock(eventsMutex);
        for (const auto& e : committed) {
            if (e.type == CommitEvent::Type::CommentAdded)
                events.push_back(e);
        }
    };
    makeStore(); // this test's database
    auto a = store::makeCommentStore(m_url.toStdString(), {}, nodeA);
    auto b = store::makeCommentStore(m_url.toStdString(), {}, nodeB);
    a->onCommitted = record;
    b->onCommitted = record;
    a->open();
    b->open();
    const std::uint32_t video = newVideo(*a);
    QCOMPARE(a->chainHead(video), std::uint64_t(0));

    // One after the other, alternating: commit order is this order.
    std::vector<std::uint64_t> ids;
    for (int i = 0; i < 12; ++i) {
        CommentStore& s = i % 2 == 0 ? *b : *a;
        ids.push_back(idOf(s.addComment(video, user("2"), "c" + std::to_string(i), {}).body));
        if (i == 6)
            b->deleteComment(video, ids.back(), user("2")); // the head stays the deleted id
    }
    for (std::size_t i = 1; i < ids.size(); ++i)
        QVERIFY2(ids[i] > ids[i - 1], qPrintable(QStringLiteral("comment %1").arg(i)));
    // Node 3's ids were re-minted above node 4's: still its own (node bits), 5 s "early".
    const std::uint64_t fromA = ids[1];
    QCOMPARE(std::uint32_t((fromA >> ids::kSequenceBits) & ids::kMaxNodeId), 3u);
    QVERIFY(ids::snowflakeUnixMs(fromA) >= nowMs() + 4000);
    {
        std::lock_guard lock(eventsMutex);
        QCOMPARE(events.size(), ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
            QCOMPARE(events[i].comment.id, ids[i]);
            QVERIFY(events[i].chained);
            QCOMPARE(events[i].prevId, i == 0 ? std::uint64_t(0) : ids[i - 1]);
        }
        events.clear();
    }
    QCOMPARE(a->chainHead(video), ids.back());

    // Concurrently on both nodes: the links still form one unbroken chain of rising ids.
    QCOMPARE(writeConcurrently({ a.get(), b.get() }, 2, 15,
                 [&](CommentStore& s, int, int) { s.addComment(video, user("2"), "racing", {}); }),
        0);
    std::map<std::uint64_t, std::uint64_t> next; // prevId → id
    {
        std::lock_guard lock(eventsMutex);
        QCOMPARE(events.size(), std::size_t(60));
        for (const auto& e : events) {
            QVERIFY(e.chained);
            QVERIFY2(next.emplace(e.prevId, e.comment.id).second, "two comments share a link");
        }
    }
    std::uint64_t at = ids.back();
    std::size_t walked = 0;
    for (auto it = next.find(at); it != next.end(); it = next.find(at)) {
        QVERIFY(it->second > at);
        at = it->second;
        ++walked;
    }
    QCOMPARE(walked, std::size_t(60));
    QCOMPARE(b->chainHead(video), at);
    QCOMPARE(a->countAfter(video, 0, 1000), std::size_t(12 - 1 + 60));
}

void TstStore::reMintedIdsStayAboveTheFloor()
{
    // The generator behind the store's re-mint (ids/snowflake.h), on a stopped clock.
    const std::int64_t t = nowMs();
    ids::SnowflakeGenerator node { 5, [t] { return t; } };
    auto idAt = [](std::int64_t unixMs, std::uint64_t nodeId, std::uint64_t seq) {
        return ids::snowflakeFloorForUnixMs(unixMs) | nodeId << ids::kSequenceBits | seq;
    };
    const auto nodeOf = [](std::uint64_t id) {
        return std::uint32_t((id >> ids::kSequenceBits) & ids::kMaxNodeId);
    };
    // A floor in the same millisecond with larger node bits: the next millisecond beats it.
    std::uint64_t floor = idAt(t, 9, 7);
    std::uint64_t id = node.nextAfter(floor);
    QVERIFY(id > floor);
    QCOMPARE(ids::snowflakeUnixMs(id), t + 1);
    QCOMPARE(nodeOf(id), 5u);
    // A floor 3 s ahead with smaller node bits: its own millisecond is enough.
    floor = idAt(t + 3000, 2, 4000);
    id = node.nextAfter(floor);
    QVERIFY(id > floor);
    QCOMPARE(ids::snowflakeUnixMs(id), t + 3000);
    // The generator keeps that logical time: later ids (whatever the floor) rise from there.
    const std::uint64_t later = node.next();
    QVERIFY(later > id);
    QVERIFY(node.nextAfter(0) > later);
    QCOMPARE(nodeOf(later), 5u);
}

void TstStore::chainHeadBackfilledByMigration()
{
    std::uint32_t live = 0, packed = 0, empty = 0;
    std::vector<std::uint64_t> liveIds, packedIds;
    {
        auto s = openStore();
        live = newVideo(*s);
        packed = newVideo(*s);
        empty = newVideo(*s);
        liveIds = addComments(*s, live, 5);
        packedIds = addComments(*s, packed, 5);
        s->endVideo(packed, user("1", Role::Streamer));
        QCOMPARE(s->archiveVideo(packed), std::size_t(5));
        QCOMPARE(s->archiveStats(packed).rows, std::size_t(0)); // only in archive blocks now
        s->close();
    }
    {
        // Back to the schema before the chain head.
        using Poco::Data::Keywords::now;
        auto db = rawSession();
        *db << "ALTER TABLE videos DROP COLUMN last_id", now;
        *db << "DELETE FROM schema_migrations WHERE name = 'video_last_id'", now;
    }
    auto s = openStore();
    QCOMPARE(s->migrationsApplied(), 1);
    QCOMPARE(s->chainHead(live), liveIds.back());
    QCOMPARE(s->chainHead(packed), packedIds.back()); // from the archive blocks' ranges
    QCOMPARE(s->chainHead(empty), std::uint64_t(0));
    const auto next = addComments(*s, live, 1);
    QVERIFY(next[0] > liveIds.back());
    QCOMPARE(s->chainHead(live), next[0]);
}

void TstStore::malformedUrls_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("complaint");
    QTest::newRow("empty") << ""
                           << "unknown store";
    QTest::newRow("mysql") << "mysql://u@h/db"
                           << "unknown store";
    QTest::newRow("bare path") << "/var/lib/lc.db"
                               << "unknown store";
    QTest::newRow("empty sqlite path") << "sqlite:"
                                       << "empty SQLite path";
    QTest::newRow("no database") << "postgresql://u@h:5432"
                                 << "no database name";
    QTest::newRow("empty database") << "postgresql://u@h:5432/"
                                    << "no database name";
    QTest::newRow("no user") << "postgresql://h:5432/db"
                             << "no user";
    QTest::newRow("empty user") << "postgresql://:pw@h/db"
                                << "empty user";
    QTest::newRow("no host") << "postgresql://u@:5432/db"
                             << "no host";
    QTest::newRow("port text") << "postgresql://u@h:abc/db"
                               << "not a number";
    QTest::newRow("port range") << "postgresql://u@h:70000/db"
                                << "out of range";
    QTest::newRow("empty port") << "postgresql://u@h:/db"
                                << "empty port";
    QTest::newRow("query") << "postgresql://u@h/db?sslmode=require"
                           << "unsupported";
    QTest::newRow("bad escape") << "postgresql://u%4@h/db"
                                << "bad %-escape";
    QTest::newRow("ipv6 unclosed") << "postgresql://u@[::1/db"
                                   << "unclosed";
}

void TstStore::malformedUrls()
{
    QFETCH(QString, url);
    QFETCH(QString, complaint);
    try {
        store::makeCommentStore(url.toStdString(), {}, m_ids);
        QFAIL("accepted");
    } catch (const store::StoreUrlError& e) {
        const QString what = QString::fromStdString(e.what());
        QVERIFY2(what.contains(complaint), qPrintable(what));
        QVERIFY2(what.contains(QStringLiteral("expected sqlite:PATH or postgresql://")),
            qPrintable(what));
    }
    // And the good forms parse.
    const auto pg = store::parseStoreUrl("postgresql://lc%40x:p%3Aw@[::1]:6543/live%20db");
    QCOMPARE(pg.user, std::string("lc@x"));
    QCOMPARE(pg.password, std::string("p:w"));
    QCOMPARE(pg.host, std::string("::1"));
    QCOMPARE(pg.port, 6543);
    QCOMPARE(pg.database, std::string("live db"));
    QCOMPARE(store::parseStoreUrl("postgres://u@db/x").port, 5432);
    QCOMPARE(store::parseStoreUrl("sqlite:a:b.db").path, std::string("a:b.db"));
}

void TstStore::unreachableStoreFailsWithinDeadline()
{
    QFETCH_GLOBAL(QString, engine);
    QString url;
    QString expected;
    if (engine == QLatin1String("sqlite")) {
        url = QStringLiteral("sqlite:") + m_sqliteDir.filePath(QStringLiteral("missing/dir/x.db"));
        expected = QStringLiteral("unable to open");
    } else {
        // A port nothing listens on: the server was stopped, its port is free.
        lctest::PostgresProcess gone;
        QVERIFY2(gone.start(), qPrintable(gone.errorString()));
        url = gone.url(QStringLiteral("postgres"));
        gone.stop();
        expected = QStringLiteral("is unreachable: 3 attempt(s)");
    }
    store::StoreOptions options;
    options.connectAttempts = 3;
    options.connectDeadlineMs = 4000;
    auto s = store::makeCommentStore(url.toStdString(), options, m_ids);
    QElapsedTimer timer;
    timer.start();
    try {
        s->open();
        QFAIL("opened an unreachable store");
    } catch (const Poco::Exception& e) {
        const QString what = QString::fromStdString(e.displayText());
        QVERIFY2(what.contains(expected, Qt::CaseInsensitive), qPrintable(what));
    }
    QVERIFY2(timer.elapsed() < options.connectDeadlineMs + 2000,
        qPrintable(QStringLiteral("took %1 ms").arg(timer.elapsed())));
}

QTEST_GUILESS_MAIN(TstStore)
#include "tst_store.moc"
