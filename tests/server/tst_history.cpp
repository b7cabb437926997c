// SPDX-License-Identifier: MIT
// History paging over 1,000 comments: before= pages newest first and after= catch-up oldest
// first with no gap and no duplicate; ETag/If-None-Match on a past page; limit bounds.
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QJsonArray>
#include <QTest>

#include <memory>

using namespace lctest;

namespace {
constexpr int kComments = 1000;
}

class TstHistory : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void newestPageDefaults();
    void walkBeforeNewestFirst_data();
    void walkBeforeNewestFirst();
    void walkAfterOldestFirst_data();
    void walkAfterOldestFirst();
    void pastPageEtag();
    void limitBounds_data();
    void limitBounds();
    void badCursor_data();
    void badCursor();

private:
    HistoryPage page(const QString& query, const HeaderList& headers = {}) const
    {
        return getHistoryPage(m_server->baseUrl(),
            QStringLiteral("/videos/%1/comments%2").arg(m_video).arg(query), headers);
    }

    std::unique_ptr<ServerProcess> m_server;
    QString m_token;
    qint32 m_video = 0;
    QList<quint64> m_ids; // ascending
};

void TstHistory::initTestCase()
{
    m_server = std::make_unique<ServerProcess>();
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
    m_video = createVideo(m_server->baseUrl(), m_token, "history");
    QVERIFY(m_video > 0);
    // Several concurrent posters; the rate limit is off in ServerProcess.
    const QList<HttpReply> replies
        = postComments(m_server->baseUrl(), m_token, m_video, texts("history", kComments), 8);
    m_ids = sorted(acknowledgedIds(replies));
    QCOMPARE(m_ids.size(), kComments);
    QVERIFY(allUnique(m_ids));
    // Another video's comments must never leak into this one's pages.
    const qint32 other = createVideo(m_server->baseUrl(), m_token, "other");
    QCOMPARE(
        acknowledgedIds(postComments(m_server->baseUrl(), m_token, other, texts("other", 20), 4))
            .size(),
        20);
}

void TstHistory::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

void TstHistory::newestPageDefaults()
{
    const HistoryPage p = page(QString());
    QCOMPARE(p.reply.status, 200);
    QCOMPARE(p.ids.size(), 50); // default limit
    QCOMPARE(p.ids, sorted(m_ids, true).mid(0, 50));
    QVERIFY(!p.nextCursorNull);
    QVERIFY(p.reply.json()
                .value("comments")
                .toArray()
                .first()
                .toObject()
                .value("text")
                .toString()
                .startsWith("history "));
    const HistoryPage max = page(QStringLiteral("?limit=200"));
    QCOMPARE(max.ids.size(), 200);
}

void TstHistory::walkBeforeNewestFirst_data()
{
    QTest::addColumn<int>("limit");
    QTest::newRow("limit 200") << 200;
    QTest::newRow("default limit") << 0;
    QTest::newRow("limit 7") << 7;
    QTest::newRow("limit 1") << 1;
}

void TstHistory::walkBeforeNewestFirst()
{
    QFETCH(int, limit);
    bool ok = false;
    QString error;
    const QList<quint64> walked
        = walkBefore(m_server->baseUrl(), m_video, limit, &ok, &error, 1100);
    QVERIFY2(ok, qPrintable(error));
    QVERIFY2(allUnique(walked), "a comment appeared on two pages");
    QVERIFY2(strictlyOrdered(walked, true), "pages are not newest first");
    QCOMPARE(walked.size(), m_ids.size());
    QCOMPARE(walked, sorted(m_ids, true));
}

void TstHistory::walkAfterOldestFirst_data()
{
    QTest::addColumn<int>("limit");
    QTest::addColumn<int>("startIndex"); // -1: after=<oldest id − 1> (everything)
    QTest::newRow("from the start, limit 200") << 200 << -1;
    QTest::newRow("from the start, limit 13") << 13 << -1;
    QTest::newRow("catch-up from #600, default limit") << 0 << 600;
}

void TstHistory::walkAfterOldestFirst()
{
    QFETCH(int, limit);
    QFETCH(int, startIndex);
    // Cursors are positions in id order, so one below the oldest id starts at the beginning
    // (the server refuses after=0: ids are positive).
    const quint64 start = startIndex < 0 ? m_ids.first() - 1 : m_ids.at(startIndex);
    bool ok = false;
    QString error;
    const QList<quint64> walked
        = walkAfter(m_server->baseUrl(), m_video, start, limit, &ok, &error, 1100);
    QVERIFY2(ok, qPrintable(error));
    QVERIFY2(allUnique(walked), "a comment appeared on two pages");
    QVERIFY2(strictlyOrdered(walked), "catch-up pages are not oldest first");
    QCOMPARE(walked, m_ids.mid(startIndex + 1));
}

void TstHistory::pastPageEtag()
{
    const qint32 video = createVideo(m_server->baseUrl(), m_token, "etag");
    const QList<quint64> ids = sorted(
        acknowledgedIds(postComments(m_server->baseUrl(), m_token, video, texts("etag", 30), 4)));
    QCOMPARE(ids.size(), 30);
    // Comments 5..14 (newest first): before the 16th, limit 10 — wholly in the past.
    const QString query
        = QStringLiteral("/videos/%1/comments?before=%2&limit=10").arg(video).arg(ids.at(15));
    // The page is "wholly in the past" once no comment can still land in its id range: ids from
    // other nodes may lag by the overlap window, so the server says so a few seconds later.
    HistoryPage first;
    QTRY_VERIFY_WITH_TIMEOUT((first = getHistoryPage(m_server->baseUrl(), query))
                                 .reply.header("cache-control")
                                 .contains("public"),
        20000);
    QCOMPARE(first.reply.status, 200);
    QCOMPARE(first.ids, sorted(ids.mid(5, 10), true));
    const QByteArray etag = first.reply.header("etag");
    QVERIFY2(!etag.isEmpty(), "a past page must carry an ETag");
    const QByteArray cache = first.reply.header("cache-control");
    QVERIFY2(cache.contains("public") && cache.contains("max-age"), cache);

    const HistoryPage again
        = getHistoryPage(m_server->baseUrl(), query, { { "If-None-Match", etag } });
    QCOMPARE(again.reply.status, 304);
    QVERIFY(again.reply.body.isEmpty());
    // A different ETag does not match.
    QCOMPARE(
        getHistoryPage(m_server->baseUrl(), query, { { "If-None-Match", "\"something-else\"" } })
            .reply.status,
        200);
    // New comments do not change a past page.
    QCOMPARE(postComment(m_server->baseUrl(), m_token, video, "newer").status, 201);
    QCOMPARE(getHistoryPage(m_server->baseUrl(), query, { { "If-None-Match", etag } }).reply.status,
        304);

    // A deletion inside the page changes it.
    const quint64 victim = ids.at(10);
    QCOMPARE(http("DELETE",
                 endpoint(m_server->baseUrl(),
                     QStringLiteral("/videos/%1/comments/%2").arg(video).arg(victim)),
                 {}, bearer(m_token))
                 .status,
        204);
    const HistoryPage changed
        = getHistoryPage(m_server->baseUrl(), query, { { "If-None-Match", etag } });
    QCOMPARE(changed.reply.status, 200);
    QVERIFY(!changed.ids.contains(victim));
    QVERIFY(!changed.reply.header("etag").isEmpty());
    QVERIFY(changed.reply.header("etag") != etag);
}

void TstHistory::limitBounds_data()
{
    QTest::addColumn<QString>("limit");
    QTest::addColumn<bool>(
        "clampAllowed"); // docs/protocol.md: default 50, max 200 — over-max may clamp
    QTest::newRow("0") << QStringLiteral("0") << false;
    QTest::newRow("201") << QStringLiteral("201") << true;
    QTest::newRow("100000") << QStringLiteral("100000") << true;
    QTest::newRow("negative") << QStringLiteral("-1") << false;
    QTest::newRow("garbage") << QStringLiteral("abc") << false;
    QTest::newRow("fraction") << QStringLiteral("1.5") << false;
    QTest::newRow("empty") << QString() << false;
    QTest::newRow("number then text") << QStringLiteral("10x") << false;
    QTest::newRow("overflow") << QStringLiteral("99999999999999999999999") << true;
}

void TstHistory::limitBounds()
{
    QFETCH(QString, limit);
    QFETCH(bool, clampAllowed);
    const HistoryPage p = page(QStringLiteral("?limit=") + limit);
    if (clampAllowed && p.reply.status == 200) {
        QVERIFY2(p.ids.size() == 200,
            qPrintable(
                QStringLiteral("limit=%1 gave %2 items; max is 200").arg(limit).arg(p.ids.size())));
        return;
    }
    QVERIFY2(checkError(p.reply, 400).isEmpty(), qPrintable(checkError(p.reply, 400)));
    QVERIFY2(p.reply.errorMessage().contains("limit", Qt::CaseInsensitive), p.reply.body);
}

void TstHistory::badCursor_data()
{
    QTest::addColumn<QString>("query");
    QTest::addColumn<QString>("field");
    QTest::newRow("before garbage") << QStringLiteral("?before=abc") << QStringLiteral("before");
    QTest::newRow("after garbage") << QStringLiteral("?after=12ab") << QStringLiteral("after");
    QTest::newRow("before negative") << QStringLiteral("?before=-5") << QStringLiteral("before");
    QTest::newRow("after overflow")
        << QStringLiteral("?after=999999999999999999999999") << QStringLiteral("after");
}

void TstHistory::badCursor()
{
    QFETCH(QString, query);
    QFETCH(QString, field);
    const HistoryPage p = page(query);
    QVERIFY2(checkError(p.reply, 400).isEmpty(), qPrintable(checkError(p.reply, 400)));
    QVERIFY2(p.reply.errorMessage().contains(field, Qt::CaseInsensitive), p.reply.body);
}

QTEST_GUILESS_MAIN(TstHistory)
#include "tst_history.moc"
