// SPDX-License-Identifier: MIT
// The history pager (Timeline) over 2,000 comments: scrolling back hits the network at most once
// per page, the next page is already loaded when the reader reaches it (prefetch driven by the
// reader position alone), and a second run with the cache serves every page with the server
// stopped.
#include "http_client.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#include <QtTest>

#include <optional>

using namespace livecomments;

namespace {
constexpr int kComments = 2000;
constexpr int kPageSize = 50;
constexpr std::size_t kPrefetch = 25;
constexpr int kReaderStep = 10; ///< comments the reader scrolls per step (< kPrefetch)
} // namespace

class TstPager : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void readyAndLoadOlderCompletions();
    void scrollBackPrefetches();
    void secondRunServedFromCache();

private:
    /// Scrolls from the newest comment back to the oldest, kReaderStep at a time. Fails when the
    /// comment the reader moves to is not loaded yet.
    void scrollToBeginning(Timeline& timeline, bool serverUp);
    QList<quint64> ids(const Timeline& timeline) const;

    std::unique_ptr<lctest::ServerProcess> m_server;
    QTemporaryDir m_dir;
    QString m_token;
    qint32 m_video = 0;
    QList<quint64> m_expected;
};

void TstPager::initTestCase()
{
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "pager");
    QVERIFY(m_video > 0);
    QStringList texts;
    for (int i = 0; i < kComments; ++i)
        texts << QStringLiteral("comment %1").arg(i);
    const auto replies = lctest::postComments(m_server->baseUrl(), m_token, m_video, texts, 6);
    m_expected = lctest::sorted(lctest::acknowledgedIds(replies));
    QCOMPARE(m_expected.size(), kComments);
}

void TstPager::readyAndLoadOlderCompletions()
{
    auto client = Client::create(sdktest::testConfig(m_server->baseUrl()));
    QVERIFY(client);
    QStringList events; // "ready" and "older:<added>@<size>" in delivery order
    std::size_t size = 0;
    TimelineCallbacks cbs;
    cbs.onReady = [&] { events << QStringLiteral("ready@%1").arg(size); };
    cbs.onChange = [&](const TimelineChange& ch) {
        if (ch.kind == TimelineChange::Kind::Inserted)
            size += ch.count;
    };
    TimelineOptions opts;
    opts.live = false;
    opts.pageSize = kPageSize;
    auto timeline = (*client)->openTimeline(m_video, cbs, opts);
    QVERIFY(timeline);
    auto older = [&](Result<std::size_t> r) {
        QVERIFY(r);
        events << QStringLiteral("older:%1@%2").arg(*r).arg(size);
    };
    // Asked before the first page is in: runs once it is.
    (*timeline)->loadOlder(older);
    QTRY_COMPARE_WITH_TIMEOUT(events.size(), 2, 10000);
    QCOMPARE(events, (QStringList { "ready@50", "older:50@100" }));
    // Two calls while one page is in flight: both complete with that page.
    (*timeline)->loadOlder(older);
    (*timeline)->loadOlder(older);
    QTRY_COMPARE_WITH_TIMEOUT(events.size(), 4, 10000);
    QCOMPARE(events.mid(2), (QStringList { "older:50@150", "older:50@150" }));
    // Down to the beginning: the last page completes with what it added, then 0.
    std::optional<std::size_t> last;
    while (!(*timeline)->status().atBeginning) {
        last.reset();
        (*timeline)->loadOlder([&](Result<std::size_t> r) { last = r.value_or(999999); });
        QTRY_VERIFY_WITH_TIMEOUT(last.has_value(), 10000);
        QVERIFY(*last > 0);
    }
    QCOMPARE(size, std::size_t(kComments));
    last.reset();
    (*timeline)->loadOlder([&](Result<std::size_t> r) { last = r.value_or(999999); });
    QTRY_VERIFY(last.has_value());
    QCOMPARE(*last, std::size_t(0));
    QCOMPARE(events.count(QStringLiteral("ready@50")), 1);
}

QList<quint64> TstPager::ids(const Timeline& timeline) const
{
    QList<quint64> out;
    for (const auto& c : timeline.snapshot())
        out.append(c.id);
    return out;
}

void TstPager::scrollToBeginning(Timeline& timeline, bool serverUp)
{
    auto seq = ids(timeline);
    QVERIFY(!seq.isEmpty());
    quint64 current = seq.last(); // the reader starts at the newest comment
    int steps = 0;
    for (;;) {
        seq = ids(timeline);
        const int index = seq.indexOf(current);
        QVERIFY(index >= 0);
        if (index == 0) {
            QVERIFY2(timeline.status().atBeginning, "reader reached the oldest loaded comment");
            break;
        }
        // The reader moves kReaderStep older: those comments must already be there.
        const int target = std::max(0, index - kReaderStep);
        QVERIFY2(index - kReaderStep >= 0 || timeline.status().atBeginning,
            qPrintable(QStringLiteral("step %1: comment %2 older than the reader is not loaded "
                                      "(index %3)")
                           .arg(steps)
                           .arg(kReaderStep)
                           .arg(index)));
        current = seq[target];
        timeline.setReaderPositionById(current);
        ++steps;
        // Reading takes a while: by the time the reader looks again, a prefetch that was due
        // has completed (the reader is back beyond the prefetch distance) or history ended.
        QTRY_VERIFY_WITH_TIMEOUT(
            ids(timeline).indexOf(current) >= int(kPrefetch) || timeline.status().atBeginning,
            10000);
        // (With the server down, only the background after= catch-up fails, and keeps retrying.)
        if (serverUp)
            QVERIFY(!timeline.status().lastError.has_value());
    }
    QVERIFY(steps >= kComments / kReaderStep - 1);
}

void TstPager::scrollBackPrefetches()
{
    auto cfg = sdktest::testConfig(m_server->baseUrl(), m_token);
    cfg.cache.path = m_dir.filePath("cache.db").toStdString();
    auto client = Client::create(cfg);
    QVERIFY(client);
    TimelineOptions opts;
    opts.pageSize = kPageSize;
    opts.prefetchDistance = kPrefetch;
    opts.live = false;
    int changes = 0;
    TimelineCallbacks cbs;
    cbs.onChange = [&](const TimelineChange& c) {
        QCOMPARE(c.kind, TimelineChange::Kind::Inserted);
        ++changes;
    };
    auto timeline = (*client)->openTimeline(m_video, cbs, opts);
    QVERIFY(timeline);
    QTRY_COMPARE((*timeline)->size(), std::size_t(kPageSize));
    QCOMPARE((*timeline)->networkPageRequests(), 1);

    scrollToBeginning(**timeline, true);

    QCOMPARE(ids(**timeline), m_expected);
    // One request per page: 40 pages, plus at most one that finds the end.
    const int pages = (*timeline)->networkPageRequests();
    QVERIFY2(pages >= kComments / kPageSize && pages <= kComments / kPageSize + 1,
        qPrintable(QString::number(pages)));
    QCOMPARE((*client)->requestCount(), std::int64_t(pages)); // nothing else hit the network
    QTRY_VERIFY(changes >= kComments / kPageSize); // (delivered through the executor)
}

void TstPager::secondRunServedFromCache()
{
    QVERIFY(m_server->terminate()); // no network from here on
    auto cfg = sdktest::testConfig(m_server->baseUrl(), m_token);
    cfg.cache.path = m_dir.filePath("cache.db").toStdString();
    auto client = Client::create(cfg);
    QVERIFY(client);
    TimelineOptions opts;
    opts.pageSize = kPageSize;
    opts.prefetchDistance = kPrefetch;
    opts.live = false;
    auto timeline = (*client)->openTimeline(m_video, {}, opts);
    QVERIFY(timeline);
    // Cached comments show at once: the newest page, without the server.
    QTRY_COMPARE((*timeline)->size(), std::size_t(kPageSize));
    QCOMPARE(ids(**timeline), m_expected.mid(kComments - kPageSize));

    scrollToBeginning(**timeline, false);

    QCOMPARE(ids(**timeline), m_expected);
    QCOMPARE((*timeline)->networkPageRequests(), 0);
    QVERIFY((*timeline)->status().fillingGap); // the catch-up waits for the server
}

QTEST_GUILESS_MAIN(TstPager)
#include "tst_pager.moc"
