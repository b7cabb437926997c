// SPDX-License-Identifier: MIT
// The server's option table (server/src/app/options.h) against what users see: `--help` prints
// every option exactly once, docs/server.md documents every option, the shipped .properties
// file lists every config key with the table's default, and `--version` prints the version.
#include "app/options.h"
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"

#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

using namespace lctest;
using livecomments::server::OptionKind;
using livecomments::server::optionTable;

class TstOptions : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void helpListsEveryOptionOnce();
    void docsListEveryOption();
    void propertiesFileListsEveryKey();
    void version();
    void outOfRangeValueRefused();
    void tokenUsageErrors();
    void configFileKeys();

private:
    /// Runs the server binary with `args`; returns stdout + stderr, exit code in `code`.
    QByteArray run(const QStringList& args, int& code, QByteArray* out = nullptr) const;
    QString m_binary;
};

void TstOptions::initTestCase()
{
    m_binary = ServerProcess::serverBinary();
    QVERIFY2(!m_binary.isEmpty(), "LC_SERVER_BIN is not set");
    QVERIFY(optionTable().size() > 20);
}

QByteArray TstOptions::run(const QStringList& args, int& code, QByteArray* out) const
{
    QProcess p;
    p.start(m_binary, args);
    if (!p.waitForFinished(20000)) {
        p.kill();
        p.waitForFinished();
        code = -1;
        return {};
    }
    code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    const QByteArray stdoutText = p.readAllStandardOutput();
    if (out)
        *out = stdoutText;
    return stdoutText + p.readAllStandardError();
}

void TstOptions::helpListsEveryOptionOnce()
{
    int code = 0;
    QByteArray out;
    run({ QStringLiteral("--help") }, code, &out);
    QCOMPARE(code, 0);
    for (const auto& spec : optionTable()) {
        // An option line starts with the option (after an optional short form "-h, ").
        const QRegularExpression line(
            QStringLiteral("^(-\\w, )?--%1(=|\\s|$)").arg(QRegularExpression::escape(spec.name)),
            QRegularExpression::MultilineOption);
        int count = 0;
        auto it = line.globalMatch(QString::fromUtf8(out));
        while (it.hasNext()) {
            it.next();
            ++count;
        }
        QVERIFY2(count == 1,
            qPrintable(QStringLiteral("--%1 appears %2 times in --help:\n%3")
                           .arg(spec.name)
                           .arg(count)
                           .arg(QString::fromUtf8(out))));
    }
}

void TstOptions::docsListEveryOption()
{
    QFile doc(QStringLiteral(LC_SERVER_DOC));
    QVERIFY2(doc.open(QIODevice::ReadOnly), LC_SERVER_DOC);
    // The options table of docs/server.md: rows like "| `--name=ARG` | default | meaning |".
    QSet<QString> documented;
    const QRegularExpression row(QStringLiteral("^\\|\\s*`--([a-z0-9-]+)[=`]"));
    bool inOptions = false;
    for (const QByteArray& raw : doc.readAll().split('\n')) {
        const QString line = QString::fromUtf8(raw);
        if (line.startsWith(QLatin1String("## ")))
            inOptions = line == QLatin1String("## Options");
        const auto m = row.match(line);
        if (inOptions && m.hasMatch())
            documented.insert(m.captured(1));
    }
    QVERIFY2(!documented.isEmpty(), "no option rows under '## Options' in docs/server.md");
    QStringList missing;
    for (const auto& spec : optionTable()) {
        if (!documented.contains(QString::fromLatin1(spec.name)))
            missing << QString::fromLatin1(spec.name);
    }
    QVERIFY2(missing.isEmpty(),
        qPrintable(QStringLiteral("not in docs/server.md: ") + missing.join(QLatin1Char(' '))));
}

void TstOptions::propertiesFileListsEveryKey()
{
    QFile file(QStringLiteral(LC_SERVER_PROPERTIES));
    QVERIFY2(file.open(QIODevice::ReadOnly), LC_SERVER_PROPERTIES);
    // "# key = value" (commented-out defaults) or "key = value".
    QHash<QString, QString> keys;
    const QRegularExpression entry(QStringLiteral("^#?\\s*([a-z0-9-]+)\\s*=\\s*(.*)$"));
    for (const QByteArray& raw : file.readAll().split('\n')) {
        const auto m = entry.match(QString::fromUtf8(raw).trimmed());
        if (m.hasMatch())
            keys.insert(m.captured(1), m.captured(2).trimmed());
    }
    for (const auto& spec : optionTable()) {
        const QString name = QString::fromLatin1(spec.name);
        if (!spec.configKey) {
            QVERIFY2(!keys.contains(name), qPrintable(name + " is not a config key"));
            continue;
        }
        QVERIFY2(keys.contains(name), qPrintable(name + " is missing from the .properties file"));
        if (spec.defaultText)
            QCOMPARE(keys.value(name), QString::fromLatin1(spec.defaultText));
    }
    for (auto it = keys.cbegin(); it != keys.cend(); ++it) {
        const auto* spec = livecomments::server::findOption(it.key().toStdString());
        QVERIFY2(spec && spec->configKey, qPrintable(it.key() + " is not an option"));
    }
}

void TstOptions::version()
{
    int code = 0;
    QByteArray out;
    run({ QStringLiteral("--version") }, code, &out);
    QCOMPARE(code, 0);
    // Exactly the CMake project version, which the build passes to the server as LC_VERSION.
    QCOMPARE(out, QByteArray("livecomments-server " LC_EXPECTED_VERSION "\n"));
}

void TstOptions::outOfRangeValueRefused()
{
    // Every integer option refuses max + 1 with exit 78 and a message naming it.
    for (const auto& spec : optionTable()) {
        if (spec.kind != OptionKind::Integer)
            continue;
        int code = 0;
        const QByteArray output = run(
            { QStringLiteral("--dev"), QStringLiteral("--%1=%2").arg(spec.name).arg(spec.max + 1) },
            code);
        QVERIFY2(code == 78, qPrintable(QStringLiteral("--%1: exit %2").arg(spec.name).arg(code)));
        QVERIFY2(output.contains(QByteArray("--") + spec.name), output.constData());
    }
}

void TstOptions::tokenUsageErrors()
{
    int code = 0;
    run({ QStringLiteral("token"), QStringLiteral("--bogus=1") }, code);
    QCOMPARE(code, 64); // Application::EXIT_USAGE
    run({ QStringLiteral("token"), QStringLiteral("--name=x"), QStringLiteral("--dev") }, code);
    QCOMPARE(code, 64); // no --user
    QByteArray out;
    run({ QStringLiteral("token"), QStringLiteral("--user"), QStringLiteral("7"),
            QStringLiteral("--dev") },
        code, &out);
    QCOMPARE(code, 0);
    QCOMPARE(out.count('.'), 2); // header.claims.signature
}

void TstOptions::configFileKeys()
{
    // A config-file value is used; a command-line value wins over it; an unknown key is named.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile file(dir.filePath(QStringLiteral("lc.properties")));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("heartbeat-ms = 1234\nretry-ms = 999\nheartbeat_ms = 1\n");
    file.close();
    ServerProcess server(
        { QStringLiteral("--config=") + file.fileName(), QStringLiteral("--retry-ms=777") });
    QVERIFY(server.start());
    SseReader reader;
    reader.open(server.port(),
        "/videos/"
            + QByteArray::number(createVideo(server.baseUrl(),
                server.token(QStringLiteral("7"), QStringLiteral("s"), QStringLiteral("streamer"))))
            + "/subscriptions");
    QVERIFY(reader.waitForHello());
    QCOMPARE(reader.hello().value(QStringLiteral("heartbeat_ms")).toInt(), 1234);
    QCOMPARE(reader.retryMs(), 777);
    QTRY_VERIFY(server.log().contains("unknown key 'heartbeat_ms' ignored"));
    QVERIFY(!server.log().contains("unknown key 'retry-ms'"));
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstOptions)
#include "tst_options.moc"
