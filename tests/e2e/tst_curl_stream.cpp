// SPDX-License-Identifier: MIT
// A real `curl -N` process receives live comments from the server's stream, and after a server
// restart on the same store a new curl with Last-Event-ID receives the ones it missed, then live.
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTest>

#include <memory>

using namespace lctest;

namespace {
/// Comment ids in curl's output (`id: N` lines of comment events).
QList<quint64> idsIn(const QByteArray& out)
{
    QList<quint64> ids;
    static const QRegularExpression re(QStringLiteral("(?:^|\\n)id: (\\d+)\\nevent: comment\\n"));
    auto it = re.globalMatch(QString::fromUtf8(out));
    while (it.hasNext())
        ids.append(it.next().captured(1).toULongLong());
    return ids;
}

/// A running `curl -N` on one URL, its stdout collected.
struct Curl {
    QProcess process;
    QByteArray out;
    void start(const QUrl& url, const QStringList& extra = {})
    {
        QObject::connect(&process, &QProcess::readyReadStandardOutput, &process,
            [this] { out += process.readAllStandardOutput(); });
        process.start(QStringLiteral("curl"),
            QStringList { QStringLiteral("-N"), QStringLiteral("-sS"), QStringLiteral("-H"),
                QStringLiteral("Accept: text/event-stream") }
                + extra + QStringList { url.toString() });
    }
    ~Curl()
    {
        if (process.state() != QProcess::NotRunning) {
            process.kill();
            process.waitForFinished(5000);
        }
    }
};
} // namespace

class TstCurlStream : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void liveThenResumeAfterRestart();
};

void TstCurlStream::initTestCase()
{
    if (QStandardPaths::findExecutable(QStringLiteral("curl")).isEmpty())
        QSKIP("curl is not installed: install it with `sudo apt-get install curl` or `./dev.sh "
              "deps`");
}

void TstCurlStream::liveThenResumeAfterRestart()
{
    ServerProcess server({ QStringLiteral("--retry-ms=500") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "curl");
    const QUrl streamUrl
        = endpoint(server.baseUrl(), QStringLiteral("/videos/%1/subscriptions").arg(video));

    Curl first;
    first.start(streamUrl);
    QTRY_VERIFY_WITH_TIMEOUT(first.out.contains("event: hello"), 10000);
    QVERIFY(first.out.startsWith("retry: 500\n"));
    const QList<quint64> live
        = acknowledgedIds(postComments(server.baseUrl(), token, video, texts("curl live", 3), 1));
    QCOMPARE(live.size(), 3);
    QTRY_COMPARE(idsIn(first.out), live);

    // Restart: curl sees the stream end (exit 0 or 18 "partial file" for an unterminated body).
    QVERIFY(server.terminate());
    QTRY_VERIFY_WITH_TIMEOUT(first.process.state() == QProcess::NotRunning, 10000);
    QVERIFY2(first.process.exitCode() == 0 || first.process.exitCode() == 18,
        qPrintable(QString::number(first.process.exitCode())));
    QVERIFY(server.restart());
    QCOMPARE(server.port(), streamUrl.port());
    const QList<quint64> missed
        = acknowledgedIds(postComments(server.baseUrl(), token, video, texts("curl missed", 4), 1));
    QCOMPARE(missed.size(), 4);

    Curl second;
    second.start(streamUrl,
        { QStringLiteral("--header"), QStringLiteral("Last-Event-ID: %1").arg(live.last()) });
    QTRY_VERIFY_WITH_TIMEOUT(second.out.contains("event: hello"), 10000);
    QVERIFY2(second.out.contains("\"resumed\":true"), second.out.left(400));
    const QList<quint64> after
        = acknowledgedIds(postComments(server.baseUrl(), token, video, texts("curl after", 2), 1));
    QCOMPARE(after.size(), 2);
    QTRY_VERIFY(idsIn(second.out).contains(after.last()));
    // Dedupe the allowed overlap (ids already seen); then exactly missed + after, in order.
    QList<quint64> fresh;
    for (quint64 id : idsIn(second.out)) {
        if (!live.contains(id))
            fresh.append(id);
    }
    QVERIFY(allUnique(idsIn(second.out)));
    QCOMPARE(fresh, missed + after);
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstCurlStream)
#include "tst_curl_stream.moc"
