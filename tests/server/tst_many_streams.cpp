// SPDX-License-Identifier: MIT
// 2,000 concurrent streams on one video (raw sockets): each receives a burst of 50 comments
// exactly once, in order.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QTest>

#include <memory>
#include <vector>

using namespace lctest;

namespace {
constexpr int kStreams = 2000;
constexpr int kComments = 50;
constexpr int kConnectBatch = 200;
} // namespace

class TstManyStreams : public QObject {
    Q_OBJECT
private slots:
    void burstReachesEveryStream();
};

void TstManyStreams::burstReachesEveryStream()
{
    raiseFileLimit();
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "alice", "streamer");
    const qint32 video = createVideo(server.baseUrl(), token, "crowd");
    QVERIFY(video > 0);
    const QByteArray path = "/videos/" + QByteArray::number(video) + "/subscriptions";

    std::vector<std::unique_ptr<SseReader>> readers;
    readers.reserve(kStreams);
    // Connect in batches so the listen backlog never overflows (SYN retries would only slow us).
    for (int i = 0; i < kStreams; i += kConnectBatch) {
        const size_t first = readers.size();
        for (int j = 0; j < kConnectBatch; ++j) {
            readers.push_back(std::make_unique<SseReader>());
            readers.back()->open(server.port(), path);
        }
        QTRY_VERIFY_WITH_TIMEOUT(std::all_of(readers.begin() + qsizetype(first), readers.end(),
                                     [](const auto& r) {
                                         return !r->events("hello").isEmpty()
                                             || r->wasDisconnected();
                                     }),
            60000);
        for (size_t k = first; k < readers.size(); ++k)
            QVERIFY2(!readers[k]->events("hello").isEmpty(),
                qPrintable(QStringLiteral("stream %1 got no hello: %2")
                               .arg(k)
                               .arg(QString::fromUtf8(readers[k]->raw().left(200)))));
    }
    QTRY_COMPARE_WITH_TIMEOUT(
        metricValue(http("GET", endpoint(server.baseUrl(), QStringLiteral("/metrics"))).body,
            "livecomments_open_streams"),
        double(kStreams), 20000);

    const QList<quint64> posted = sorted(acknowledgedIds(
        postComments(server.baseUrl(), token, video, texts("crowd", kComments), 4)));
    QCOMPARE(posted.size(), kComments);
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(readers.begin(), readers.end(),
                                 [](const auto& r) {
                                     return r->comments().size() >= kComments
                                         || r->wasDisconnected();
                                 }),
        180000);
    int complete = 0;
    for (size_t k = 0; k < readers.size(); ++k) {
        const QList<quint64> got = readers[k]->comments();
        QVERIFY2(got == posted,
            qPrintable(QStringLiteral("stream %1: %2 comments, %3")
                           .arg(k)
                           .arg(got.size())
                           .arg(allUnique(got) ? "no duplicates" : "duplicates")));
        ++complete;
    }
    QCOMPARE(complete, kStreams);
    for (auto& r : readers)
        r->close();
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstManyStreams)
#include "tst_many_streams.moc"
