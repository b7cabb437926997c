// SPDX-License-Identifier: MIT
// The Redis cluster bus (server/src/bus) against a real, throwaway redis-server: sharded pub/sub
// delivery between two bus instances (= two nodes), reconnects after Redis is killed, node-id
// leases, cluster viewer counts, URL parsing and the startup error. See docs/operations.md
// "Cluster".
#include "bus/node_id_lease.h"
#include "bus/redis_bus.h"
#include "bus/viewer_counts.h"
#include "redis_process.h"

#include <QElapsedTimer>
#include <QTcpServer>
#include <QtTest>

#include <memory>
#include <mutex>
#include <set>
#include <thread>

using namespace livecomments::server::bus;
using lctest::RedisProcess;
using namespace std::chrono_literals;

namespace {

/// Events a bus handed to its handler (the handler runs on the bus' subscriber thread).
class Inbox {
public:
    void add(const BusEvent& event)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_events.push_back(event);
    }
    std::vector<BusEvent> events() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_events;
    }
    int count() const { return int(events().size()); }
    /// Comment ids received for one video, in arrival order.
    QList<quint64> ids(std::uint32_t videoId) const
    {
        QList<quint64> out;
        for (const auto& event : events())
            if (event.videoId == videoId)
                out.append(event.commentId);
        return out;
    }

private:
    mutable std::mutex m_mutex;
    std::vector<BusEvent> m_events;
};

/// The reconnected handler's calls.
class ReconnectLog {
public:
    void add(const std::vector<std::uint32_t>& videos)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_calls.push_back(videos);
    }
    std::vector<std::vector<std::uint32_t>> calls() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_calls;
    }

private:
    mutable std::mutex m_mutex;
    std::vector<std::vector<std::uint32_t>> m_calls;
};

BusEvent comment(std::uint32_t videoId, std::uint64_t id)
{
    BusEvent event;
    event.type = BusEvent::Type::Comment;
    event.videoId = videoId;
    event.commentId = id;
    event.json = QStringLiteral(R"({"id":"%1","text":"line one\nline two"})").arg(id).toStdString();
    return event;
}

RedisBusOptions busOptions(const RedisProcess& redis, std::uint32_t nodeId)
{
    RedisBusOptions options;
    options.endpoint = parseRedisUrl(redis.url().toStdString());
    options.nodeId = nodeId;
    options.ioTimeout = 500ms;
    options.heartbeat = 200ms;
    options.reconnectBase = 50ms;
    options.reconnectCap = 500ms;
    options.publishRetryWindow = 2000ms;
    return options;
}

NodeIdLeaseOptions leaseOptions(const RedisProcess& redis, std::optional<std::uint32_t> id = {},
    std::chrono::milliseconds ttl = 10000ms, std::chrono::milliseconds renewEvery = 3000ms)
{
    NodeIdLeaseOptions options;
    options.endpoint = parseRedisUrl(redis.url().toStdString());
    options.explicitId = id;
    options.ttl = ttl;
    options.renewEvery = renewEvery;
    return options;
}

ViewerCountsOptions countOptions(const RedisProcess& redis, std::uint32_t nodeId)
{
    ViewerCountsOptions options;
    options.endpoint = parseRedisUrl(redis.url().toStdString());
    options.nodeId = nodeId;
    options.ttl = 1500ms;
    options.refreshEvery = 200ms;
    options.flushDelay = 50ms;
    return options;
}

/// PUBSUB SHARDNUMSUB <channel of videoId>: how many connections are subscribed (-1 on error).
qint64 shardSubscribers(const RedisProcess& redis, std::uint32_t videoId)
{
    QString error;
    const auto reply = redis.command({ QStringLiteral("PUBSUB"), QStringLiteral("SHARDNUMSUB"),
                                         QString::fromStdString(RedisBus::channelName(videoId)) },
        &error);
    const auto list = reply.toList();
    if (!error.isEmpty() || list.size() != 2)
        return -1;
    return list.at(1).toLongLong();
}

quint16 closedPort()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    return probe.serverPort(); // closed again when probe goes out of scope
}

QString exceptionText(const std::function<void()>& action)
{
    try {
        action();
    } catch (const std::exception& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

} // namespace

class TstRedisBus : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void parsesUrls();
    // NOLINTNEXTLINE(readability-identifier-naming): Qt Test requires the _data suffix
    void rejectsMalformedUrls_data();
    void rejectsMalformedUrls();
    void encodesEvents();
    void unreachableAtStartFailsWithinDeadline();
    void deliversOnlyWhileInterested();
    void reconnectsAfterRedisRestart();
    void detectsHungRedis();
    void authenticatesWithPassword();
    void leasesDistinctNodeIds();
    void leasesRaceForTheLastFreeIds();
    void rejectsDuplicateExplicitNodeId();
    void leaseExpiresWhenHolderDies();
    void leaseLossIsReported();
    void sumsViewerCountsOverLiveNodes();

private:
    std::unique_ptr<RedisProcess> m_redis;
};

void TstRedisBus::initTestCase()
{
    QVERIFY2(!RedisProcess::binary().isEmpty(), "redis-server is required (set LC_REDIS_SERVER)");
    m_redis = std::make_unique<RedisProcess>();
    QVERIFY(m_redis->start());
}

void TstRedisBus::parsesUrls()
{
    auto endpoint = parseRedisUrl("redis://127.0.0.1:7001");
    QCOMPARE(QString::fromStdString(endpoint.host), QStringLiteral("127.0.0.1"));
    QCOMPARE(endpoint.port, 7001);
    QVERIFY(endpoint.password.empty());

    endpoint = parseRedisUrl("redis://:s3cr%40t@redis.internal:6380/");
    QCOMPARE(QString::fromStdString(endpoint.host), QStringLiteral("redis.internal"));
    QCOMPARE(endpoint.port, 6380);
    QCOMPARE(QString::fromStdString(endpoint.password), QStringLiteral("s3cr@t"));
    QVERIFY(endpoint.user.empty());

    endpoint = parseRedisUrl("redis://app:pw@[::1]:6390");
    QCOMPARE(QString::fromStdString(endpoint.host), QStringLiteral("::1"));
    QCOMPARE(endpoint.port, 6390);
    QCOMPARE(QString::fromStdString(endpoint.user), QStringLiteral("app"));
    QCOMPARE(QString::fromStdString(endpoint.display()), QStringLiteral("[::1]:6390"));

    QCOMPARE(parseRedisUrl("redis://cache").port, 6379);
}

void TstRedisBus::rejectsMalformedUrls_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("why");
    QTest::newRow("no scheme") << "127.0.0.1:6379"
                               << "scheme";
    QTest::newRow("http") << "http://127.0.0.1:6379"
                          << "scheme";
    QTest::newRow("empty host") << "redis://:6379"
                                << "host is empty";
    QTest::newRow("port text") << "redis://host:abc"
                               << "not a number";
    QTest::newRow("port zero") << "redis://host:0"
                               << "out of range";
    QTest::newRow("port big") << "redis://host:65536"
                              << "out of range";
    QTest::newRow("empty port") << "redis://host:"
                                << "port is empty";
    QTest::newRow("user only") << "redis://user@host"
                               << "user info";
    QTest::newRow("empty password") << "redis://:@host"
                                    << "password is empty";
    QTest::newRow("path") << "redis://host:6379/0/x"
                          << "path";
    QTest::newRow("bad ipv6") << "redis://[::1"
                              << "IPv6";
    QTest::newRow("bad escape") << "redis://:pw%zz@host"
                                << "escape";
}

void TstRedisBus::rejectsMalformedUrls()
{
    QFETCH(QString, url);
    QFETCH(QString, why);
    const QString message = exceptionText([&] { parseRedisUrl(url.toStdString()); });
    QVERIFY2(message.contains(QStringLiteral("malformed Redis URL")), qPrintable(message));
    QVERIFY2(message.contains(why), qPrintable(message));
    // The password never appears in the message.
    QVERIFY2(!message.contains(QStringLiteral("pw%zz")), qPrintable(message));
}

void TstRedisBus::encodesEvents()
{
    BusEvent event = comment(42, 123456789012345ULL);
    event.type = BusEvent::Type::Deleted;
    const std::string wire = RedisBus::encode(event, 77);
    BusEvent back;
    std::uint32_t origin = 0;
    QVERIFY(RedisBus::decode(wire, back, origin));
    QCOMPARE(origin, 77u);
    QVERIFY(back.type == BusEvent::Type::Deleted);
    QCOMPARE(back.videoId, 42u);
    QCOMPARE(back.commentId, 123456789012345ULL);
    QCOMPARE(QString::fromStdString(back.json), QString::fromStdString(event.json));

    // A comment carries its chain link (docs/protocol.md "Order across nodes") …
    event = comment(42, 123456789012345ULL);
    event.prevId = 123456789000000ULL;
    QVERIFY(RedisBus::decode(RedisBus::encode(event, 3), back, origin));
    QVERIFY(back.type == BusEvent::Type::Comment);
    QVERIFY(back.chained);
    QCOMPARE(back.prevId, 123456789000000ULL);
    QCOMPARE(back.commentId, 123456789012345ULL);
    // … or none, outside the chain.
    event.chained = false;
    QVERIFY(RedisBus::decode(RedisBus::encode(event, 3), back, origin));
    QVERIFY(!back.chained);
    QCOMPARE(back.prevId, 0ULL);
    // The previous version's events (a rolling upgrade) are read as unchained.
    QVERIFY(RedisBus::decode("lc1 1 c 2 3\n{}", back, origin));
    QVERIFY(!back.chained);
    QCOMPARE(back.commentId, 3ULL);

    for (const char* bad : { "", "lc2 1 c 2 3 0", "lc2 1 c 2 3\n{}", "lc2 1 x 2 3 0\n{}",
             "lc2 1 c 99999999999 3 0\n{}", "lc2 1 c 2 3 4 5\n{}", "lc2 a c 2 3 0\n{}",
             "lc2 1 c 2 3 x\n{}", "lc2 1 c 2 3 -1\n{}", "lc2 1 c 2 3 1x\n{}", "lc1 1 c 2 3 4\n{}",
             "lc3 1 c 2 3 0\n{}" })
        QVERIFY2(!RedisBus::decode(bad, back, origin), bad);
    QCOMPARE(QString::fromStdString(RedisBus::channelName(42)), QStringLiteral("lc:{video:42}"));
}

void TstRedisBus::unreachableAtStartFailsWithinDeadline()
{
    const quint16 port = closedPort();
    RedisBusOptions options;
    options.endpoint
        = parseRedisUrl(QStringLiteral("redis://127.0.0.1:%1").arg(port).toStdString());
    options.startup.attempts = 1000;
    options.startup.deadline = 1500ms;
    QElapsedTimer timer;
    timer.start();
    QString message = exceptionText([&] { RedisBus bus(options); });
    const auto elapsed = timer.elapsed();
    QVERIFY2(message.contains(QStringLiteral("cannot reach Redis at 127.0.0.1:%1").arg(port)),
        qPrintable(message));
    QVERIFY2(elapsed < 1500 + 1000, qPrintable(QString::number(elapsed)));
    QVERIFY2(elapsed >= 500, "the startup retry gave up without retrying");

    // The attempt limit applies too.
    options.startup.attempts = 3;
    options.startup.deadline = 60000ms;
    NodeIdLeaseOptions lease;
    lease.endpoint = options.endpoint;
    lease.startup = options.startup;
    message = exceptionText([&] { NodeIdLease unreachable(lease); });
    QVERIFY2(message.contains(QStringLiteral("after 3 attempt(s)")), qPrintable(message));
}

void TstRedisBus::deliversOnlyWhileInterested()
{
    constexpr std::uint32_t kVideo = 7;
    constexpr std::uint32_t kSentinel = 8;
    Inbox inboxA;
    Inbox inboxB;
    RedisBus busA(busOptions(*m_redis, 1));
    RedisBus busB(busOptions(*m_redis, 2));
    busA.setHandler([&](const BusEvent& e) { inboxA.add(e); });
    busB.setHandler([&](const BusEvent& e) { inboxB.add(e); });
    QVERIFY(busA.healthy());
    QCOMPARE(shardSubscribers(*m_redis, kVideo), 0);

    // B only listens to the sentinel video: an event for kVideo must not reach it. Redis keeps
    // the order of one publisher's messages on one subscriber connection, so once the sentinel
    // arrives an earlier kVideo event would have arrived too.
    busB.setInterest(kSentinel, true);
    QTRY_COMPARE(shardSubscribers(*m_redis, kSentinel), 1);
    busA.publish(comment(kVideo, 1));
    busA.publish(comment(kSentinel, 2));
    QTRY_COMPARE(inboxB.ids(kSentinel), QList<quint64>({ 2 }));
    QCOMPARE(inboxB.ids(kVideo), QList<quint64>());

    // With interest: every event, in order.
    busA.setInterest(kVideo, true);
    busB.setInterest(kVideo, true);
    QTRY_COMPARE(shardSubscribers(*m_redis, kVideo), 2);
    QList<quint64> expected;
    for (quint64 id = 100; id < 400; ++id) {
        busA.publish(comment(kVideo, id));
        expected.append(id);
    }
    QTRY_COMPARE(inboxB.ids(kVideo), expected);
    const auto received = inboxB.events();
    QCOMPARE(QString::fromStdString(received.back().json),
        QString::fromStdString(comment(kVideo, 399).json));

    // No self-delivery: A is subscribed to kVideo but gets only B's event, not its own 300.
    busB.publish(comment(kVideo, 1000));
    QTRY_COMPARE(inboxA.ids(kVideo), QList<quint64>({ 1000 }));
    QTRY_COMPARE(busA.messagesOut(), 302u);
    QCOMPARE(busB.messagesIn(), 301u);
    QCOMPARE(busA.messagesIn(), 1u);
    QCOMPARE(busA.publishFailures(), 0u);

    // Interest gone: unsubscribed on the Redis side and no more deliveries.
    busB.setInterest(kVideo, false);
    QTRY_COMPARE(shardSubscribers(*m_redis, kVideo), 1);
    busA.setInterest(kVideo, false);
    QTRY_COMPARE(shardSubscribers(*m_redis, kVideo), 0);
    busA.publish(comment(kVideo, 2000));
    busA.publish(comment(kSentinel, 2001));
    QTRY_COMPARE(inboxB.ids(kSentinel), QList<quint64>({ 2, 2001 }));
    QCOMPARE(inboxB.ids(kVideo), expected);
    QCOMPARE(busB.interests(), std::vector<std::uint32_t>({ kSentinel }));
}

void TstRedisBus::reconnectsAfterRedisRestart()
{
    RedisProcess redis;
    QVERIFY(redis.start());
    Inbox inboxA;
    Inbox inboxB;
    ReconnectLog logA;
    ReconnectLog logB;
    auto optionsA = busOptions(redis, 1);
    optionsA.publishRetryWindow = 300ms;
    RedisBus busA(optionsA);
    RedisBus busB(busOptions(redis, 2));
    busA.setHandler([&](const BusEvent& e) { inboxA.add(e); });
    busB.setHandler([&](const BusEvent& e) { inboxB.add(e); });
    busA.setReconnectedHandler([&](const std::vector<std::uint32_t>& v) { logA.add(v); });
    busB.setReconnectedHandler([&](const std::vector<std::uint32_t>& v) { logB.add(v); });
    busA.setInterest(3, true);
    busB.setInterest(3, true);
    busB.setInterest(4, true);
    QTRY_COMPARE(shardSubscribers(redis, 3), 2);
    QTRY_COMPARE(shardSubscribers(redis, 4), 1);
    busA.publish(comment(4, 1));
    QTRY_COMPARE(inboxB.ids(4), QList<quint64>({ 1 }));

    redis.kill9();
    QTRY_VERIFY_WITH_TIMEOUT(!busA.healthy() && !busB.healthy(), 5000);
    QVERIFY(busA.degraded());

    // Publishing while Redis is down returns at once; the events are dropped (and counted) when
    // their retry window ends.
    QElapsedTimer timer;
    timer.start();
    for (quint64 id = 10; id < 1010; ++id)
        busA.publish(comment(4, id));
    QVERIFY2(timer.elapsed() < 500, qPrintable(QString::number(timer.elapsed())));
    QTRY_COMPARE_WITH_TIMEOUT(busA.publishFailures(), 1000u, 5000);
    // Interest changed while down is applied on the reconnect.
    busB.setInterest(5, true);

    QVERIFY(redis.restart());
    QTRY_VERIFY_WITH_TIMEOUT(busA.healthy() && busB.healthy(), 10000);
    QTRY_COMPARE(logA.calls().size(), std::size_t(1));
    QTRY_COMPARE(logB.calls().size(), std::size_t(1));
    QCOMPARE(logA.calls().front(), std::vector<std::uint32_t>({ 3 }));
    QCOMPARE(logB.calls().front(), std::vector<std::uint32_t>({ 3, 4, 5 }));
    QCOMPARE(busA.reconnects(), 1u);
    QCOMPARE(busB.reconnects(), 1u);
    QTRY_COMPARE(shardSubscribers(redis, 3), 2);
    QTRY_COMPARE(shardSubscribers(redis, 4), 1);
    QTRY_COMPARE(shardSubscribers(redis, 5), 1);

    // Publishing works again, both ways.
    busA.publish(comment(5, 2));
    busB.publish(comment(3, 3));
    QTRY_COMPARE(inboxB.ids(5), QList<quint64>({ 2 }));
    QTRY_COMPARE(inboxA.ids(3), QList<quint64>({ 3 }));
    QCOMPARE(inboxB.ids(4), QList<quint64>({ 1 })); // the dropped events never arrived

    // stop() ends both threads even while Redis is away.
    redis.kill9();
    QTRY_VERIFY_WITH_TIMEOUT(!busA.healthy(), 5000);
    timer.restart();
    busA.stop();
    QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
}

void TstRedisBus::detectsHungRedis()
{
    // SIGSTOP keeps every TCP connection open and silent: only the PING heartbeat notices.
    RedisProcess redis;
    QVERIFY(redis.start());
    Inbox inboxB;
    ReconnectLog logB;
    auto optionsA = busOptions(redis, 1);
    optionsA.publishRetryWindow = 30000ms; // the event below must survive the whole hang
    RedisBus busA(optionsA);
    RedisBus busB(busOptions(redis, 2));
    busB.setHandler([&](const BusEvent& e) { inboxB.add(e); });
    busB.setReconnectedHandler([&](const std::vector<std::uint32_t>& v) { logB.add(v); });
    busB.setInterest(21, true);
    QTRY_COMPARE(shardSubscribers(redis, 21), 1);

    redis.pause();
    QTRY_VERIFY_WITH_TIMEOUT(!busA.healthy() && !busB.healthy(), 5000);
    QElapsedTimer timer;
    timer.start();
    busA.publish(comment(21, 5)); // still queued when Redis resumes (within the retry window)
    QVERIFY2(timer.elapsed() < 100, qPrintable(QString::number(timer.elapsed())));
    // Reconnects to the hung server complete the TCP handshake but get no PONG: still unhealthy.
    QTest::qWait(1000);
    QVERIFY(!busB.healthy());
    QCOMPARE(logB.calls().size(), std::size_t(0));

    redis.resume();
    QTRY_VERIFY_WITH_TIMEOUT(busA.healthy() && busB.healthy(), 10000);
    QTRY_COMPARE(logB.calls().size(), std::size_t(1));
    QCOMPARE(logB.calls().front(), std::vector<std::uint32_t>({ 21 }));
    // The queued event is sent once A is back. B may or may not get it: A can reconnect before B
    // has re-subscribed, which is the gap B's reconnected handler fills from the store.
    QTRY_COMPARE(busA.messagesOut(), 1u);
    QTRY_COMPARE(shardSubscribers(redis, 21), 1);
    busA.publish(comment(21, 6));
    QTRY_VERIFY(inboxB.ids(21).contains(6));
    QCOMPARE(busA.publishFailures(), 0u);
}

void TstRedisBus::authenticatesWithPassword()
{
    RedisProcess redis(QStringLiteral("pa55word"));
    QVERIFY(redis.start());
    RedisBusOptions options = busOptions(redis, 9);
    RedisBus bus(options);
    bus.setInterest(11, true);
    QTRY_COMPARE(shardSubscribers(redis, 11), 1);

    options.endpoint.password = "wrong";
    options.startup.attempts = 1;
    const QString message = exceptionText([&] { RedisBus rejected(options); });
    QVERIFY2(message.contains(QStringLiteral("rejected AUTH")), qPrintable(message));
    QVERIFY2(!message.contains(QStringLiteral("wrong")), qPrintable(message));
}

void TstRedisBus::leasesDistinctNodeIds()
{
    std::vector<std::unique_ptr<NodeIdLease>> leases;
    std::set<std::uint32_t> ids;
    for (int i = 0; i < 20; ++i) {
        leases.push_back(std::make_unique<NodeIdLease>(leaseOptions(*m_redis)));
        QVERIFY(leases.back()->valid());
        QVERIFY(leases.back()->nodeId() < NodeIdLease::kMaxNodeIds);
        ids.insert(leases.back()->nodeId());
    }
    QCOMPARE(ids.size(), std::size_t(20));
    // Each id is a key holding a token; release() deletes it.
    const QString key = QString::fromStdString(NodeIdLease::keyFor(leases.front()->nodeId()));
    QVERIFY(m_redis->command({ QStringLiteral("GET"), key }).isValid());
    leases.front()->release();
    QVERIFY(!leases.front()->valid());
    QVERIFY(!m_redis->command({ QStringLiteral("GET"), key }).isValid());
}

void TstRedisBus::leasesRaceForTheLastFreeIds()
{
    // All ids but four are held by "other nodes"; six leases start at once: exactly four succeed,
    // each with a different one of the free ids, and the rest fail with a clear error.
    RedisProcess redis;
    QVERIFY(redis.start());
    const std::set<std::uint32_t> freeIds { 3, 400, 401, 1023 };
    QStringList mset { QStringLiteral("MSET") };
    for (std::uint32_t id = 0; id < NodeIdLease::kMaxNodeIds; ++id) {
        if (freeIds.count(id) == 0)
            mset << QString::fromStdString(NodeIdLease::keyFor(id)) << QStringLiteral("other");
    }
    QString error;
    QCOMPARE(redis.command(mset, &error).toByteArray(), QByteArray("OK"));

    constexpr int kContenders = 6;
    std::vector<std::unique_ptr<NodeIdLease>> leases(kContenders);
    std::vector<std::string> errors(kContenders);
    std::vector<std::thread> threads;
    threads.reserve(kContenders);
    const auto options = leaseOptions(redis);
    for (int i = 0; i < kContenders; ++i) {
        threads.emplace_back([&, i] {
            try {
                leases[i] = std::make_unique<NodeIdLease>(options);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    std::set<std::uint32_t> got;
    int failures = 0;
    for (int i = 0; i < kContenders; ++i) {
        if (leases[i]) {
            got.insert(leases[i]->nodeId());
        } else {
            ++failures;
            QVERIFY2(errors[i].find("no free node id") != std::string::npos, errors[i].c_str());
        }
    }
    QCOMPARE(got, freeIds);
    QCOMPARE(failures, kContenders - int(freeIds.size()));
}

void TstRedisBus::rejectsDuplicateExplicitNodeId()
{
    auto options = leaseOptions(*m_redis, 517u);
    NodeIdLease first(options);
    QCOMPARE(first.nodeId(), 517u);
    const QString message = exceptionText([&] { NodeIdLease second(options); });
    QVERIFY2(
        message.contains(QStringLiteral("node id 517 is already in use")), qPrintable(message));
    // A leased (non-explicit) id never collides with it either.
    options.explicitId.reset();
    NodeIdLease other(options);
    QVERIFY(other.nodeId() != 517u);

    options.explicitId = 1024u;
    const QString range = exceptionText([&] { NodeIdLease bad(options); });
    QVERIFY2(range.contains(QStringLiteral("out of range")), qPrintable(range));
}

void TstRedisBus::leaseExpiresWhenHolderDies()
{
    const auto options = leaseOptions(*m_redis, 600u, 1500ms, 200ms);
    auto holder = std::make_unique<NodeIdLease>(options);
    const QString key = QString::fromStdString(NodeIdLease::keyFor(600));
    // Renewal keeps the key alive well past its ttl (a stretch of time is the point here, so this
    // checks the key throughout two ttls rather than waiting for a condition).
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 3000) {
        QVERIFY(m_redis->command({ QStringLiteral("GET"), key }).isValid());
        QTest::qWait(100);
    }
    QVERIFY(!exceptionText([&] { NodeIdLease duplicate(options); }).isEmpty());

    holder->abandon(); // the holder "crashes": no renewal, no DEL
    QVERIFY(m_redis->command({ QStringLiteral("GET"), key }).isValid());
    QTRY_VERIFY_WITH_TIMEOUT(!m_redis->command({ QStringLiteral("GET"), key }).isValid(), 6000);
    NodeIdLease successor(options);
    QCOMPARE(successor.nodeId(), 600u);
}

void TstRedisBus::leaseLossIsReported()
{
    const auto options = leaseOptions(*m_redis, 700u, 5000ms, 100ms);
    NodeIdLease lease(options);
    std::atomic<int> lost { -1 };
    lease.setLostHandler([&](std::uint32_t id) { lost = int(id); });
    // Someone else's token in the key (e.g. it expired during a partition and was re-taken).
    m_redis->command({ QStringLiteral("SET"), QString::fromStdString(NodeIdLease::keyFor(700)),
        QStringLiteral("someone-else") });
    QTRY_COMPARE(lost.load(), 700);
    QVERIFY(!lease.valid());
    lease.release(); // must not delete the other holder's key
    QCOMPARE(
        m_redis->command(
                   { QStringLiteral("GET"), QString::fromStdString(NodeIdLease::keyFor(700)) })
            .toByteArray(),
        QByteArray("someone-else"));
}

void TstRedisBus::sumsViewerCountsOverLiveNodes()
{
    ViewerCounts nodeA(countOptions(*m_redis, 1));
    auto nodeB = std::make_unique<ViewerCounts>(countOptions(*m_redis, 2));
    QCOMPARE(nodeA.clusterCount(5), std::optional<std::uint64_t>(0));

    nodeA.setLocalCount(5, 3);
    nodeB->setLocalCount(5, 4);
    nodeB->setLocalCount(6, 10);
    QTRY_COMPARE(nodeA.clusterCount(5), std::optional<std::uint64_t>(7));
    const auto batch = nodeB->clusterCounts({ 5, 6, 9 });
    QVERIFY(batch.has_value());
    QCOMPARE(batch->at(5), 7u);
    QCOMPARE(batch->at(6), 10u);
    QCOMPARE(batch->at(9), 0u);

    // Counts outlive their ttl while their node refreshes them (elapsed time is the point here).
    QTest::qWait(3000);
    QCOMPARE(nodeA.clusterCount(5), std::optional<std::uint64_t>(7));

    // A node that dies stops refreshing; its count disappears after the ttl.
    nodeB->abandon();
    QTRY_COMPARE_WITH_TIMEOUT(nodeA.clusterCount(5), std::optional<std::uint64_t>(3), 6000);
    QTRY_COMPARE(nodeA.clusterCount(6), std::optional<std::uint64_t>(0));
    // ... and the dead node's id leaves the video's set.
    QTRY_COMPARE(m_redis
                     ->command({ QStringLiteral("SCARD"),
                         QString::fromStdString(ViewerCounts::nodesKey(5)) })
                     .toLongLong(),
        1);

    // Zero removes this node's entry at once; release() removes the rest.
    nodeA.setLocalCount(5, 0);
    QTRY_COMPARE(nodeA.clusterCount(5), std::optional<std::uint64_t>(0));
    nodeA.setLocalCount(12, 2);
    QVERIFY(nodeA.flush());
    QCOMPARE(nodeA.clusterCount(12), std::optional<std::uint64_t>(2));
    nodeA.release();
    QVERIFY(!m_redis
                 ->command({ QStringLiteral("GET"),
                     QString::fromStdString(ViewerCounts::countKey(12, 1)) })
                 .isValid());
}

QTEST_GUILESS_MAIN(TstRedisBus)
#include "tst_redis_bus.moc"
