// SPDX-License-Identifier: MIT
// GET /videos: the directory a player uses to pick the newest live video.
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QJsonArray>
#include <QTest>

#include <memory>

using namespace lctest;

class TstVideoList : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void newestLiveFirst();
    void statusFilter_data();
    void statusFilter();
    void badQuery_data();
    void badQuery();

private:
    QList<qint32> ids(const QString& query) const
    {
        const HttpReply r = http("GET", endpoint(m_server->baseUrl(), "/videos" + query));
        QList<qint32> out;
        if (r.status != 200)
            return { -r.status };
        for (const auto& v : r.json().value("videos").toArray())
            out << v.toObject().value("id").toInt();
        return out;
    }
    std::unique_ptr<ServerProcess> m_server;
    qint32 m_first = 0, m_ended = 0, m_last = 0;
};

void TstVideoList::initTestCase()
{
    m_server = std::make_unique<ServerProcess>();
    QVERIFY(m_server->start());
    QCOMPARE(ids(QString()), QList<qint32>()); // an empty server lists nothing
    const QString alice = m_server->token("1", "alice", "streamer");
    m_first = createVideo(m_server->baseUrl(), alice, "first");
    m_ended = createVideo(m_server->baseUrl(), alice, "ended");
    m_last = createVideo(m_server->baseUrl(), alice, "last");
    QVERIFY(m_first > 0 && m_ended > 0 && m_last > 0);
    const HttpReply end
        = http("POST", endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/end").arg(m_ended)),
            "{}", bearer(alice));
    QCOMPARE(end.status, 200);
}

void TstVideoList::newestLiveFirst()
{
    QCOMPARE(ids(QString()), (QList<qint32> { m_last, m_first }));
    QCOMPARE(ids("?limit=1"), QList<qint32> { m_last });
    const HttpReply r = http("GET", endpoint(m_server->baseUrl(), "/videos?limit=1"));
    const QJsonObject v = r.json().value("videos").toArray().first().toObject();
    QCOMPARE(v.value("title").toString(), QStringLiteral("last"));
    QCOMPARE(v.value("status").toString(), QStringLiteral("live"));
    QCOMPARE(v.value("streamer").toObject().value("id").toString(), QStringLiteral("1"));
    QVERIFY(v.contains("viewers"));
}

void TstVideoList::statusFilter_data()
{
    QTest::addColumn<QString>("query");
    QTest::addColumn<QString>("expected"); // ids by position: f(irst) e(nded) l(ast)
    QTest::newRow("live") << "?status=live"
                          << "lf";
    QTest::newRow("ended") << "?status=ended"
                           << "e";
    QTest::newRow("all") << "?status=all"
                         << "lef";
    QTest::newRow("all, limit 2") << "?status=all&limit=2"
                                  << "le";
}

void TstVideoList::statusFilter()
{
    QFETCH(QString, query);
    QFETCH(QString, expected);
    QList<qint32> want;
    for (const QChar c : expected)
        want << (c == 'f' ? m_first : c == 'e' ? m_ended : m_last);
    QCOMPARE(ids(query), want);
}

void TstVideoList::badQuery_data()
{
    QTest::addColumn<QString>("query");
    QTest::addColumn<QString>("field");
    QTest::newRow("status unknown") << "?status=paused"
                                    << "status";
    QTest::newRow("limit 0") << "?limit=0"
                             << "limit";
    QTest::newRow("limit 101") << "?limit=101"
                               << "limit";
    QTest::newRow("limit negative") << "?limit=-1"
                                    << "limit";
    QTest::newRow("limit garbage") << "?limit=ten"
                                   << "limit";
    QTest::newRow("limit huge") << "?limit=99999999999999999999"
                                << "limit";
}

void TstVideoList::badQuery()
{
    QFETCH(QString, query);
    QFETCH(QString, field);
    const HttpReply r = http("GET", endpoint(m_server->baseUrl(), "/videos" + query));
    QVERIFY2(checkError(r, 400).isEmpty(), qPrintable(checkError(r, 400)));
    const QString message = r.json().value("error").toObject().value("message").toString();
    QVERIFY2(message.contains(field), qPrintable(message));
}

QTEST_GUILESS_MAIN(TstVideoList)
#include "tst_video_list.moc"
