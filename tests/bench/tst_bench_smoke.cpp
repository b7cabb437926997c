// SPDX-License-Identifier: MIT
// Runs livecomments-bench for a few seconds against the real livecomments-server and checks
// what it reports: every stream connected, nothing lost, a well-formed JSON report. Speed is
// never asserted (the machine is shared); only behaviour.
#include "server_process.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QtTest>

namespace {
constexpr int kSubscribers = 300;
constexpr int kVideos = 3;

QString benchBinary()
{
    return qEnvironmentVariable("LC_BENCH_BIN");
}

/// Runs the bench with `args` (plus --json into `dir`); returns its exit code and the parsed
/// report (empty when none was written).
int runBench(
    const QStringList& args, const QTemporaryDir& dir, QJsonObject& report, QByteArray& output)
{
    const QString json = dir.filePath(QStringLiteral("report.json"));
    QFile::remove(json);
    QProcess bench;
    bench.setProcessChannelMode(QProcess::MergedChannels);
    bench.start(benchBinary(), args + QStringList { QStringLiteral("--json=") + json });
    if (!bench.waitForFinished(90000)) {
        bench.kill();
        bench.waitForFinished();
        output = bench.readAll();
        return -1;
    }
    output = bench.readAll();
    QFile file(json);
    if (file.open(QIODevice::ReadOnly)) {
        QJsonParseError error {};
        const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
        if (error.error == QJsonParseError::NoError)
            report = doc.object();
    }
    return bench.exitStatus() == QProcess::NormalExit ? bench.exitCode() : -1;
}
} // namespace

/// Threading: Qt Test main thread only; the server and the bench are child processes.
class TstBenchSmoke : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void deliversEveryCommentToEveryStream();
    void reportsFailureWhenNothingListens();

private:
    std::unique_ptr<lctest::ServerProcess> m_server;
    QTemporaryDir m_dir;
};

void TstBenchSmoke::initTestCase()
{
    // Both binaries are part of this build: CTest sets the variables (cmake/LcTesting.cmake), so
    // an empty one means the test was started by hand or the build is broken: fail, never skip.
    QVERIFY2(!benchBinary().isEmpty(), "LC_BENCH_BIN is not set: run this test through ctest");
    QVERIFY2(!lctest::ServerProcess::serverBinary().isEmpty(),
        "LC_SERVER_BIN is not set: run this test through ctest");
    QVERIFY(m_dir.isValid());
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
}

void TstBenchSmoke::deliversEveryCommentToEveryStream()
{
    const QString token
        = m_server->token(QStringLiteral("1"), QStringLiteral("bench"), QStringLiteral("streamer"));
    QJsonObject report;
    QByteArray output;
    const int code = runBench(
        { QStringLiteral("--target=livecomments"),
            QStringLiteral("--url=") + m_server->baseUrl().toString(),
            QStringLiteral("--token=") + token, QStringLiteral("--videos=%1").arg(kVideos),
            QStringLiteral("--subscribers=%1").arg(kSubscribers), QStringLiteral("--rate=20"),
            QStringLiteral("--duration=3"), QStringLiteral("--warmup=0.5"),
            QStringLiteral("--drain=10"), QStringLiteral("--sources=4"), QStringLiteral("--quiet"),
            QStringLiteral("--pid=%1").arg(m_server->pid()) },
        m_dir, report, output);
    qInfo().noquote() << output;
    QCOMPARE(code, 0);
    QVERIFY2(!report.isEmpty(), "no well-formed JSON report");

    const QJsonObject subs = report.value(QStringLiteral("subscribers")).toObject();
    QCOMPARE(subs.value(QStringLiteral("requested")).toInt(), kSubscribers);
    QCOMPARE(subs.value(QStringLiteral("connected")).toInt(), kSubscribers);
    QCOMPARE(subs.value(QStringLiteral("failed")).toInt(), 0);
    QCOMPARE(subs.value(QStringLiteral("dropped")).toInt(), 0);

    const qint64 published = report.value(QStringLiteral("published")).toInteger();
    const qint64 acknowledged = report.value(QStringLiteral("acknowledged")).toInteger();
    QVERIFY(published > 0);
    QCOMPARE(acknowledged, published);
    // Every video has kSubscribers / kVideos viewers, and each acknowledged comment must reach
    // each viewer of its video exactly once.
    const qint64 expected = report.value(QStringLiteral("expected")).toInteger();
    QCOMPARE(expected, acknowledged * (kSubscribers / kVideos));
    QCOMPARE(report.value(QStringLiteral("delivered")).toInteger(), expected);
    QCOMPARE(report.value(QStringLiteral("lost")).toInteger(), 0);

    const QJsonObject latency = report.value(QStringLiteral("latency_ms")).toObject();
    QCOMPARE(latency.value(QStringLiteral("count")).toInteger(), expected);
    const double p50 = latency.value(QStringLiteral("p50")).toDouble(-1);
    const double p99 = latency.value(QStringLiteral("p99")).toDouble(-1);
    const double max = latency.value(QStringLiteral("max")).toDouble(-1);
    QVERIFY(p50 >= 0);
    QVERIFY(p50 <= p99);
    QVERIFY(p99 <= max);
    QCOMPARE(report.value(QStringLiteral("ack_latency_ms"))
                 .toObject()
                 .value(QStringLiteral("count"))
                 .toInteger(),
        acknowledged);

    const QJsonObject server = report.value(QStringLiteral("server")).toObject();
    QVERIFY(server.value(QStringLiteral("pids")).toArray().contains(QJsonValue(m_server->pid())));
    QVERIFY(server.value(QStringLiteral("rss_kb_connected")).toInteger() > 0);
}

void TstBenchSmoke::reportsFailureWhenNothingListens()
{
    // A port that was free a moment ago: every connect is refused.
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost));
    const quint16 port = probe.serverPort();
    probe.close();
    QJsonObject report;
    QByteArray output;
    const int code = runBench(
        { QStringLiteral("--target=nchan"), QStringLiteral("--url=http://127.0.0.1:%1").arg(port),
            QStringLiteral("--videos=1"), QStringLiteral("--subscribers=20"),
            QStringLiteral("--rate=5"), QStringLiteral("--duration=1"),
            QStringLiteral("--warmup=0"), QStringLiteral("--drain=0"),
            QStringLiteral("--connect-timeout=10"), QStringLiteral("--quiet") },
        m_dir, report, output);
    QCOMPARE(code, 1);
    QVERIFY(!report.isEmpty());
    const QJsonObject subs = report.value(QStringLiteral("subscribers")).toObject();
    QCOMPARE(subs.value(QStringLiteral("connected")).toInt(), 0);
    QCOMPARE(subs.value(QStringLiteral("failed")).toInt(), 20);
    QCOMPARE(report.value(QStringLiteral("acknowledged")).toInteger(), 0);
}

QTEST_GUILESS_MAIN(TstBenchSmoke)
#include "tst_bench_smoke.moc"
