// SPDX-License-Identifier: MIT
// /healthz and /metrics: the documented series exist and move with what happens.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QHostAddress>
#include <QTcpSocket>
#include <QTest>

#include <cmath>
#include <memory>
#include <vector>

using namespace lctest;

class TstMetricsHealth : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void healthz();
    void seriesPresent_data();
    void seriesPresent();
    void countersFollowActivity();
    void frontEndCounters();

private:
    double metric(const QByteArray& series) const
    {
        return metricValue(
            http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/metrics"))).body, series);
    }
    std::unique_ptr<ServerProcess> m_server;
};

void TstMetricsHealth::initTestCase()
{
    m_server = std::make_unique<ServerProcess>();
    QVERIFY(m_server->start());
}

void TstMetricsHealth::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

void TstMetricsHealth::healthz()
{
    const HttpReply r = http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/healthz")));
    QCOMPARE(r.status, 200);
    QVERIFY2(r.header("content-type").startsWith("application/json"), r.header("content-type"));
    // The documented body, exactly: {"status":"ok"} (docs/server.md "Health and metrics").
    const QJsonObject body = r.json();
    QCOMPARE(body.value(QStringLiteral("status")).toString(), QStringLiteral("ok"));
    QCOMPARE(body.keys(), QStringList { QStringLiteral("status") });
}

void TstMetricsHealth::seriesPresent_data()
{
    QTest::addColumn<QByteArray>("series");
    QTest::addColumn<QByteArray>("type");
    for (const char* gauge : { "livecomments_open_streams", "livecomments_http_connections_open" })
        QTest::newRow(gauge) << QByteArray(gauge) << QByteArray("gauge");
    for (const char* counter : { "livecomments_streams_opened_total",
             "livecomments_comments_accepted_total", "livecomments_deliveries_total",
             "livecomments_frames_published_total", "livecomments_slow_disconnects_total",
             "livecomments_client_disconnects_total", "livecomments_heartbeats_total",
             "livecomments_stream_bytes_total", "livecomments_commit_batches_total",
             "livecomments_commit_ops_total", "livecomments_http_connections_accepted_total",
             "livecomments_http_requests_parsed_total", "livecomments_http_rejected_total" })
        QTest::newRow(counter) << QByteArray(counter) << QByteArray("counter");
    QTest::newRow("livecomments_stream_resumes_total")
        << QByteArray("livecomments_stream_resumes_total") << QByteArray("counter");
    QTest::newRow("livecomments_commit_latency_seconds")
        << QByteArray("livecomments_commit_latency_seconds") << QByteArray("histogram");
    QTest::newRow("livecomments_http_requests_total")
        << QByteArray("livecomments_http_requests_total") << QByteArray("counter");
    QTest::newRow("livecomments_http_request_duration_seconds")
        << QByteArray("livecomments_http_request_duration_seconds") << QByteArray("histogram");
}

void TstMetricsHealth::seriesPresent()
{
    QFETCH(QByteArray, series);
    QFETCH(QByteArray, type);
    // One request first so that per-route series have a sample.
    QCOMPARE(http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/healthz"))).status, 200);
    const HttpReply r = http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/metrics")));
    QCOMPARE(r.status, 200);
    QVERIFY2(r.header("content-type").startsWith("text/plain"), r.header("content-type"));
    QVERIFY2(r.body.contains("# TYPE " + series + ' ' + type + '\n'),
        qPrintable("no '# TYPE " + series + ' ' + type + "'"));
    const QByteArray sample = type == "histogram" ? series + "_count" : series;
    QVERIFY2(!std::isnan(metricValue(r.body, sample)), qPrintable("no sample for " + sample));
}

void TstMetricsHealth::countersFollowActivity()
{
    const QString token = m_server->token("7", "alice");
    const qint32 video = createVideo(m_server->baseUrl(), token, "metrics");
    const double accepted = metric("livecomments_comments_accepted_total");
    const double deliveries = metric("livecomments_deliveries_total");
    const double opened = metric("livecomments_streams_opened_total");
    const double openNow = metric("livecomments_open_streams");
    {
        SseReader a, b;
        a.open(m_server->port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
        b.open(m_server->port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
        QVERIFY(a.waitForHello() && b.waitForHello());
        QTRY_COMPARE(metric("livecomments_open_streams"), openNow + 2);
        QCOMPARE(metric("livecomments_streams_opened_total"), opened + 2);
        QCOMPARE(acknowledgedIds(postComments(m_server->baseUrl(), token, video, texts("m", 3), 1))
                     .size(),
            3);
        QVERIFY(a.waitForComments(3) && b.waitForComments(3));
        QCOMPARE(metric("livecomments_comments_accepted_total"), accepted + 3);
        QTRY_VERIFY(metric("livecomments_deliveries_total") >= deliveries + 6);
        // The video's viewer count follows too.
        QTRY_COMPARE(
            http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1").arg(video)))
                .json()
                .value("viewers")
                .toInt(),
            2);
    }
    QTRY_COMPARE(metric("livecomments_open_streams"), openNow);
    const double rejected = metric("livecomments_comments_rejected_total");
    QCOMPARE(postComment(m_server->baseUrl(), token, video, QString()).status, 400);
    QTRY_VERIFY(std::isnan(rejected)
            ? metric("livecomments_comments_rejected_total") >= 1
            : metric("livecomments_comments_rejected_total") >= rejected + 1);
}

void TstMetricsHealth::frontEndCounters()
{
    const QByteArray badRequests = "livecomments_http_rejected_total{reason=\"bad_request\"}";
    const double accepted = metric("livecomments_http_connections_accepted_total");
    const double parsed = metric("livecomments_http_requests_parsed_total");
    const double bad = metric(badRequests);
    // A quiet baseline: this process's pooled keep-alive connections closed and the server done
    // closing the earlier tests' streams, so only the connection that reads /metrics is open
    // (otherwise one closing after the snapshot hides one of the three below).
    resetHttpConnections();
    QTRY_VERIFY(metric("livecomments_http_connections_open") <= 1);
    const double openNow = metric("livecomments_http_connections_open");
    QVERIFY(!std::isnan(accepted) && !std::isnan(parsed) && !std::isnan(bad));
    // Three idle keep-alive connections: held by the front end, no thread each.
    std::vector<std::unique_ptr<QTcpSocket>> idle;
    for (int i = 0; i < 3; ++i) {
        idle.push_back(std::make_unique<QTcpSocket>());
        idle.back()->connectToHost(QHostAddress::LocalHost, m_server->port());
        QVERIFY(idle.back()->waitForConnected(5000));
    }
    QTRY_VERIFY(metric("livecomments_http_connections_open") >= openNow + 3);
    // A request line the parser refuses: 400 and the bad_request count.
    QTcpSocket bogus;
    bogus.connectToHost(QHostAddress::LocalHost, m_server->port());
    QVERIFY(bogus.waitForConnected(5000));
    bogus.write("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n");
    QTRY_VERIFY(bogus.bytesAvailable() > 0 || bogus.waitForReadyRead(100));
    QVERIFY2(bogus.readAll().startsWith("HTTP/1.1 400"), "a malformed header must get a 400");
    QTRY_COMPARE(metric(badRequests), bad + 1);
    QVERIFY(metric("livecomments_http_connections_accepted_total") >= accepted + 4);
    QVERIFY(metric("livecomments_http_requests_parsed_total") > parsed);
    idle.clear();
    QTRY_VERIFY(metric("livecomments_http_connections_open") <= openNow + 1);
}

QTEST_GUILESS_MAIN(TstMetricsHealth)
#include "tst_metrics_health.moc"
