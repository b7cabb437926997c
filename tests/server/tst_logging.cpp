// SPDX-License-Identifier: MIT
// The server's log on stderr: the start-up summary, one access line per request with the route
// template (never a token or the query string), unexpected exceptions (500) with their message,
// and --log-level.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"

#include <QRegularExpression>
#include <QTest>

#include <memory>

using namespace lctest;

namespace {

/// The lines of `log` that contain every one of `parts`.
QList<QByteArray> linesWith(const QByteArray& log, const QList<QByteArray>& parts)
{
    QList<QByteArray> out;
    for (const QByteArray& line : log.split('\n')) {
        bool all = true;
        for (const QByteArray& part : parts)
            all = all && line.contains(part);
        if (all)
            out << line;
    }
    return out;
}

} // namespace

class TstLogging : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void startupSummary();
    void accessLineForHealthz();
    void routeTemplateNotPath();
    void unexpectedExceptionLogged();
    void tokensNeverLogged();
    void logLevelWarningHidesAccessLines();
    void streamOpenCloseAtDebug();

private:
    std::unique_ptr<ServerProcess> m_server;
};

void TstLogging::initTestCase()
{
    // Default settings apart from the fixture's essentials; --test-hooks adds GET /test/fail.
    m_server = std::make_unique<ServerProcess>(QStringList { QStringLiteral("--test-hooks") });
    QVERIFY(m_server->start());
}

void TstLogging::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

void TstLogging::startupSummary()
{
    const QByteArray port = QByteArray::number(m_server->port());
    // One line with the listen address, the store, the loops and the limits.
    QTRY_COMPARE(linesWith(m_server->log(),
                     { "listening on 127.0.0.1:" + port + ";", "store sqlite:", "fan-out loops",
                         "HTTP threads", "limits: rate off", "max body 65536B" })
                     .size(),
        1);
}

void TstLogging::accessLineForHealthz()
{
    const auto before = linesWith(m_server->log(), { " GET /healthz 200 " }).size();
    QCOMPARE(http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/healthz"))).status, 200);
    QTRY_COMPARE(linesWith(m_server->log(), { " GET /healthz 200 " }).size(), before + 1);
    const QByteArray line = linesWith(m_server->log(), { " GET /healthz 200 " }).last();
    // method, route, status, duration, bytes ({"status":"ok"} is 15 bytes).
    QVERIFY2(QRegularExpression(QStringLiteral(" GET /healthz 200 \\d+\\.\\d+ms 15B$"))
                 .match(QString::fromUtf8(line))
                 .hasMatch(),
        line.constData());
}

void TstLogging::routeTemplateNotPath()
{
    const QString token
        = m_server->token(QStringLiteral("7"), QStringLiteral("s"), QStringLiteral("streamer"));
    const qint32 video = createVideo(m_server->baseUrl(), token);
    QVERIFY(video > 0);
    QCOMPARE(
        http("GET",
            endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=3").arg(video)))
            .status,
        200);
    QTRY_VERIFY(!linesWith(m_server->log(), { " GET /videos/{id}/comments 200 " }).isEmpty());
    QVERIFY(linesWith(m_server->log(), { "/videos/" + QByteArray::number(video) + "/" }).isEmpty());
    QVERIFY(linesWith(m_server->log(), { "limit=3" }).isEmpty());
}

void TstLogging::unexpectedExceptionLogged()
{
    const HttpReply r = http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/test/fail")));
    QCOMPARE(r.status, 500);
    QCOMPARE(r.errorCode(), QStringLiteral("internal"));
    // At error level ("E"), with the exception's message.
    QTRY_COMPARE(
        linesWith(m_server->log(), { " E ", "/test/fail", "test hook: forced failure" }).size(), 1);
    QTRY_COMPARE(linesWith(m_server->log(), { " GET /test/fail 500 " }).size(), 1);
}

void TstLogging::tokensNeverLogged()
{
    const QByteArray secret = "SECRET-b7c1e2";
    // In the query of a failing request, of a stream and of a history read...
    QCOMPARE(http("GET",
                 endpoint(m_server->baseUrl(),
                     QStringLiteral("/test/fail?access_token=") + QString::fromLatin1(secret)))
                 .status,
        500);
    const QString token = m_server->token(QStringLiteral("8"));
    SseReader reader;
    reader.open(m_server->port(), "/videos/1/subscriptions?access_token=" + token.toUtf8());
    QVERIFY(reader.waitForHello());
    QCOMPARE(http("GET",
                 endpoint(m_server->baseUrl(),
                     QStringLiteral("/videos/999999/comments?access_token=")
                         + QString::fromLatin1(secret)))
                 .status,
        404);
    // ... and in the Authorization header of an invalid-token request.
    QCOMPARE(http("GET", endpoint(m_server->baseUrl(), QStringLiteral("/videos/1")), {},
                 bearer(QString::fromLatin1(secret)))
                 .status,
        401);
    QTRY_VERIFY(linesWith(m_server->log(), { " GET /test/fail 500 " }).size() >= 2);
    QTRY_VERIFY(!linesWith(m_server->log(), { " GET /videos/{id} 401 " }).isEmpty());
    QTRY_VERIFY(!linesWith(m_server->log(), { " GET /videos/{id}/comments 404 " }).isEmpty());
    QTRY_VERIFY(!linesWith(m_server->log(), { " GET /videos/{id}/subscriptions 200 " }).isEmpty());
    const QByteArray log = m_server->log();
    QVERIFY2(!log.contains(secret), log.constData());
    QVERIFY2(!log.contains(token.toUtf8()), log.constData());
    QVERIFY2(!log.contains("access_token"), log.constData());
}

void TstLogging::logLevelWarningHidesAccessLines()
{
    ServerProcess quiet({ QStringLiteral("--log-level=warning") });
    QVERIFY(quiet.start());
    QCOMPARE(http("GET", endpoint(quiet.baseUrl(), QStringLiteral("/healthz"))).status, 200);
    QCOMPARE(http("GET", endpoint(quiet.baseUrl(), QStringLiteral("/nope"))).status, 404);
    QVERIFY(quiet.terminate());
    QVERIFY(linesWith(quiet.log(), { "/healthz" }).isEmpty());
    QVERIFY(linesWith(quiet.log(), { "listening on 127.0.0.1:" }).size() == 1); // stdout only
    // And a bad level is refused before start.
    ServerProcess bad({ QStringLiteral("--log-level=loud") });
    QVERIFY(!bad.start());
    QVERIFY(bad.waitForExit());
    QCOMPARE(bad.exitCode(), 78);
}

void TstLogging::streamOpenCloseAtDebug()
{
    // Not at the default level...
    QVERIFY(linesWith(m_server->log(), { " D livecomments.stream:" }).isEmpty());
    // ... but with --log-level=debug: open, DELETE and the close with its reason.
    ServerProcess verbose({ QStringLiteral("--log-level=debug") });
    QVERIFY(verbose.start());
    const qint32 video = createVideo(verbose.baseUrl(),
        verbose.token(QStringLiteral("7"), QStringLiteral("s"), QStringLiteral("streamer")));
    QVERIFY(video > 0);
    const QByteArray path = "/videos/" + QByteArray::number(video) + "/subscriptions";
    SseReader a;
    a.open(verbose.port(), path);
    QVERIFY(a.waitForHello());
    const QByteArray aSid = a.subscriptionId().toUtf8();
    QTRY_COMPARE(
        linesWith(verbose.log(), { " D livecomments.stream:", aSid, " opened on video " }).size(),
        1);
    QCOMPARE(
        http("DELETE", endpoint(verbose.baseUrl(), QString::fromUtf8(path + "/" + aSid))).status,
        204);
    QTRY_COMPARE(linesWith(verbose.log(), { aSid, "closed (server)" }).size(), 1);
    SseReader b;
    b.open(verbose.port(), path);
    QVERIFY(b.waitForHello());
    const QByteArray bSid = b.subscriptionId().toUtf8();
    b.close();
    QTRY_COMPARE(linesWith(verbose.log(), { bSid, "closed (client)" }).size(), 1);
    QVERIFY(verbose.terminate());
}

QTEST_GUILESS_MAIN(TstLogging)
#include "tst_logging.moc"
