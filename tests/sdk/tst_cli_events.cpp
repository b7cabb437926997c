// SPDX-License-Identifier: MIT
// `livecomments events URL` against the real server and against a scripted fake SSE server:
// stdout carries exactly one valid JSON object per dispatched event and nothing else; exit codes.
#include "http_client.h"
#include "server_process.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTcpServer>
#include <QTcpSocket>
#include <QtTest>

namespace {

/// Answers every connection with a canned response after reading the request head; records
/// the request heads.
class FakeServer : public QObject {
public:
    explicit FakeServer(QByteArray response)
        : m_response(std::move(response))
    {
        m_server.listen(QHostAddress::LocalHost, 0);
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = m_server.nextPendingConnection()) {
                auto* buffer = new QByteArray;
                connect(s, &QTcpSocket::readyRead, s, [this, s, buffer] {
                    buffer->append(s->readAll());
                    if (!buffer->contains("\r\n\r\n") || m_answered.contains(s))
                        return;
                    m_answered.insert(s);
                    heads.append(*buffer);
                    s->write(m_response);
                    if (closeAfterResponse)
                        s->disconnectFromHost();
                });
                connect(s, &QTcpSocket::disconnected, s, [this, s, buffer] {
                    m_answered.remove(s);
                    delete buffer;
                    s->deleteLater();
                });
            }
        });
    }
    QString url(const QString& path = QStringLiteral("/stream")) const
    {
        return QStringLiteral("http://127.0.0.1:%1%2").arg(m_server.serverPort()).arg(path);
    }
    QList<QByteArray> heads;
    bool closeAfterResponse = true;

private:
    QTcpServer m_server;
    QByteArray m_response;
    QSet<QTcpSocket*> m_answered;
};

struct CliRun {
    int exitCode = -1;
    QList<QJsonObject> events;
    QByteArray stdoutBytes;
    QByteArray stderrBytes;
    QString problem; ///< non-empty when stdout held a line that is not a JSON object
};

/// Runs the CLI to completion (waiting with the event loop running, so in-test servers work).
CliRun runCli(const QStringList& args, int timeoutMs = 30000)
{
    CliRun run;
    QProcess p;
    p.start(qEnvironmentVariable("LC_CLI_BIN"), args);
    if (!p.waitForStarted(10000)) {
        run.problem = QStringLiteral("CLI did not start");
        return run;
    }
    QElapsedTimer t;
    t.start();
    while (p.state() != QProcess::NotRunning && t.elapsed() < timeoutMs)
        QTest::qWait(20);
    if (p.state() != QProcess::NotRunning) {
        p.kill();
        p.waitForFinished();
        run.problem = QStringLiteral("CLI did not exit");
    }
    run.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    run.stdoutBytes = p.readAllStandardOutput();
    run.stderrBytes = p.readAllStandardError();
    const auto lines = run.stdoutBytes.split('\n');
    for (int i = 0; i < lines.size(); ++i) {
        if (i == lines.size() - 1 && lines[i].isEmpty())
            break; // the final newline
        QJsonParseError err;
        const auto doc = QJsonDocument::fromJson(lines[i], &err);
        if (!doc.isObject()) {
            run.problem = QStringLiteral("stdout line %1 is not a JSON object: %2 (%3)")
                              .arg(i)
                              .arg(QString::fromUtf8(lines[i].toPercentEncoding(" {}:\",")))
                              .arg(err.errorString());
            break;
        }
        const QJsonObject o = doc.object();
        if (o.keys() != QStringList { "data", "id", "type" } || !o.value("type").isString()
            || !o.value("id").isString() || !o.value("data").isString()) {
            run.problem = QStringLiteral("unexpected keys/types on line %1").arg(i);
            break;
        }
        run.events.append(o);
    }
    return run;
}

} // namespace

class TstCliEvents : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void realServerHelloAndComments();
    void realServerResumeWithLastEventId();
    void realServerUnknownVideoExitsNonZero();
    void escapesAnyBytes();
    void sendsHeadersAndLastEventId();
    void noContentClosesForGood();
    void timeoutExitsNonZero();
    void reconnectsAfterServerClose();

private:
    std::unique_ptr<lctest::ServerProcess> m_server;
    QString m_token;
};

void TstCliEvents::initTestCase()
{
    QVERIFY2(!qEnvironmentVariable("LC_CLI_BIN").isEmpty(), "LC_CLI_BIN not set");
    m_server = std::make_unique<lctest::ServerProcess>(QStringList { "--overlap-ms=0" });
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
}

void TstCliEvents::realServerHelloAndComments()
{
    const qint32 video = lctest::createVideo(m_server->baseUrl(), m_token, "cli");
    QVERIFY(video > 0);
    const QString url
        = m_server->baseUrl().toString() + QStringLiteral("/videos/%1/subscriptions").arg(video);
    QProcess p;
    p.start(qEnvironmentVariable("LC_CLI_BIN"),
        { "events", url, "--max-events=4", "--timeout-ms=20000" });
    QVERIFY(p.waitForStarted());
    QByteArray out;
    QTRY_VERIFY_WITH_TIMEOUT((out += p.readAllStandardOutput()).contains("\"hello\""), 15000);
    QStringList ids;
    const QStringList texts { "plain", "quote \" and \\ backslash", "line1\nline2 \xe2\x9c\x93" };
    for (const QString& t : texts) {
        auto r = lctest::postComment(m_server->baseUrl(), m_token, video, t);
        QCOMPARE(r.status, 201);
        ids << r.json().value("id").toString();
    }
    QTRY_VERIFY_WITH_TIMEOUT(p.state() == QProcess::NotRunning, 15000);
    QCOMPARE(p.exitCode(), 0);
    out += p.readAllStandardOutput();
    const auto lines = out.trimmed().split('\n');
    QCOMPARE(lines.size(), 4);
    const auto hello = QJsonDocument::fromJson(lines[0]).object();
    QCOMPARE(hello.value("type").toString(), QStringLiteral("hello"));
    QCOMPARE(hello.value("id").toString(), QString());
    const auto helloData
        = QJsonDocument::fromJson(hello.value("data").toString().toUtf8()).object();
    QCOMPARE(helloData.value("video_id").toInt(), video);
    for (int i = 0; i < 3; ++i) {
        const auto ev = QJsonDocument::fromJson(lines[i + 1]).object();
        QCOMPARE(ev.value("type").toString(), QStringLiteral("comment"));
        QCOMPARE(ev.value("id").toString(), ids[i]);
        const auto data = QJsonDocument::fromJson(ev.value("data").toString().toUtf8()).object();
        QCOMPARE(data.value("id").toString(), ids[i]);
        QCOMPARE(data.value("text").toString(), texts[i]);
    }
}

void TstCliEvents::realServerResumeWithLastEventId()
{
    const qint32 video = lctest::createVideo(m_server->baseUrl(), m_token, "cli resume");
    QStringList ids;
    for (int i = 0; i < 3; ++i) {
        auto r = lctest::postComment(m_server->baseUrl(), m_token, video, QString::number(i));
        QCOMPARE(r.status, 201);
        ids << r.json().value("id").toString();
    }
    const QString url
        = m_server->baseUrl().toString() + QStringLiteral("/videos/%1/subscriptions").arg(video);
    auto run = runCli(
        { "events", url, "--last-event-id=" + ids[0], "--max-events=3", "--timeout-ms=15000" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QCOMPARE(run.exitCode, 0);
    QCOMPARE(run.events.size(), 3);
    QCOMPARE(run.events[0].value("type").toString(), QStringLiteral("hello"));
    // The id of hello is the last event id we resumed from (it persists until the server sets one).
    QCOMPARE(run.events[0].value("id").toString(), ids[0]);
    QCOMPARE(run.events[1].value("id").toString(), ids[1]);
    QCOMPARE(run.events[2].value("id").toString(), ids[2]);
}

void TstCliEvents::realServerUnknownVideoExitsNonZero()
{
    const QString url
        = m_server->baseUrl().toString() + QStringLiteral("/videos/987654/subscriptions");
    auto run = runCli({ "events", url, "--timeout-ms=15000" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QVERIFY(run.exitCode != 0);
    QVERIFY(run.stdoutBytes.isEmpty());
    QVERIFY2(run.stderrBytes.contains("not_found"), run.stderrBytes.constData());
}

void TstCliEvents::escapesAnyBytes()
{
    QByteArray body = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
    body += "data: plain\n\n";
    body += "event: weird\nid: 42\ndata: ctl\x01\x02\x1f\x7f tab\t cr-less \"q\" \\ /\n\n";
    body += "data: bad \xff\xfe utf8 \xe2\x82 end\ndata: second line\n\n";
    body += "data: nul";
    body += QByteArray(1, '\0');
    body += "after\n\n";
    body += "data: \xf0\x9f\x98\x80 ok\n\n";
    FakeServer fake(body);
    auto run = runCli({ "events", fake.url(), "--max-events=5", "--timeout-ms=15000" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QCOMPARE(run.exitCode, 0);
    QCOMPARE(run.events.size(), 5);
    QCOMPARE(run.events[0].value("type").toString(), QStringLiteral("message"));
    QCOMPARE(run.events[0].value("id").toString(), QString());
    QCOMPARE(run.events[0].value("data").toString(), QStringLiteral("plain"));
    QCOMPARE(run.events[1].value("type").toString(), QStringLiteral("weird"));
    QCOMPARE(run.events[1].value("id").toString(), QStringLiteral("42"));
    QCOMPARE(run.events[1].value("data").toString(),
        QString::fromUtf8("ctl\x01\x02\x1f\x7f tab\t cr-less \"q\" \\ /"));
    // Invalid UTF-8 arrives as U+FFFD (the parser or the JSON writer replaces it), and the id
    // persists to later events.
    const QString bad = run.events[2].value("data").toString();
    QVERIFY2(
        bad.startsWith("bad ") && bad.contains(QChar(0xFFFD)) && bad.endsWith(" end\nsecond line"),
        qPrintable(bad));
    QCOMPARE(run.events[2].value("id").toString(), QStringLiteral("42"));
    QCOMPARE(run.events[3].value("data").toString(), QString::fromUtf8("nul\0after", 9));
    QCOMPARE(run.events[4].value("data").toString(), QString::fromUtf8("\xf0\x9f\x98\x80 ok"));
    // Raw escapes on stdout, not raw control bytes.
    QVERIFY(run.stdoutBytes.contains("\\u0001"));
    QVERIFY(!run.stdoutBytes.contains('\x01'));
    QVERIFY(!run.stdoutBytes.contains('\0'));
}

void TstCliEvents::sendsHeadersAndLastEventId()
{
    FakeServer fake("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n");
    auto run = runCli({ "events", fake.url("/s?a=1"), "--header=X-Test: one", "--header",
        "X-Other: two", "--last-event-id=abc", "--max-events=1", "--timeout-ms=15000" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QCOMPARE(run.exitCode, 0);
    QCOMPARE(fake.heads.size(), 1);
    const QByteArray head = fake.heads[0];
    QVERIFY2(head.startsWith("GET /s?a=1 HTTP/1.1\r\n"), head.constData());
    QVERIFY2(head.contains("\r\nX-Test: one\r\n"), head.constData());
    QVERIFY2(head.contains("\r\nX-Other: two\r\n"), head.constData());
    QVERIFY2(head.contains("\r\nLast-Event-ID: abc\r\n"), head.constData());
    QVERIFY2(head.contains("\r\nAccept: text/event-stream\r\n"), head.constData());
    QCOMPARE(run.events[0].value("id").toString(), QStringLiteral("abc"));
}

void TstCliEvents::noContentClosesForGood()
{
    FakeServer fake("HTTP/1.1 204 No Content\r\n\r\n");
    auto run = runCli({ "events", fake.url(), "--timeout-ms=15000" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QVERIFY(run.exitCode != 0);
    QVERIFY(run.stdoutBytes.isEmpty());
    QCOMPARE(fake.heads.size(), 1); // no reconnect after 204
    // Wrong content type: also final.
    FakeServer html("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>");
    run = runCli({ "events", html.url(), "--timeout-ms=15000" });
    QVERIFY(run.exitCode != 0);
    QVERIFY(run.stdoutBytes.isEmpty());
    QCOMPARE(html.heads.size(), 1);
}

void TstCliEvents::timeoutExitsNonZero()
{
    FakeServer fake("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: hi\n\n");
    fake.closeAfterResponse = false;
    auto run = runCli({ "events", fake.url(), "--timeout-ms=700", "--max-events=1" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QVERIFY(run.exitCode != 0);
    QVERIFY(run.stdoutBytes.isEmpty());
    QVERIFY(run.stderrBytes.contains("timeout"));
}

void TstCliEvents::reconnectsAfterServerClose()
{
    // Each connection yields one event then closes: the CLI reconnects (retry: 50 ms) with the
    // last event id and keeps printing.
    FakeServer fake("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nretry: 50\nid: "
                    "7\ndata: again\n\n");
    auto run
        = runCli({ "events", fake.url(), "--max-events=3", "--retry-ms=50", "--timeout-ms=20000" });
    QVERIFY2(run.problem.isEmpty(), qPrintable(run.problem));
    QCOMPARE(run.exitCode, 0);
    QCOMPARE(run.events.size(), 3);
    QVERIFY(fake.heads.size() >= 3);
    QVERIFY(!fake.heads[0].contains("Last-Event-ID"));
    QVERIFY2(fake.heads[1].contains("\r\nLast-Event-ID: 7\r\n"), fake.heads[1].constData());
    QVERIFY(run.stderrBytes.contains("reconnecting"));
}

QTEST_GUILESS_MAIN(TstCliEvents)
#include "tst_cli_events.moc"
