// SPDX-License-Identifier: MIT
// The per-video reorder hold of a clustered node (service/ordered_delivery.h, docs/protocol.md
// "Order across nodes"): id order within the hold, late comments still delivered and counted,
// duplicates dropped, deletions never overtake the comments before them.
#include "ids/snowflake.h"
#include "model/clock.h"
#include "service/ordered_delivery.h"

#include <QTest>

#include <mutex>
#include <vector>

using namespace livecomments::server;

namespace {

/// A comment id minted `agoMs` before now by `node`.
std::uint64_t idAgo(std::int64_t agoMs, std::uint32_t node, std::uint32_t seq = 0)
{
    const std::uint64_t ms = static_cast<std::uint64_t>(wallClockMs() - agoMs - ids::kEpochUnixMs);
    return (ms << 22) | (std::uint64_t(node) << 12) | seq;
}

bus::BusEvent comment(std::uint64_t id, std::uint32_t video = 1)
{
    bus::BusEvent e;
    e.videoId = video;
    e.commentId = id;
    e.json = "{}";
    return e;
}

struct Sink {
    std::mutex mutex;
    std::vector<bus::BusEvent> events;
    void operator()(const bus::BusEvent& e)
    {
        std::lock_guard lock(mutex);
        events.push_back(e);
    }
    std::vector<std::uint64_t> ids()
    {
        std::lock_guard lock(mutex);
        std::vector<std::uint64_t> out;
        for (const auto& e : events)
            out.push_back(e.commentId);
        return out;
    }
    std::size_t size()
    {
        std::lock_guard lock(mutex);
        return events.size();
    }
};

} // namespace

class TstOrderedDelivery : public QObject {
    Q_OBJECT

private slots:
    void releasesInIdOrderWithinTheHold();
    void lateCommentIsDeliveredAndCounted();
    void duplicatesAreDropped();
    void deletionFlushesHeldComments();
    void zeroHoldReleasesAtOnce();
};

void TstOrderedDelivery::releasesInIdOrderWithinTheHold()
{
    Sink sink;
    OrderedDelivery delivery(std::chrono::milliseconds(200), [&](const auto& e) { sink(e); });
    // Node A's comment arrives first, node B's older one 20 ms later: both within the hold.
    const std::uint64_t older = idAgo(30, 2);
    const std::uint64_t newer = idAgo(10, 1);
    QVERIFY(older < newer);
    QVERIFY(delivery.submit(comment(newer)));
    QTest::qWait(20);
    QCOMPARE(sink.size(), std::size_t(0)); // held
    QVERIFY(delivery.submit(comment(older)));
    QTRY_COMPARE_WITH_TIMEOUT(sink.size(), std::size_t(2), 2000);
    QCOMPARE(sink.ids(), (std::vector<std::uint64_t> { older, newer }));
    QCOMPARE(delivery.late(), std::uint64_t(0));
    QCOMPARE(delivery.newestReleased(1), newer);
}

void TstOrderedDelivery::lateCommentIsDeliveredAndCounted()
{
    Sink sink;
    OrderedDelivery delivery(std::chrono::milliseconds(20), [&](const auto& e) { sink(e); });
    const std::uint64_t newer = idAgo(0, 1);
    QVERIFY(delivery.submit(comment(newer)));
    QTRY_COMPARE_WITH_TIMEOUT(sink.size(), std::size_t(1), 2000);
    const std::uint64_t older = idAgo(500, 2); // minted long ago: past the hold
    QVERIFY(delivery.submit(comment(older)));
    QTRY_COMPARE_WITH_TIMEOUT(sink.size(), std::size_t(2), 2000);
    QCOMPARE(sink.ids(), (std::vector<std::uint64_t> { newer, older }));
    QCOMPARE(delivery.late(), std::uint64_t(1));
}

void TstOrderedDelivery::duplicatesAreDropped()
{
    Sink sink;
    OrderedDelivery delivery(std::chrono::milliseconds(20), [&](const auto& e) { sink(e); });
    const std::uint64_t id = idAgo(0, 3);
    QVERIFY(delivery.submit(comment(id)));
    QVERIFY(!delivery.submit(comment(id))); // while held
    QTRY_COMPARE_WITH_TIMEOUT(sink.size(), std::size_t(1), 2000);
    QVERIFY(!delivery.submit(comment(id))); // after release
    QVERIFY(delivery.submit(comment(id, 2))); // the same id of another video is another comment
    QTRY_COMPARE_WITH_TIMEOUT(sink.size(), std::size_t(2), 2000);
    QCOMPARE(delivery.duplicates(), std::uint64_t(2));
    QVERIFY(delivery.released(1, id));
}

void TstOrderedDelivery::deletionFlushesHeldComments()
{
    Sink sink;
    OrderedDelivery delivery(std::chrono::milliseconds(5000), [&](const auto& e) { sink(e); });
    const std::uint64_t a = idAgo(0, 1, 1);
    const std::uint64_t b = idAgo(0, 1, 2);
    QVERIFY(delivery.submit(comment(b)));
    QVERIFY(delivery.submit(comment(a)));
    bus::BusEvent deleted;
    deleted.type = bus::BusEvent::Type::Deleted;
    deleted.videoId = 1;
    deleted.commentId = a;
    QVERIFY(delivery.submit(deleted));
    QCOMPARE(sink.size(), std::size_t(3)); // at once, comments first, in id order
    QCOMPARE(sink.ids(), (std::vector<std::uint64_t> { a, b, a }));
    QCOMPARE(sink.events.back().type, bus::BusEvent::Type::Deleted);
}

void TstOrderedDelivery::zeroHoldReleasesAtOnce()
{
    Sink sink;
    OrderedDelivery delivery(std::chrono::milliseconds(0), [&](const auto& e) { sink(e); });
    QVERIFY(delivery.submit(comment(idAgo(0, 1))));
    QCOMPARE(sink.size(), std::size_t(1));
}

QTEST_GUILESS_MAIN(TstOrderedDelivery)
#include "tst_ordered_delivery.moc"
