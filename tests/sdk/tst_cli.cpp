// SPDX-License-Identifier: MIT
// The `livecomments` commands tail, post, history and delete against the real server: human
// lines by default ("12:49:17 alice: hello", oldest first), JSON lines with --json, and offline
// history from --cache.
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QtTest>

namespace {
struct Run {
    int exitCode = -1;
    QStringList lines; ///< stdout lines
    QByteArray err;
};
} // namespace

class TstCli : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void postPrintsTheStoredComment();
    void historyOldestFirst();
    void tailHistoryThenLive_data();
    void tailHistoryThenLive();
    void deleteComment();
    void cachedHistoryOffline();

private:
    /// Runs the CLI to its end with the event loop running.
    Run run(QStringList args);
    QStringList base(const QString& command) const;
    /// "HH:MM:SS name: text" as the CLI must print it for a comment of the server's JSON.
    static QString expectedLine(const QJsonObject& comment);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<lctest::ServerProcess> m_server;
    QString m_token;
    qint32 m_video = 0;
};

void TstCli::init()
{
    QVERIFY2(!qEnvironmentVariable("LC_CLI_BIN").isEmpty(), "LC_CLI_BIN is not set");
    m_dir = std::make_unique<QTemporaryDir>();
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_token = m_server->token("7", "alice", "streamer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "cli");
    QVERIFY(m_video > 0);
}

void TstCli::cleanup()
{
    m_server.reset();
}

QStringList TstCli::base(const QString& command) const
{
    return { command, "--server=" + m_server->baseUrl().toString(QUrl::StripTrailingSlash),
        QStringLiteral("--video=%1").arg(m_video) };
}

Run TstCli::run(QStringList args)
{
    Run r;
    QProcess p;
    p.start(qEnvironmentVariable("LC_CLI_BIN"), args);
    if (!p.waitForStarted(10000))
        return r;
    QElapsedTimer t;
    t.start();
    while (p.state() != QProcess::NotRunning && t.elapsed() < 30000)
        QTest::qWait(20);
    r.exitCode = p.exitCode();
    const QString out = QString::fromUtf8(p.readAllStandardOutput()).trimmed();
    r.lines = out.isEmpty() ? QStringList() : out.split('\n');
    r.err = p.readAllStandardError();
    return r;
}

QString TstCli::expectedLine(const QJsonObject& c)
{
    const QDateTime at = QDateTime::fromString(c.value("created_at").toString(), Qt::ISODateWithMs);
    return at.toUTC().toString("HH:mm:ss") + " "
        + c.value("user").toObject().value("name").toString() + ": " + c.value("text").toString();
}

void TstCli::postPrintsTheStoredComment()
{
    Run r = run(base("post") << "--token=" + m_token << "hello there");
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(r.lines.size(), 1);
    auto page = lctest::getHistoryPage(
        m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video));
    const auto stored = page.reply.json().value("comments").toArray();
    QCOMPARE(stored.size(), 1);
    QCOMPARE(r.lines[0], expectedLine(stored[0].toObject()));
    QVERIFY(QRegularExpression("^\\d\\d:\\d\\d:\\d\\d alice: hello there$")
                .match(r.lines[0])
                .hasMatch());

    r = run(base("post") << "--token=" + m_token << "--json"
                         << "as json");
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(r.lines.size(), 1);
    const QJsonObject o = QJsonDocument::fromJson(r.lines[0].toUtf8()).object();
    QCOMPARE(o.value("text").toString(), QStringLiteral("as json"));
    QCOMPARE(o.value("user").toObject().value("id").toString(), QStringLiteral("7"));
    QCOMPARE(o.value("user").toObject().value("role").toString(), QStringLiteral("streamer"));

    // Without a token: usage error, nothing posted.
    r = run(base("post") << "no token");
    QCOMPARE(r.exitCode, 2);
}

void TstCli::historyOldestFirst()
{
    const QStringList texts = lctest::texts("line", 3);
    for (const auto& t : texts)
        QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, t).status, 201);
    Run r = run(base("history"));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(r.lines.size(), 3);
    for (int i = 0; i < 3; ++i)
        QVERIFY2(r.lines[i].endsWith("alice: " + texts[i]), qPrintable(r.lines[i]));

    r = run(base("history") << "--json"
                            << "--limit=2");
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(r.lines.size(), 1);
    const QJsonObject page = QJsonDocument::fromJson(r.lines[0].toUtf8()).object();
    QCOMPARE(page.value("comments").toArray().size(), 2);
    QCOMPARE(page.value("comments").toArray()[0].toObject().value("text").toString(), texts[2]);
    QVERIFY(page.value("next_cursor").isString());
}

void TstCli::tailHistoryThenLive_data()
{
    QTest::addColumn<bool>("json");
    QTest::addColumn<bool>("cache");
    QTest::newRow("lines") << false << false;
    QTest::newRow("json") << true << false;
    QTest::newRow("cache") << false << true;
}

void TstCli::tailHistoryThenLive()
{
    QFETCH(bool, json);
    QFETCH(bool, cache);
    for (const auto& t : lctest::texts("old", 3))
        QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, t).status, 201);
    QStringList args = base("tail") << "--history=2";
    if (json)
        args << "--json";
    if (cache)
        args << "--cache=" + m_dir->filePath("tail.db");
    QProcess p;
    QByteArray out;
    QByteArray err;
    connect(
        &p, &QProcess::readyReadStandardOutput, this, [&] { out += p.readAllStandardOutput(); });
    connect(&p, &QProcess::readyReadStandardError, this, [&] { err += p.readAllStandardError(); });
    p.start(qEnvironmentVariable("LC_CLI_BIN"), args);
    QVERIFY(p.waitForStarted(10000));
    QTRY_COMPARE_WITH_TIMEOUT(out.count('\n'), 2, 15000);
    // Post only once the stream is up: what comes before it belongs to history.
    QTRY_VERIFY_WITH_TIMEOUT(err.contains("live"), 15000);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, "new one").status, 201);
    QTRY_COMPARE_WITH_TIMEOUT(out.count('\n'), 3, 15000);
    p.kill();
    p.waitForFinished(10000);
    const QList<QByteArray> lines = out.trimmed().split('\n');
    QCOMPARE(lines.size(), 3);
    const QStringList want { "old 1", "old 2", "new one" };
    for (int i = 0; i < 3; ++i) {
        if (json) {
            const auto o = QJsonDocument::fromJson(lines[i]).object();
            QCOMPARE(o.value("text").toString(), want[i]);
        } else {
            QVERIFY2(lines[i].endsWith(("alice: " + want[i]).toUtf8()), lines[i].constData());
        }
    }
}

void TstCli::deleteComment()
{
    const auto posted = lctest::postComment(m_server->baseUrl(), m_token, m_video, "bye");
    QCOMPARE(posted.status, 201);
    const QString id = posted.json().value("id").toString();
    const QString bob = m_server->token("8", "bob");
    Run r = run(base("delete") << "--token=" + bob << "--comment=" + id);
    QCOMPARE(r.exitCode, 1); // not bob's
    QVERIFY2(r.err.contains("forbidden"), r.err.constData());
    r = run(base("delete") << "--token=" + m_token << "--comment=" + id);
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(r.lines, QStringList { "deleted " + id });
    QVERIFY(run(base("history")).lines.isEmpty());
    r = run(base("delete") << "--token=" + m_token << "--comment=nope");
    QCOMPARE(r.exitCode, 2);
}

void TstCli::cachedHistoryOffline()
{
    const QString cache = "--cache=" + m_dir->filePath("history.db");
    for (const auto& t : lctest::texts("kept", 2))
        QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, t).status, 201);
    // Online once with --cache: the comments land in the cache (a tail --cache stores a
    // complete range; a plain history page does too once the timeline has seen it).
    {
        QProcess p;
        QByteArray out;
        connect(&p, &QProcess::readyReadStandardOutput, this,
            [&] { out += p.readAllStandardOutput(); });
        p.start(qEnvironmentVariable("LC_CLI_BIN"), base("tail") << cache);
        QVERIFY(p.waitForStarted(10000));
        QTRY_COMPARE_WITH_TIMEOUT(out.count('\n'), 2, 15000);
        p.kill();
        p.waitForFinished(10000);
    }
    QVERIFY(m_server->terminate());
    Run r = run(base("history") << cache);
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.err.contains("offline"), r.err.constData());
    QCOMPARE(r.lines.size(), 2);
    QVERIFY(r.lines[0].endsWith("alice: kept 0"));
    QVERIFY(r.lines[1].endsWith("alice: kept 1"));
    // Without the cache there is nothing to show.
    r = run(base("history"));
    QCOMPARE(r.exitCode, 1);
    QVERIFY(r.lines.isEmpty());
}

QTEST_GUILESS_MAIN(TstCli)
#include "tst_cli.moc"
