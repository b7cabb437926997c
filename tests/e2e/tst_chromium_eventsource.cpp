// SPDX-License-Identifier: MIT
// Headless Chromium's own EventSource against the server: a page (served by a tiny collector in
// this process, so the stream is cross-origin and needs the server's CORS headers) reports every
// event back with fetch(). It must receive live comments, and after a server restart on the same
// port reconnect by itself with Last-Event-ID and receive what was posted after, with no
// duplicate.
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QScopeGuard>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <memory>

using namespace lctest;

namespace {

/// Serves the test page on GET / and collects POST /report bodies (JSON objects).
class Collector : public QTcpServer {
public:
    QByteArray page;
    QList<QJsonObject> reports;

    Collector()
    {
        connect(this, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = nextPendingConnection()) {
                auto buf = std::make_shared<QByteArray>();
                connect(s, &QTcpSocket::readyRead, s, [this, s, buf] {
                    *buf += s->readAll();
                    handle(s, *buf);
                });
                connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            }
        });
    }

    /// Reports of one type in the order the page made them (concurrent fetch() calls may arrive
    /// out of order, so sort by the page's sequence number).
    QList<QJsonObject> ofType(const QString& type) const
    {
        QList<QJsonObject> inOrder = reports;
        std::sort(inOrder.begin(), inOrder.end(), [](const QJsonObject& a, const QJsonObject& b) {
            return a.value(QStringLiteral("seq")).toInt() < b.value(QStringLiteral("seq")).toInt();
        });
        QList<QJsonObject> out;
        for (const QJsonObject& r : inOrder) {
            if (r.value(QStringLiteral("type")).toString() == type)
                out.append(r);
        }
        return out;
    }
    QList<quint64> commentIds() const
    {
        QList<quint64> ids;
        for (const QJsonObject& r : ofType(QStringLiteral("comment")))
            ids.append(r.value(QStringLiteral("id")).toString().toULongLong());
        return ids;
    }

private:
    void handle(QTcpSocket* s, QByteArray& buf)
    {
        for (;;) {
            const qsizetype end = buf.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            const QByteArray head = buf.left(end);
            qsizetype length = 0;
            for (const QByteArray& line : head.split('\n')) {
                if (line.toLower().startsWith("content-length:"))
                    length = line.mid(15).trimmed().toLongLong();
            }
            if (buf.size() < end + 4 + length)
                return;
            const QByteArray body = buf.mid(end + 4, length);
            buf.remove(0, end + 4 + length);
            if (head.startsWith("POST /report")) {
                reports.append(QJsonDocument::fromJson(body).object());
                s->write("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
            } else if (head.startsWith("GET / ")) {
                s->write("HTTP/1.1 200 OK\r\nContent-Type: text/html; "
                         "charset=utf-8\r\nCache-Control: no-store\r\n"
                         "Content-Length: "
                    + QByteArray::number(page.size()) + "\r\n\r\n" + page);
            } else {
                s->write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        }
    }
};

QByteArray pageFor(const QUrl& streamUrl)
{
    return R"(<!doctype html><html><head><meta charset="utf-8"><title>es</title></head><body><script>
let seq = 0;
function report(o) {
  o.seq = ++seq;
  fetch("/report", {method: "POST", body: JSON.stringify(o), keepalive: true});
}
const es = new EventSource(")"
        + streamUrl.toString().toUtf8() + R"(");
es.onopen = () => report({type: "open"});
es.onerror = () => report({type: "error", readyState: es.readyState});
for (const t of ["hello", "comment", "reset", "deleted"])
  es.addEventListener(t, e => report({type: t, id: e.lastEventId, data: e.data}));
</script></body></html>)";
}

} // namespace

class TstChromiumEventSource : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void liveAndResumeAcrossRestart();

private:
    QString m_chromium;
};

void TstChromiumEventSource::initTestCase()
{
    for (const char* name : { "chromium", "chromium-browser", "google-chrome" }) {
        m_chromium = QStandardPaths::findExecutable(QString::fromLatin1(name));
        if (!m_chromium.isEmpty())
            break;
    }
    if (m_chromium.isEmpty())
        QSKIP("chromium is not installed (none of chromium, chromium-browser, google-chrome on "
              "PATH): "
              "install it with `sudo apt-get install chromium` or `./dev.sh deps`");
}

void TstChromiumEventSource::liveAndResumeAcrossRestart()
{
    ServerProcess server({ QStringLiteral("--retry-ms=300") });
    QVERIFY(server.start());
    const QString token = server.token("7", "alice");
    const qint32 video = createVideo(server.baseUrl(), token, "chromium");
    QVERIFY(video > 0);

    Collector collector;
    collector.page = pageFor(
        endpoint(server.baseUrl(), QStringLiteral("/videos/%1/subscriptions").arg(video)));
    QVERIFY(collector.listen(QHostAddress::LocalHost, 0));

    QTemporaryDir profile;
    QProcess chromium;
    chromium.setProcessChannelMode(QProcess::MergedChannels);
    chromium.start(m_chromium,
        { QStringLiteral("--headless"), QStringLiteral("--no-sandbox"),
            QStringLiteral("--disable-gpu"), QStringLiteral("--disable-quic"),
            QStringLiteral("--no-first-run"), QStringLiteral("--disable-background-networking"),
            QStringLiteral("--disable-component-update"), QStringLiteral("--disable-sync"),
            QStringLiteral("--disable-dev-shm-usage"),
            QStringLiteral("--user-data-dir=") + profile.path(),
            QStringLiteral("http://127.0.0.1:%1/").arg(collector.serverPort()) });
    QVERIFY2(chromium.waitForStarted(10000), qPrintable(chromium.errorString()));
    auto cleanup = qScopeGuard([&] {
        chromium.terminate();
        if (!chromium.waitForFinished(5000)) {
            chromium.kill();
            chromium.waitForFinished(5000);
        }
    });

    QTRY_VERIFY2_WITH_TIMEOUT(!collector.ofType("hello").isEmpty(),
        qPrintable(QStringLiteral("no hello from the browser; chromium says: ")
            + QString::fromUtf8(chromium.readAll().right(2000))),
        60000);
    const QList<quint64> live = acknowledgedIds(
        postComments(server.baseUrl(), token, video, texts("browser live", 3), 1));
    QCOMPARE(live.size(), 3);
    QTRY_VERIFY_WITH_TIMEOUT(collector.commentIds().size() >= 3, 20000);
    QCOMPARE(collector.commentIds(), live);
    // EventSource exposes the SSE id as lastEventId; data is the comment JSON.
    QCOMPARE(QJsonDocument::fromJson(
                 collector.ofType("comment").first().value("data").toString().toUtf8())
                 .object()
                 .value("id")
                 .toString(),
        QString::number(live.first()));

    // Restart on the same port: the browser reconnects by itself (retry: 300) with Last-Event-ID.
    const int hellosBefore = int(collector.ofType("hello").size());
    const quint16 port = server.port();
    QVERIFY(server.terminate());
    QVERIFY(server.restart(true));
    QCOMPARE(server.port(), port); // EventSource reconnects to the same URL
    const QList<quint64> afterRestart = acknowledgedIds(
        postComments(server.baseUrl(), token, video, texts("browser after restart", 4), 1));
    QCOMPARE(afterRestart.size(), 4);
    QTRY_VERIFY_WITH_TIMEOUT(collector.ofType("hello").size() > hellosBefore, 30000);
    const QJsonObject hello = QJsonDocument::fromJson(
        collector.ofType("hello").last().value("data").toString().toUtf8())
                                  .object();
    QVERIFY2(hello.value("resumed").toBool(),
        qPrintable(collector.ofType("hello").last().value("data").toString()));
    const QList<quint64> more = acknowledgedIds(
        postComments(server.baseUrl(), token, video, texts("browser live again", 2), 1));
    // Every expected comment reported (reports may arrive out of order, so wait for all of them).
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(afterRestart.begin(), afterRestart.end(),
                                 [&](quint64 id) { return collector.commentIds().contains(id); })
            && std::all_of(more.begin(), more.end(),
                [&](quint64 id) { return collector.commentIds().contains(id); }),
        20000);

    // The browser does not dedupe: whatever it got twice the server sent twice, except for the
    // documented overlap window (ids it had already seen before the restart).
    const QList<quint64> got = collector.commentIds();
    QList<quint64> fresh;
    for (quint64 id : got.mid(3)) {
        if (!live.contains(id))
            fresh.append(id);
    }
    QVERIFY2(allUnique(fresh), "a comment reached the browser twice after the restart");
    QCOMPARE(fresh, afterRestart + more);
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstChromiumEventSource)
#include "tst_chromium_eventsource.moc"
