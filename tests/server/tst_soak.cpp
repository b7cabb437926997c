// SPDX-License-Identifier: MIT
// Soak (label `soak`, by hand; docs/security.md): one server for LC_SOAK_SECONDS (default 600)
// under steady posting, subscribers that stay, subscribers joining and leaving, idle and
// slowloris connections, non-reading subscribers and non-reading pipelining REST clients. Checks
// that RSS and open descriptors stay bounded, that every acknowledged comment is stored, and that
// every subscriber that stayed received every acknowledged comment exactly once. Prints the
// figures (qInfo) for docs/security.md.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QSet>
#include <QTcpSocket>
#include <QTest>

#include <memory>
#include <vector>

using namespace lctest;

namespace {

int envInt(const char* name, int fallback)
{
    bool ok = false;
    const int v = qEnvironmentVariableIntValue(name, &ok);
    return ok ? v : fallback;
}

/// VmRSS of a process in KiB (0 when unreadable).
qint64 rssKiB(qint64 pid)
{
    QFile status(QStringLiteral("/proc/%1/status").arg(pid));
    if (!status.open(QIODevice::ReadOnly))
        return 0;
    for (const QByteArray& line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    }
    return 0;
}

int openFds(qint64 pid)
{
    return QDir(QStringLiteral("/proc/%1/fd").arg(pid)).entryList(QDir::NoDotAndDotDot).size();
}

} // namespace

class TstSoak : public QObject {
    Q_OBJECT
public:
    TstSoak()
    {
        // Qt Test aborts a test function after 300 s unless told otherwise (read once, at the
        // first test function): allow the whole soak plus the final checks.
        if (!qEnvironmentVariableIsSet("QTEST_FUNCTION_TIMEOUT"))
            qputenv("QTEST_FUNCTION_TIMEOUT",
                QByteArray::number((envInt("LC_SOAK_SECONDS", 600) + 300) * 1000));
    }

private slots:
    void soak();
};

void TstSoak::soak()
{
    const int seconds = envInt("LC_SOAK_SECONDS", 600);
    const int stayers = envInt("LC_SOAK_STAYERS", 20);
    const int churners = envInt("LC_SOAK_CHURNERS", 20);
    const int idle
        = envInt("LC_SOAK_IDLE", 6); // few: each holds a worker until the epoll front end
    const int slow = envInt("LC_SOAK_SLOWLORIS", 4);
    const int stalled = envInt("LC_SOAK_STALLED", 4);
    ServerProcess server;
    QVERIFY(server.start());
    const QString token = server.token("7", "soak", "streamer");
    const qint32 video = createVideo(server.baseUrl(), token, "soak");
    QVERIFY(video > 0);
    const QByteArray streamPath = "/videos/" + QByteArray::number(video) + "/subscriptions";

    std::vector<std::unique_ptr<SseReader>> stay;
    for (int i = 0; i < stayers; ++i) {
        stay.push_back(std::make_unique<SseReader>());
        stay.back()->open(server.port(), streamPath);
        QVERIFY(stay.back()->waitForHello());
    }
    std::vector<std::unique_ptr<SseReader>> churn(static_cast<std::size_t>(churners));
    // Subscribers that never read (tiny receive buffer, paused): the server must shed them.
    std::vector<std::unique_ptr<SseReader>> deaf;
    for (int i = 0; i < stalled; ++i) {
        deaf.push_back(std::make_unique<SseReader>());
        deaf.back()->setReceiveBufferSize(4096);
        deaf.back()->open(server.port(), streamPath);
        QVERIFY(deaf.back()->waitForHello());
        deaf.back()->setPaused(true);
    }
    // Idle connections, slowloris heads, and REST clients that pipeline and never read.
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    auto connectRaw = [&](const QByteArray& first) {
        auto s = std::make_unique<QTcpSocket>();
        s->setReadBufferSize(1); // stops reading from the kernel once one byte is buffered
        s->connectToHost(QStringLiteral("127.0.0.1"), server.port());
        QVERIFY(s->waitForConnected(5000));
        if (!first.isEmpty())
            s->write(first);
        sockets.push_back(std::move(s));
    };
    for (int i = 0; i < idle; ++i)
        connectRaw({});
    for (int i = 0; i < slow; ++i)
        connectRaw("GET /healthz HTTP/1.1\r\nHost: soak\r\n");
    QByteArray pipelined;
    for (int i = 0; i < 200; ++i)
        pipelined += "GET /videos/" + QByteArray::number(video)
            + "/comments?limit=200 HTTP/1.1\r\nHost: soak\r\n\r\n";
    for (int i = 0; i < 2; ++i)
        connectRaw(pipelined);

    const qint64 pid = server.pid();
    qint64 rssWarm = 0, rssMax = 0;
    int fdsWarm = 0, fdsMax = 0;
    QList<quint64> acknowledged;
    int failures = 0, churnCycles = 0, churnIndex = 0;
    QElapsedTimer clock;
    clock.start();
    qint64 nextSample = 0, nextChurn = 0, nextTrickle = 5000;
    while (clock.elapsed() < qint64(seconds) * 1000) {
        const HttpReply r = postComment(
            server.baseUrl(), token, video, QStringLiteral("soak %1").arg(acknowledged.size()));
        if (r.status == 201)
            acknowledged << r.json().value("id").toString().toULongLong();
        else
            ++failures;
        if (clock.elapsed() >= nextChurn) { // one subscriber leaves, a new one joins
            auto& slot = churn[static_cast<std::size_t>(churnIndex++ % qMax(1, churners))];
            if (slot)
                slot->close();
            slot = std::make_unique<SseReader>();
            slot->open(server.port(), streamPath);
            ++churnCycles;
            nextChurn = clock.elapsed() + 500;
        }
        if (clock.elapsed() >= nextTrickle) { // slowloris: one more header line now and then
            for (int i = idle; i < idle + slow && i < int(sockets.size()); ++i)
                if (sockets[std::size_t(i)]->state() == QAbstractSocket::ConnectedState)
                    sockets[std::size_t(i)]->write("X-Soak: 1\r\n"); // closed by the server: fine
            nextTrickle = clock.elapsed() + 5000;
        }
        if (clock.elapsed() >= nextSample) {
            const qint64 rss = rssKiB(pid);
            const int fds = openFds(pid);
            if (rssWarm == 0 && clock.elapsed() >= qMin(60000, seconds * 100)) {
                rssWarm = rss;
                fdsWarm = fds;
            }
            rssMax = qMax(rssMax, rss);
            fdsMax = qMax(fdsMax, fds);
            qInfo("t=%llds posted=%d rss=%lldKiB fds=%d", clock.elapsed() / 1000,
                int(acknowledged.size()), rss, fds);
            nextSample = clock.elapsed() + 10000;
        }
        QTest::qWait(30); // pacing (~25 posts/s), not synchronisation
    }
    const qint64 rssEnd = rssKiB(pid);
    const int fdsEnd = openFds(pid);
    qInfo("soak: %d s, %d comments acknowledged, %d refused, %d churn cycles, RSS warm %lld KiB "
          "max %lld KiB end %lld KiB, fds warm %d max %d end %d",
        seconds, int(acknowledged.size()), failures, churnCycles, rssWarm, rssMax, rssEnd, fdsWarm,
        fdsMax, fdsEnd);
    QVERIFY(!acknowledged.isEmpty());
    QCOMPARE(failures, 0);
    // Bounded: after warm-up, memory grows by less than 64 MiB or 50 %, descriptors by a few.
    QVERIFY2(rssMax <= qMax(rssWarm * 3 / 2, rssWarm + 65536),
        qPrintable(QStringLiteral("RSS %1 KiB after warm-up %2 KiB").arg(rssMax).arg(rssWarm)));
    QVERIFY2(fdsEnd <= fdsWarm + 16,
        qPrintable(QStringLiteral("fds %1 after warm-up %2").arg(fdsEnd).arg(fdsWarm)));

    // Every acknowledged comment is stored ...
    bool ok = false;
    QString error;
    const QList<quint64> stored = walkBefore(server.baseUrl(), video, 200, &ok, &error);
    QVERIFY2(ok, qPrintable(error));
    const QSet<quint64> storedSet(stored.begin(), stored.end());
    for (const quint64 id : acknowledged)
        QVERIFY2(storedSet.contains(id), qPrintable(QString::number(id) + " not stored"));
    // ... and reached every subscriber that stayed, exactly once.
    for (auto& reader : stay) {
        QVERIFY(reader->waitForComments(int(acknowledged.size()), 60000));
        const QList<quint64> got = reader->comments();
        QCOMPARE(got.size(), acknowledged.size());
        QCOMPARE(QSet<quint64>(got.begin(), got.end()),
            QSet<quint64>(acknowledged.begin(), acknowledged.end()));
    }
    QVERIFY(server.terminate());
}

QTEST_GUILESS_MAIN(TstSoak)
#include "tst_soak.moc"
