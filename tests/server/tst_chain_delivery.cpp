// SPDX-License-Identifier: MIT
// The chain delivery of a clustered node (service/chain_delivery.h, docs/protocol.md "Order
// across nodes"), alone: comments released in chain order whatever order they arrive in, a
// missing predecessor filled from the store after the gap wait, duplicates dropped, deletions
// and the end of a video. The "store" is a list the test fills; the class only sees its fill
// callback.
#include "service/chain_delivery.h"

#include <QTest>

#include <mutex>
#include <vector>

using namespace livecomments::server;
using namespace std::chrono_literals;

namespace {

using Ids = std::vector<std::uint64_t>;

bus::BusEvent comment(std::uint64_t id, std::uint64_t prev, std::uint32_t video = 1)
{
    bus::BusEvent e;
    e.videoId = video;
    e.commentId = id;
    e.prevId = prev;
    e.json = "{\"id\":\"" + std::to_string(id) + "\"}";
    return e;
}

bus::BusEvent deletion(std::uint64_t id, std::uint32_t video = 1)
{
    bus::BusEvent e;
    e.type = bus::BusEvent::Type::Deleted;
    e.videoId = video;
    e.commentId = id;
    return e;
}

bus::BusEvent ended(std::uint32_t video = 1)
{
    bus::BusEvent e;
    e.type = bus::BusEvent::Type::VideoEnded;
    e.videoId = video;
    return e;
}

/// What the node delivered, in order.
struct Sink {
    std::mutex mutex;
    std::vector<bus::BusEvent> events;
    void operator()(const bus::BusEvent& e)
    {
        std::lock_guard lock(mutex);
        events.push_back(e);
    }
    /// Ids of the delivered comments (deletions and ends left out).
    Ids comments()
    {
        std::lock_guard lock(mutex);
        Ids out;
        for (const auto& e : events) {
            if (e.type == bus::BusEvent::Type::Comment)
                out.push_back(e.commentId);
        }
        return out;
    }
    std::size_t size()
    {
        std::lock_guard lock(mutex);
        return events.size();
    }
    std::vector<bus::BusEvent::Type> types()
    {
        std::lock_guard lock(mutex);
        std::vector<bus::BusEvent::Type> out;
        for (const auto& e : events)
            out.push_back(e.type);
        return out;
    }
};

/// A video's stored comments and chain head, as CommentStore would answer a fill.
struct Store {
    std::mutex mutex;
    std::uint64_t head = 0;
    Ids ids; ///< ascending
    int reads = 0;
    int failuresLeft = 0; ///< the next reads fail
    std::uint64_t lastAfter = 0;

    std::optional<ChainDelivery::Fill> read(std::uint32_t videoId, std::uint64_t afterId)
    {
        std::lock_guard lock(mutex);
        ++reads;
        lastAfter = afterId;
        if (failuresLeft > 0) {
            --failuresLeft;
            return std::nullopt;
        }
        ChainDelivery::Fill fill;
        fill.head = head;
        for (const auto id : ids) {
            if (id > afterId)
                fill.comments.push_back(comment(id, 0, videoId));
        }
        return fill;
    }
    int readCount()
    {
        std::lock_guard lock(mutex);
        return reads;
    }
};

/// A chain delivery wired to a sink and a store.
struct Rig {
    Sink sink;
    Store store;
    ChainDelivery chain;
    explicit Rig(std::chrono::milliseconds gapWait = 10s)
        : chain(
            gapWait, [this](const auto& e) { sink(e); },
            [this](auto video, auto after) { return store.read(video, after); })
    { }
};

} // namespace

class TstChainDelivery : public QObject {
    Q_OBJECT

private slots:
    void inOrderGoesOutAtOnce();
    void overtakingCommentWaitsForItsPredecessor();
    void duplicatesAreDropped();
    void missingPredecessorIsFilledFromTheStore();
    void headAheadIsFilledOnlyWhenNotCaughtUp();
    void requestedFillAndStoreFailure();
    void deletedCommentsNeverGoOut();
    void endWaitsForTheWholeChain();
    void unchainedAndUntrackedGoOutAtOnce();
    void forgetReleasesWhatIsHeld();
};

void TstChainDelivery::inOrderGoesOutAtOnce()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    chain.track(1, 100);
    QVERIFY(chain.submit(comment(105, 100)));
    QVERIFY(chain.submit(comment(110, 105)));
    QVERIFY(chain.submit(comment(120, 110)));
    QCOMPARE(sink.comments(), (Ids { 105, 110, 120 })); // synchronously: no hold, no timer
    QCOMPARE(chain.newest(1), std::uint64_t(120));
    QCOMPARE(store.readCount(), 0);
}

void TstChainDelivery::overtakingCommentWaitsForItsPredecessor()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    chain.track(1, 0);
    // Node B's comment (prev = node A's) arrives before node A's, its successor even earlier.
    QVERIFY(chain.submit(comment(30, 20)));
    QVERIFY(chain.submit(comment(20, 10)));
    QVERIFY(sink.comments().empty());
    QVERIFY(chain.submit(comment(10, 0)));
    QCOMPARE(sink.comments(), (Ids { 10, 20, 30 }));
    // A second video is independent of the first.
    chain.track(2, 0);
    QVERIFY(chain.submit(comment(15, 5, 2)));
    QCOMPARE(sink.comments(), (Ids { 10, 20, 30 }));
    QVERIFY(chain.submit(comment(5, 0, 2)));
    QCOMPARE(sink.comments(), (Ids { 10, 20, 30, 5, 15 }));
    QCOMPARE(store.readCount(), 0);
    QCOMPARE(chain.late(), std::uint64_t(0));
}

void TstChainDelivery::duplicatesAreDropped()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    chain.track(1, 50);
    QVERIFY(!chain.submit(comment(40, 30))); // committed before the video was tracked
    QVERIFY(chain.submit(comment(70, 60)));
    QVERIFY(!chain.submit(comment(70, 60))); // while held
    QVERIFY(chain.submit(comment(60, 50)));
    QVERIFY(!chain.submit(comment(60, 50))); // after release
    QVERIFY(!chain.submit(comment(70, 60)));
    QCOMPARE(sink.comments(), (Ids { 60, 70 }));
    QCOMPARE(chain.duplicates(), std::uint64_t(4));
}

void TstChainDelivery::missingPredecessorIsFilledFromTheStore()
{
    Rig rig(50ms);
    auto& [sink, store, chain] = rig;
    store.ids = { 10, 20, 30, 40 };
    store.head = 40;
    chain.track(1, 0);
    QVERIFY(chain.submit(comment(10, 0)));
    // 20 and 30 never come over the bus (their publisher died); 40 arrives.
    QVERIFY(chain.submit(comment(40, 30)));
    QCOMPARE(sink.comments(), (Ids { 10 }));
    QTRY_COMPARE_WITH_TIMEOUT(sink.comments(), (Ids { 10, 20, 30, 40 }), 5000);
    QCOMPARE(store.readCount(), 1);
    QCOMPARE(store.lastAfter, std::uint64_t(10)); // read from the delivered position on
    QCOMPARE(chain.chainGapFills(), std::uint64_t(1));
    QCOMPARE(chain.filledComments(), std::uint64_t(2)); // 20 and 30; 40 had arrived
    QCOMPARE(chain.newest(1), std::uint64_t(40));
    // The lost event turns up after all: a duplicate.
    QVERIFY(!chain.submit(comment(20, 10)));
    QVERIFY(chain.submit(comment(50, 40)));
    QCOMPARE(sink.comments(), (Ids { 10, 20, 30, 40, 50 }));
    QCOMPARE(chain.late(), std::uint64_t(0));
}

void TstChainDelivery::headAheadIsFilledOnlyWhenNotCaughtUp()
{
    Rig rig(50ms);
    auto& [sink, store, chain] = rig;
    store.ids = { 10, 20 };
    store.head = 20;
    chain.track(1, 0);
    // The sweep saw the head at 20; both comments are still on the bus and arrive in time.
    chain.expect(1, 20);
    QVERIFY(chain.submit(comment(10, 0)));
    QVERIFY(chain.submit(comment(20, 10)));
    // An expectation the chain has reached already is dropped at once.
    chain.expect(1, 20);
    // Now a head the bus never carried: the store fills it after the wait.
    {
        std::lock_guard lock(store.mutex);
        store.ids.push_back(30);
        store.head = 30;
    }
    chain.expect(1, 30);
    QTRY_COMPARE_WITH_TIMEOUT(sink.comments(), (Ids { 10, 20, 30 }), 5000);
    QCOMPARE(store.readCount(), 1); // one read, for 30 only
    QCOMPARE(chain.chainGapFills(), std::uint64_t(0)); // no comment was waiting
    QCOMPARE(chain.filledComments(), std::uint64_t(1));
}

void TstChainDelivery::requestedFillAndStoreFailure()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    store.ids = { 10, 20 };
    store.head = 20;
    store.failuresLeft = 2;
    chain.track(1, 0);
    // After a bus reconnect: read at once (no gap wait), retried while the store fails.
    chain.requestFill(1);
    QTRY_COMPARE_WITH_TIMEOUT(sink.comments(), (Ids { 10, 20 }), 5000);
    QCOMPARE(store.readCount(), 3);
    chain.requestFill(7); // not tracked: nothing to do
    QCOMPARE(store.readCount(), 3);
}

void TstChainDelivery::deletedCommentsNeverGoOut()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    chain.track(1, 0);
    QVERIFY(chain.submit(comment(10, 0)));
    // 30 waits for 20; 30 is deleted meanwhile: the deletion goes out at once, 30 never does.
    QVERIFY(chain.submit(comment(30, 20)));
    QVERIFY(chain.submit(deletion(30)));
    // 50 is deleted before it even arrives (the deleting node's event came first).
    QVERIFY(chain.submit(deletion(50)));
    QVERIFY(chain.submit(comment(20, 10)));
    QVERIFY(chain.submit(comment(40, 30)));
    QVERIFY(chain.submit(comment(50, 40)));
    QVERIFY(chain.submit(comment(60, 50)));
    QCOMPARE(sink.comments(), (Ids { 10, 20, 40, 60 }));
    using T = bus::BusEvent::Type;
    QCOMPARE(sink.types(),
        (std::vector<T> {
            T::Comment, T::Deleted, T::Deleted, T::Comment, T::Comment, T::Comment }));
    QCOMPARE(chain.newest(1), std::uint64_t(60));
    QCOMPARE(store.readCount(), 0);
}

void TstChainDelivery::endWaitsForTheWholeChain()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    store.ids = { 10, 20, 30 };
    store.head = 30;
    chain.track(1, 0);
    QVERIFY(chain.submit(comment(10, 0)));
    QVERIFY(chain.submit(comment(30, 20)));
    // The end overtook 20 (published by another node): it waits for a fill, not for 10 s.
    QVERIFY(chain.submit(ended()));
    QTRY_COMPARE_WITH_TIMEOUT(sink.size(), std::size_t(4), 5000);
    QCOMPARE(sink.comments(), (Ids { 10, 20, 30 }));
    QCOMPARE(sink.types().back(), bus::BusEvent::Type::VideoEnded);
    // Nothing follows the end.
    QVERIFY(!chain.submit(comment(20, 10)));
    QVERIFY(!chain.submit(comment(40, 30)));
    QVERIFY(!chain.submit(ended()));
    QCOMPARE(sink.size(), std::size_t(4));
}

void TstChainDelivery::unchainedAndUntrackedGoOutAtOnce()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    // Untracked (no local viewers): straight through, whatever the order.
    QVERIFY(chain.submit(comment(30, 20, 9)));
    QVERIFY(chain.submit(comment(10, 0, 9)));
    QCOMPARE(sink.comments(), (Ids { 30, 10 }));
    chain.track(1, 100);
    QVERIFY(chain.submit(comment(110, 100)));
    // A cross-region copy with an older id: out at once, counted late, the chain untouched.
    auto copy = comment(105, 0);
    copy.chained = false;
    QVERIFY(chain.submit(copy));
    QVERIFY(!chain.submit(copy));
    QCOMPARE(chain.late(), std::uint64_t(1));
    QCOMPARE(chain.newest(1), std::uint64_t(110));
    QVERIFY(chain.submit(comment(120, 110)));
    QCOMPARE(sink.comments(), (Ids { 30, 10, 110, 105, 120 }));
}

void TstChainDelivery::forgetReleasesWhatIsHeld()
{
    Rig rig;
    auto& [sink, store, chain] = rig;
    chain.track(1, 0);
    QVERIFY(chain.submit(comment(30, 20)));
    QVERIFY(chain.submit(comment(20, 15)));
    chain.forget(1);
    QCOMPARE(sink.comments(), (Ids { 20, 30 }));
    QVERIFY(!chain.tracking(1));
    chain.track(1, 30);
    QVERIFY(chain.submit(comment(40, 35)));
    chain.stop(); // releases too, then passes everything through
    QCOMPARE(sink.comments(), (Ids { 20, 30, 40 }));
    QVERIFY(chain.submit(comment(60, 50)));
    QCOMPARE(sink.comments(), (Ids { 20, 30, 40, 60 }));
    QCOMPARE(store.readCount(), 0);
}

QTEST_GUILESS_MAIN(TstChainDelivery)
#include "tst_chain_delivery.moc"
