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
