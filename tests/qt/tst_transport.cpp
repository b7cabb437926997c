// SPDX-License-Identifier: MIT
// One transport suite, run for both HTTP backends under the same core Client (Curl = libcurl,
// QtNetwork = QtNetworkBackend on QNetworkAccessManager), against the real server (ServerProcess)
// and, for stream cuts, through the FaultProxy.
#include "livecomments/qt/transport.h"

#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"

#include <QSignalSpy>
#include <QtTest>

#include <memory>

using livecomments::HistoryPage;
using livecomments::OutboxEntry;
using livecomments::PostState;
using livecomments::Result;
using livecomments::Video;
using livecomments::qt::Comment;
using livecomments::qt::Transport;

class TstTransport : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();
    void liveCommentsArriveInOrder_data() { kinds(); }
    void liveCommentsArriveInOrder();
    void videoAndHistoryPages_data() { kinds(); }
    void videoAndHistoryPages();
    void postIsSentOnceAndStreamed_data() { kinds(); }
    void postIsSentOnceAndStreamed();
    void streamCutResumesWithoutLossOrDuplicates_data() { kinds(); }
    void streamCutResumesWithoutLossOrDuplicates();
    void stalledStreamIsDetectedByWatchdog_data() { kinds(); }
    void stalledStreamIsDetectedByWatchdog();
    void serviceUnavailableIsRetried_data() { kinds(); }
    void serviceUnavailableIsRetried();
    void notFoundIsFatal_data() { kinds(); }
    void notFoundIsFatal();
    void endedVideoClosesInsteadOfReconnecting_data() { kinds(); }
    void endedVideoClosesInsteadOfReconnecting();
    void unsubscribeDoesNotReconnect_data() { kinds(); }
    void unsubscribeDoesNotReconnect();

private:
    void kinds();
    /// The transport of the current row, pointed at @p server.
    std::unique_ptr<Transport> make(const QUrl& server);
    void collect(Transport* t);

    std::unique_ptr<lctest::ServerProcess> m_server;
    QString m_streamerToken;
    QString m_viewerToken;
    qint32 m_video = 0;
    QList<quint64> m_received;
};

void TstTransport::kinds()
{
    QTest::addColumn<Transport::Kind>("kind");
    QTest::newRow("curl") << Transport::Kind::Curl;
    QTest::newRow("qtnetwork") << Transport::Kind::QtNetwork;
}

void TstTransport::initTestCase()
{
    m_server = std::make_unique<lctest::ServerProcess>(
        QStringList { QStringLiteral("--heartbeat-ms=1000"), QStringLiteral("--retry-ms=200") });
    QVERIFY2(m_server->start(), m_server->log().constData());
    m_streamerToken
        = m_server->token(QStringLiteral("7"), QStringLiteral("alice"), QStringLiteral("streamer"));
    m_viewerToken = m_server->token(QStringLiteral("8"), QStringLiteral("bob"));
}

void TstTransport::init()
{
    m_received.clear();
    m_video = lctest::createVideo(m_server->baseUrl(), m_streamerToken, QStringLiteral("suite"));
    QVERIFY(m_video > 0);
}

void TstTransport::cleanup() { }

std::unique_ptr<Transport> TstTransport::make(const QUrl& server)
{
    QFETCH(Transport::Kind, kind);
    auto t = Transport::create(kind);
    if (t->kind() != kind)
        return nullptr;
    t->setServer(server);
    t->setToken(m_viewerToken.toUtf8());
    return t;
}

void TstTransport::collect(Transport* t)
{
    connect(t, &Transport::commentReceived, this,
        [this](const Comment& c) { m_received.append(c.id); });
}

void TstTransport::liveCommentsArriveInOrder()
{
    auto t = make(m_server->baseUrl());
    QVERIFY(t);
    collect(t.get());
    QSignalSpy hello(t.get(), &Transport::hello);
    t->subscribe(m_video);
    QVERIFY(hello.wait(10000));
    QCOMPARE(t->state(), Transport::State::Live);
    QList<quint64> posted;
    for (int i = 0; i < 5; ++i) {
        const auto r = lctest::postComment(
            m_server->baseUrl(), m_streamerToken, m_video, QStringLiteral("live %1").arg(i));
        QCOMPARE(r.status, 201);
        posted.append(Comment::parseId(r.json().value(QStringLiteral("id")).toString()));
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_received, posted, 10000);
    QCOMPARE(t->lastEventId(), QString::number(posted.last()));
}

void TstTransport::videoAndHistoryPages()
{
    auto t = make(m_server->baseUrl());
    QVERIFY(t);
    QList<quint64> posted;
    for (int i = 0; i < 5; ++i) {
        const auto r = lctest::postComment(
            m_server->baseUrl(), m_streamerToken, m_video, QStringLiteral("old %1").arg(i));
        QCOMPARE(r.status, 201);
        posted.append(Comment::parseId(r.json().value(QStringLiteral("id")).toString()));
    }
    bool videoDone = false;
    Video video;
    t->fetchVideo(m_video, this, [&](const Result<Video>& v) {
        QVERIFY(v);
        video = *v;
        videoDone = true;
    });
    QTRY_VERIFY_WITH_TIMEOUT(videoDone, 10000);
    QCOMPARE(video.id, m_video);
    QCOMPARE(video.title, std::string("suite"));
    QCOMPARE(video.status, std::string("live"));

    QList<HistoryPage> pages;
    auto fetch = [&](const QString& before) {
        t->fetchHistory(m_video, before, 3, this, [&](const Result<HistoryPage>& p) {
            QVERIFY(p);
            pages.append(*p);
        });
    };
    fetch({});
    QTRY_COMPARE_WITH_TIMEOUT(pages.size(), 1, 10000);
    QCOMPARE(pages[0].comments.size(), 3);
    QCOMPARE(pages[0].comments[0].id, posted[4]); // newest first
    QCOMPARE(pages[0].comments[2].id, posted[2]);
    QVERIFY(pages[0].nextCursor.has_value());
    fetch(QString::number(pages[0].comments.back().id));
    QTRY_COMPARE_WITH_TIMEOUT(pages.size(), 2, 10000);
    QCOMPARE(pages[1].comments.size(), 2);
    QCOMPARE(pages[1].comments[0].id, posted[1]);
    QCOMPARE(pages[1].comments[1].id, posted[0]);
    QCOMPARE(pages[1].comments[1].text, std::string("old 0"));
}

void TstTransport::postIsSentOnceAndStreamed()
{
    auto t = make(m_server->baseUrl());
    QVERIFY(t);
    collect(t.get());
    QSignalSpy hello(t.get(), &Transport::hello);
    t->subscribe(m_video);
    QVERIFY(hello.wait(10000));
    QList<OutboxEntry> updates;
    const QString key = t->post(m_video, QStringLiteral("  from the transport  "), this,
        [&updates](const OutboxEntry& u) { updates.append(u); });
    QVERIFY(!key.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(!updates.isEmpty() && updates.last().state == PostState::Sent, 10000);
    QCOMPARE(QString::fromStdString(updates.last().key), key);
    QVERIFY(updates.last().comment.has_value());
    const quint64 id = updates.last().comment->id;
    QCOMPARE(updates.last().comment->user.name, std::string("bob"));
    QTRY_VERIFY_WITH_TIMEOUT(m_received.contains(id), 10000);
    QCOMPARE(m_received.count(id), 1);

    // 429-free server: an empty text is rejected for good, not retried.
    updates.clear();
    t->post(m_video, QStringLiteral("   "), this,
        [&updates](const OutboxEntry& u) { updates.append(u); });
    QTRY_VERIFY_WITH_TIMEOUT(
        !updates.isEmpty() && updates.last().state == PostState::Failed, 10000);
    QVERIFY(updates.last().error.has_value());
    QVERIFY(!updates.last().error->isRecoverable());
}

void TstTransport::streamCutResumesWithoutLossOrDuplicates()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto t = make(proxy.baseUrl());
    QVERIFY(t);
    collect(t.get());
    QList<Transport::State> states;
    connect(t.get(), &Transport::stateChanged, this, [&] { states.append(t->state()); });
    QSignalSpy hello(t.get(), &Transport::hello);
    t->subscribe(m_video);
    QVERIFY(hello.wait(10000));
    QList<quint64> posted;
    auto postOne = [&](int i) {
        const auto r = lctest::postComment(
            m_server->baseUrl(), m_streamerToken, m_video, QStringLiteral("cut %1").arg(i));
        QCOMPARE(r.status, 201);
        posted.append(Comment::parseId(r.json().value(QStringLiteral("id")).toString()));
    };
    for (int i = 0; i < 3; ++i)
        postOne(i);
    QTRY_COMPARE_WITH_TIMEOUT(m_received, posted, 10000);

    // Cut the stream, keep new connections refused for a moment, post while it is down.
    proxy.setRefusing(true);
    proxy.cutAll();
    QTRY_VERIFY_WITH_TIMEOUT(t->state() == Transport::State::Reconnecting, 10000);
    for (int i = 3; i < 6; ++i)
        postOne(i);
    proxy.setRefusing(false);
    t->reconnectNow(); // as on a reachability change: no need to wait out the backoff
    QTRY_COMPARE_WITH_TIMEOUT(m_received, posted, 20000); // resumed via Last-Event-ID, no dupes
    QVERIFY(states.contains(Transport::State::Reconnecting));
    QCOMPARE(t->state(), Transport::State::Live);
    QVERIFY(proxy.acceptedConnections() >= 2);
}

void TstTransport::endedVideoClosesInsteadOfReconnecting()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto t = make(proxy.baseUrl());
    QVERIFY(t);
    QSignalSpy hello(t.get(), &Transport::hello);
    QSignalSpy ended(t.get(), &Transport::videoEnded);
    QSignalSpy errors(t.get(), &Transport::streamError);
    t->subscribe(m_video);
    QVERIFY(hello.wait(10000));
    QVERIFY(!t->ended());

    const auto end = lctest::http("POST",
        lctest::endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/end").arg(m_video)), {},
        lctest::bearer(m_streamerToken));
    QCOMPARE(end.status, 200);
    // Not ended.wait(): http() runs a local event loop that may already deliver the event.
    QTRY_COMPARE_WITH_TIMEOUT(ended.count(), 1, 10000);
    QVERIFY(t->ended());
    QCOMPARE(t->state(), Transport::State::Live); // the server keeps the stream open

    const int connections = t->connectionCount();
    const int accepted = proxy.acceptedConnections();
    proxy.cutAll();
    QTRY_COMPARE_WITH_TIMEOUT(t->state(), Transport::State::Closed, 10000);
    QCOMPARE(t->connectionCount(), connections);
    QCOMPARE(proxy.acceptedConnections(), accepted);
    QCOMPARE(errors.count(), 0); // an ended video's stream closing is not an error
    QCOMPARE(ended.count(), 1);

    // A new subscription starts with ended() false again.
    t->subscribe(m_video);
    QVERIFY(!t->ended());
    t->unsubscribe();
}

void TstTransport::stalledStreamIsDetectedByWatchdog()
{
    // The server sends `: hb` every 1000 ms (initTestCase); a proxy that stops forwarding while
    // keeping the socket open looks alive to TCP. The watchdog (2.5 heartbeats) must notice.
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto t = make(proxy.baseUrl());
    QVERIFY(t);
    collect(t.get());
    QSignalSpy hello(t.get(), &Transport::hello);
    t->subscribe(m_video);
    QVERIFY(hello.wait(10000));
    QCOMPARE(hello.last().at(1).toInt(), 1000); // heartbeat_ms from the server
    proxy.setStalled(true);
    QTRY_VERIFY_WITH_TIMEOUT(
        t->state() == Transport::State::Reconnecting || t->state() == Transport::State::Connecting,
        10000);
    proxy.setStalled(false);
    t->reconnectNow();
    QTRY_COMPARE_WITH_TIMEOUT(t->state(), Transport::State::Live, 20000);
    QVERIFY(hello.count() >= 2);
    const auto r = lctest::postComment(
        m_server->baseUrl(), m_streamerToken, m_video, QStringLiteral("after"));
    QCOMPARE(r.status, 201);
    const quint64 id = Comment::parseId(r.json().value(QStringLiteral("id")).toString());
    QTRY_VERIFY_WITH_TIMEOUT(m_received.contains(id), 10000);
}

void TstTransport::serviceUnavailableIsRetried()
{
    // 503 (and 429) are load shedding: retried with backoff, unlike 401/403/404.
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    proxy.setHttpError(503, "Retry-After: 1\r\n");
    auto t = make(proxy.baseUrl());
    QVERIFY(t);
    QSignalSpy errors(t.get(), &Transport::streamError);
    t->subscribe(m_video);
    QTRY_COMPARE_WITH_TIMEOUT(t->state(), Transport::State::Reconnecting, 10000);
    QVERIFY(!errors.isEmpty());
    QCOMPARE(errors.first().at(2).toBool(), false); // not fatal
    proxy.setHttpError(0);
    QTRY_COMPARE_WITH_TIMEOUT(t->state(), Transport::State::Live, 20000);
    QVERIFY(proxy.acceptedConnections() >= 2);
}

void TstTransport::notFoundIsFatal()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto t = make(proxy.baseUrl());
    QVERIFY(t);
    QSignalSpy errors(t.get(), &Transport::streamError);
    t->subscribe(987654);
    QTRY_COMPARE_WITH_TIMEOUT(t->state(), Transport::State::Closed, 10000);
    QVERIFY(!errors.isEmpty());
    QCOMPARE(errors.last().at(2).toBool(), true); // fatal
    QCOMPARE(errors.last().at(0).toInt(), 404);
    const int accepted = proxy.acceptedConnections();
    // A reconnect would come within the backoff's first delay (<= 1 s): none may come.
    QTest::qWait(1500);
    QCOMPARE(proxy.acceptedConnections(), accepted);
    QCOMPARE(t->state(), Transport::State::Closed);
}

void TstTransport::unsubscribeDoesNotReconnect()
{
    lctest::FaultProxy proxy(m_server->port());
    QVERIFY(proxy.start());
    auto t = make(proxy.baseUrl());
    QVERIFY(t);
    QSignalSpy hello(t.get(), &Transport::hello);
    t->subscribe(m_video);
    QVERIFY(hello.wait(10000));
    const int hellos = hello.count();
    t->unsubscribe();
    QCOMPARE(t->state(), Transport::State::Idle);
    // The negative check: no new stream (a new stream starts with `hello`) after an intentional
    // close. (Connections may still be made: core closes the subscription server-side.)
    QTest::qWait(1500);
    QCOMPARE(hello.count(), hellos);
    QCOMPARE(t->state(), Transport::State::Idle);
}

QTEST_GUILESS_MAIN(TstTransport)
#include "tst_transport.moc"
