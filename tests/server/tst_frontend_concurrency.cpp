// SPDX-License-Identifier: MIT
// 64 concurrent keep-alive REST clients are all served without waiting for one another, while
// every one of them holds its connection open (a thread-per-connection server with 16 threads
// makes the 17th wait for an idle one to time out).
#include "http_client.h"
#include "raw_client.h"
#include "server_process.h"

#include <QElapsedTimer>
#include <QTest>

#include <memory>
#include <vector>

using namespace lctest;

class TstFrontendConcurrency : public QObject {
    Q_OBJECT
private slots:
    void sixtyFourKeepAliveClients();
};

void TstFrontendConcurrency::sixtyFourKeepAliveClients()
{
    constexpr int kClients = 64;
    // The default --threads (16): four times fewer workers than clients.
    ServerProcess server;
    QVERIFY(server.start());
    const QByteArray token = server.token("7", "alice", "streamer").toUtf8();
    const qint32 video = createVideo(server.baseUrl(), QString::fromUtf8(token), "sixty-four");
    QVERIFY(video > 0);
    auto postRequest = [&](int client, int round) {
        const QByteArray body = "{\"text\":\"c" + QByteArray::number(client) + "r"
            + QByteArray::number(round) + "\"}";
        return "POST /videos/" + QByteArray::number(video)
            + "/comments HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token
            + "\r\nContent-Type: application/json\r\nContent-Length: "
            + QByteArray::number(body.size()) + "\r\n\r\n" + body;
    };

    // Every client connects and posts once, one after the other, and keeps its connection:
    // each must be answered at once although all earlier ones are still connected.
    std::vector<std::unique_ptr<RawClient>> clients;
    QElapsedTimer timer;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<RawClient>());
        QVERIFY(clients.back()->connect(server.port()));
        timer.start();
        clients.back()->send(postRequest(i, 0));
        QCOMPARE(clients.back()->read(10000).status, 201);
        QVERIFY2(timer.elapsed() < 2000,
            qPrintable(QStringLiteral("client %1 waited %2 ms").arg(i).arg(timer.elapsed())));
    }
    // Then all 64 post at the same moment on their kept-alive connections.
    timer.start();
    for (int i = 0; i < kClients; ++i)
        clients[size_t(i)]->send(postRequest(i, 1));
    for (int i = 0; i < kClients; ++i)
        QCOMPARE(clients[size_t(i)]->read(10000).status, 201);
    QVERIFY2(timer.elapsed() < 4000, qPrintable(QString::number(timer.elapsed())));
    // Still connected and usable, and a newcomer is served too.
    for (auto& c : clients) {
        c->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        QCOMPARE(c->read(5000).status, 200);
    }
    RawClient newcomer;
    QVERIFY(newcomer.connect(server.port()));
    timer.start();
    newcomer.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    QCOMPARE(newcomer.read(5000).status, 200);
    QVERIFY2(timer.elapsed() < 2000, qPrintable(QString::number(timer.elapsed())));
}

QTEST_GUILESS_MAIN(TstFrontendConcurrency)
#include "tst_frontend_concurrency.moc"
