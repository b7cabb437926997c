// SPDX-License-Identifier: MIT
// The bus on a real Redis Cluster (three masters, no replicas; lctest::RedisClusterProcess) with
// PostgreSQL as the shared store and three livecomments-server nodes seeded with one cluster
// node: slot routing, one subscriber connection per master, SSUBSCRIBE only while a node has
// viewers, node-id leases, and a master restart that loses nothing. docs/operations.md
// "Redis Cluster".
#include "bus/node_id_lease.h"
#include "bus/redis_bus.h"
#include "bus/redis_cluster.h"
#include "bus/viewer_counts.h"
#include "http_client.h"
#include "postgres_process.h"
#include "redis_cluster_process.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QJsonDocument>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

using namespace lctest;
using namespace std::chrono_literals;
namespace bus = livecomments::server::bus;

namespace {

using Nodes = std::vector<std::unique_ptr<ServerProcess>>;
using Readers = std::vector<std::unique_ptr<SseReader>>;

QString channelOf(qint32 videoId)
{
    return QString::fromStdString(bus::RedisBus::channelName(static_cast<std::uint32_t>(videoId)));
}

QUrl streamUrl(const QUrl& base, qint32 videoId)
{
    return endpoint(base, QStringLiteral("/videos/%1/subscriptions").arg(videoId));
}

/// The `status` of GET /healthz.
QString healthStatus(const QUrl& base)
{
    return QJsonDocument::fromJson(http("GET", endpoint(base, QStringLiteral("/healthz"))).body)
        .object()
        .value(QStringLiteral("status"))
        .toString();
}

/// The cluster viewer count of GET /videos/{id}.
int viewersOf(const QUrl& base, qint32 videoId)
{
    return http("GET", endpoint(base, QStringLiteral("/videos/%1").arg(videoId)))
        .json()
        .value(QStringLiteral("viewers"))
        .toInt();
}

QString text(const Poco::Redis::RedisType::Ptr& value)
{
    return QString::fromStdString(bus::reply::string(value));
}

Poco::Redis::Array args(std::initializer_list<std::string> words)
{
    Poco::Redis::Array cmd;
    for (const auto& word : words)
        cmd << word;
    return cmd;
}

/// Bus settings for an in-process bus seeded with node `seed` of `cluster` (short timeouts).
bus::RedisBusOptions busOptionsFor(
    const RedisClusterProcess& cluster, std::uint32_t nodeId, int seed)
{
    bus::RedisBusOptions o;
    o.endpoint = bus::parseRedisUrl(cluster.url(seed).toStdString());
    o.nodeId = nodeId;
    o.ioTimeout = 1000ms;
    o.heartbeat = 300ms;
    o.reconnectBase = 50ms;
    o.reconnectCap = 500ms;
    return o;
}

/// master → a video id (from `first` on) whose channel that master owns.
std::map<int, std::uint32_t> channelsOnMasters(
    const RedisClusterProcess& cluster, std::uint32_t first)
{
    std::map<int, std::uint32_t> videoOn;
    for (std::uint32_t id = first; int(videoOn.size()) < cluster.masters() && id < first + 200;
         ++id)
        videoOn.emplace(cluster.ownerOf(channelOf(qint32(id))), id);
    return videoOn;
}

/// Sharded subscribers of the video's channel on the master owning its slot, or -1.
qint64 shardSubscribersOn(const RedisClusterProcess& cluster, qint32 videoId)
{
    const int owner = cluster.ownerOf(channelOf(videoId));
    if (owner < 0)
        return -1;
    const QVariantList reply
        = cluster
              .command(owner,
                  { QStringLiteral("PUBSUB"), QStringLiteral("SHARDNUMSUB"), channelOf(videoId) })
              .toList();
    return reply.size() == 2 ? reply.at(1).toLongLong() : -1;
}

} // namespace

class TstRedisCluster : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void keySlotMatchesRedis();
    void redirectParsing();
    void routerFollowsRedirects();
    void busAcrossMasters();
    void deadMasterHoldsUpOnlyItsChannels();
    void failoverToReplica();
    void clusterWithoutSlotsIsAStartupError();
    void unreachableMasterIsAStartupError();
    void commentsCrossMasters();
    void reshardingKeepsViewers();
    void subscriptionFollowsViewers();
    void masterRestartLosesNothing();

private:
    bool startNodes(Nodes& nodes, int n, const QString& database);
    /// Bus settings for an in-process bus seeded with cluster node `seed` (short timeouts).
    bus::RedisBusOptions busOptions(std::uint32_t nodeId, int seed) const
    {
        return busOptionsFor(m_cluster, nodeId, seed);
    }
    std::map<int, std::uint32_t> channelOnEveryMaster(std::uint32_t first) const
    {
        return channelsOnMasters(m_cluster, first);
    }
    /// Sharded subscribers of the video's channel on the master owning its slot.
    qint64 shardSubscribers(qint32 videoId) const;
    bool waitForShardSubscribers(qint32 videoId, int count, int timeoutMs = 15000) const;
    /// Creates videos until their channels are owned by every master (at most 40 videos).
    QList<qint32> videosOnEveryMaster(const QUrl& base, int perMaster);
    /// Posts `n` comments per video round-robin over the nodes; acknowledged ids per video.
    std::map<qint32, QList<quint64>> postEverywhere(
        const Nodes& nodes, const QList<qint32>& videos, const QString& prefix, int n);

    PostgresProcess m_postgres;
    RedisClusterProcess m_cluster { 3 };
    QString m_token;
};

void TstRedisCluster::initTestCase()
{
    raiseFileLimit();
    QVERIFY2(m_cluster.start(), qPrintable(m_cluster.errorString()));
    QVERIFY2(m_postgres.start(), qPrintable(m_postgres.errorString()));
    ServerProcess tokens;
    m_token
        = tokens.token(QStringLiteral("7"), QStringLiteral("alice"), QStringLiteral("streamer"));
}

// The slot function against the cluster's own CLUSTER KEYSLOT: the hash-tag rules (first '{', the
// next '}', an empty tag hashes the whole key) and every key shape the server uses.
void TstRedisCluster::keySlotMatchesRedis()
{
    QStringList keys { QStringLiteral("foo"), QStringLiteral("bar"), QStringLiteral("123456789"),
        QStringLiteral("{user1000}.following"), QStringLiteral("{user1000}.followers"),
        QStringLiteral("foo{}{bar}"), QStringLiteral("foo{{bar}}zap"),
        QStringLiteral("foo{bar}{zap}"), QStringLiteral("{"), QStringLiteral("}{"),
        QStringLiteral("é{ü}"), QString() };
    for (std::uint32_t id : { 0U, 1U, 2U, 3U, 17U, 1023U, 65536U, 4294967295U }) {
        keys << QString::fromStdString(bus::RedisBus::channelName(id))
             << QString::fromStdString(bus::ViewerCounts::nodesKey(id))
             << QString::fromStdString(bus::ViewerCounts::countKey(id, 5))
             << QString::fromStdString(bus::NodeIdLease::keyFor(id % 1024));
    }
    QSet<int> seenSlots;
    for (const QString& key : keys) {
        const int expected = m_cluster.keySlot(key);
        QVERIFY2(expected >= 0, qPrintable(key));
        QCOMPARE(int(bus::keySlot(key.toStdString())), expected);
        seenSlots.insert(expected);
    }
    QVERIFY(seenSlots.size() > 10); // the keys really spread over slots
    // A video's channel and its viewer-count keys share a slot (multi-key commands are legal).
    QCOMPARE(bus::keySlot(bus::RedisBus::channelName(42)),
        bus::keySlot(bus::ViewerCounts::countKey(42, 7)));
    QCOMPARE(bus::keySlot(bus::ViewerCounts::nodesKey(42)),
        bus::keySlot(bus::ViewerCounts::countKey(42, 900)));
}

void TstRedisCluster::redirectParsing()
{
    bus::RedisEndpoint from;
    from.host = "10.0.0.1";
    from.port = 7000;
    from.password = "secret";
    bus::Redirect redirect;
    QVERIFY(bus::parseRedirect("MOVED 3999 127.0.0.1:6381", from, redirect));
    QVERIFY(!redirect.ask);
    QCOMPARE(int(redirect.slot), 3999);
    QCOMPARE(redirect.target.host, std::string("127.0.0.1"));
    QCOMPARE(int(redirect.target.port), 6381);
    QCOMPARE(redirect.target.password, std::string("secret")); // same credentials everywhere
    QVERIFY(bus::parseRedirect("ASK 16383 :7002", from, redirect));
    QVERIFY(redirect.ask);
    QCOMPARE(redirect.target.host, std::string("10.0.0.1")); // empty host: the one asked
    QVERIFY(bus::parseRedirect("MOVED 1 [::1]:7003", from, redirect));
    QCOMPARE(redirect.target.host, std::string("::1"));
    QVERIFY(!bus::parseRedirect("MOVED 16384 127.0.0.1:1", from, redirect));
    QVERIFY(!bus::parseRedirect("CLUSTERDOWN The cluster is down", from, redirect));
    QVERIFY(!bus::parseRedirect("MOVED x 127.0.0.1:1", from, redirect));
}

// RedisRouter against the cluster: keys on every master, a pipeline across masters, -ASK while
// the key's slot is being migrated, -MOVED once it has moved.
void TstRedisCluster::routerFollowsRedirects()
{
    bus::RedisRouter router(bus::parseRedisUrl(m_cluster.url(1).toStdString()), 2000ms);
    router.connect({});
    QVERIFY(router.clustered());
    QCOMPARE(int(router.slotMap().masters().size()), m_cluster.size());
    std::map<int, std::string> keyOn; // master → a key it owns
    for (int i = 0; keyOn.size() < 3 && i < 100; ++i) {
        const std::string key = "rc:router:{k" + std::to_string(i) + "}";
        keyOn.emplace(m_cluster.ownerOf(QString::fromStdString(key)), key);
    }
    QCOMPARE(int(keyOn.size()), 3);
    std::vector<bus::RedisRouter::Keyed> reads;
    for (const auto& [master, key] : keyOn) {
        QCOMPARE(text(router.command(key, args({ "SET", key, "v" + key }))), QStringLiteral("OK"));
        // Really stored on the owner.
        QCOMPARE(m_cluster.command(master, { QStringLiteral("GET"), QString::fromStdString(key) })
                     .toByteArray(),
            QByteArray::fromStdString("v" + key));
        reads.emplace_back(key, args({ "GET", key }));
    }
    const auto replies = router.pipeline(reads);
    QCOMPARE(int(replies.size()), 3);
    for (std::size_t i = 0; i < replies.size(); ++i)
        QCOMPARE(text(replies[i]), QString::fromStdString("v" + reads[i].first));

    const auto& [from, key] = *keyOn.begin();
    const int to = (from + 1) % m_cluster.size();
    const int slot = bus::keySlot(key);
    const QString qkey = QString::fromStdString(key);
    QVERIFY2(m_cluster.beginSlotMigration(slot, to), qPrintable(m_cluster.errorString()));
    QString error;
    m_cluster.command(from, { QStringLiteral("GET"), qkey }, &error);
    QVERIFY2(error.startsWith(QStringLiteral("ASK ")), qPrintable(error));
    QCOMPARE(text(router.command(key, args({ "GET", key }))), QString::fromStdString("v" + key));
    QVERIFY2(m_cluster.finishSlotMigration(slot, to), qPrintable(m_cluster.errorString()));
    m_cluster.command(from, { QStringLiteral("GET"), qkey }, &error);
    QVERIFY2(error.startsWith(QStringLiteral("MOVED ")), qPrintable(error));
    QCOMPARE(text(router.command(key, args({ "GET", key }))), QString::fromStdString("v" + key));
    QCOMPARE(int(router.slotMap().ownerOf(std::uint16_t(slot)).port), int(m_cluster.port(to)));
}

// Two buses (two nodes) in-process: one subscriber connection per master owning a wanted
// channel, delivery across masters, and a channel whose slot is moved to another master while
// subscribed: resubscribed at the new owner (the old one pushed `sunsubscribe`), handed to the
// reconnected handler, and the publisher follows -MOVED.
void TstRedisCluster::busAcrossMasters()
{
    bus::RedisBus sender(busOptions(901, 2));
    bus::RedisBus receiver(busOptions(902, 0));
    QVERIFY(sender.clustered() && receiver.clustered());
    std::mutex mutex;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> received;
    std::vector<std::uint32_t> refilled;
    receiver.setHandler([&](const bus::BusEvent& e) {
        std::lock_guard<std::mutex> lock(mutex);
        received.emplace_back(e.videoId, e.commentId);
    });
    receiver.setReconnectedHandler([&](const std::vector<std::uint32_t>& videos) {
        std::lock_guard<std::mutex> lock(mutex);
        refilled.insert(refilled.end(), videos.begin(), videos.end());
    });
    auto receivedCount = [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return received.size();
    };
    const auto videoOn = channelOnEveryMaster(5000);
    QCOMPARE(int(videoOn.size()), 3);
    QCOMPARE(int(receiver.subscriberConnections()), 0);
    std::size_t wanted = 0;
    for (const auto& [master, video] : videoOn) {
        receiver.setInterest(video, true);
        ++wanted;
        QTRY_COMPARE(receiver.subscriberConnections(), wanted);
        QVERIFY(waitForShardSubscribers(qint32(video), 1));
    }
    for (const auto& [master, video] : videoOn) {
        bus::BusEvent event;
        event.videoId = video;
        event.commentId = 10 * video;
        event.json = "{}";
        sender.publish(event);
    }
    QTRY_COMPARE(receivedCount(), std::size_t(3));
    QVERIFY(receiver.healthy() && sender.healthy());

    // Resharding: the slot of the first video's channel moves to another master.
    const auto [from, moved] = *videoOn.begin();
    const int to = (from + 1) % m_cluster.size();
    const int slot = bus::keySlot(bus::RedisBus::channelName(moved));
    auto refills = [&, video = moved] {
        std::lock_guard<std::mutex> lock(mutex);
        return std::count(refilled.begin(), refilled.end(), video);
    };
    const auto refillsBefore = refills();
    QVERIFY2(m_cluster.beginSlotMigration(slot, to), qPrintable(m_cluster.errorString()));
    QVERIFY2(m_cluster.finishSlotMigration(slot, to), qPrintable(m_cluster.errorString()));
    QVERIFY(waitForShardSubscribers(qint32(moved), 1)); // now counted on the new owner
    // Handed to the reconnected handler once more than at its first subscription.
    QTRY_COMPARE(refills(), refillsBefore + 1);
    // The old owner's connection has no wanted channel left: closed.
    QTRY_COMPARE(receiver.subscriberConnections(), std::size_t(2));
    bus::BusEvent event;
    event.videoId = moved;
    event.commentId = 77;
    event.json = "{}";
    sender.publish(event);
    QTRY_COMPARE(receivedCount(), std::size_t(4));
    {
        std::lock_guard<std::mutex> lock(mutex);
        QCOMPARE(received.back(), std::make_pair(moved, std::uint64_t(77)));
    }
    QCOMPARE(sender.publishFailures(), std::uint64_t(0));

    // The new owner also serves videoOn[to]: its connection stays until both are dropped.
    receiver.setInterest(moved, false);
    QVERIFY(waitForShardSubscribers(qint32(moved), 0));
    QCOMPARE(receiver.subscriberConnections(), std::size_t(2));
    receiver.setInterest(videoOn.at(to), false);
    QTRY_COMPARE(receiver.subscriberConnections(), std::size_t(1));
    QVERIFY(receiver.healthy());
}

bool TstRedisCluster::startNodes(Nodes& nodes, int n, const QString& database)
{
    const QString url = m_postgres.createDatabase(database);
    if (url.isEmpty()) {
        qWarning("createDatabase: %s", qPrintable(m_postgres.errorString()));
        return false;
    }
    // Each node is seeded with a different cluster node: any one is enough to find the rest.
    for (int i = 0; i < n; ++i) {
        nodes.push_back(std::make_unique<ServerProcess>(QStringList {
            QStringLiteral("--store=") + url, QStringLiteral("--bus=") + m_cluster.url(i % 3),
            QStringLiteral("--stats-ms=500"), QStringLiteral("--log-level=warning"),
            // A small shared machine: see tst_cluster.
            QStringLiteral("--order-hold-ms=250") }));
        if (!nodes.back()->start())
            return false;
    }
    return true;
}

qint64 TstRedisCluster::shardSubscribers(qint32 videoId) const
{
    return shardSubscribersOn(m_cluster, videoId);
}

bool TstRedisCluster::waitForShardSubscribers(qint32 videoId, int count, int timeoutMs) const
{
    return QTest::qWaitFor([&] { return shardSubscribers(videoId) == count; }, timeoutMs);
}

QList<qint32> TstRedisCluster::videosOnEveryMaster(const QUrl& base, int perMaster)
{
    QList<qint32> videos;
    std::map<int, int> perOwner;
    for (int i = 0; i < 40; ++i) {
        const qint32 video = createVideo(base, m_token, QStringLiteral("RC%1").arg(i));
        if (video <= 0)
            return {};
        const int owner = m_cluster.ownerOf(channelOf(video));
        if (perOwner[owner] >= perMaster)
            continue;
        ++perOwner[owner];
        videos.append(video);
        if (videos.size() == perMaster * m_cluster.size())
            break;
    }
    return videos;
}

std::map<qint32, QList<quint64>> TstRedisCluster::postEverywhere(
    const Nodes& nodes, const QList<qint32>& videos, const QString& prefix, int n)
{
    std::map<qint32, QList<HttpRequest>> requests;
    int node = 0;
    for (int i = 0; i < n; ++i) {
        for (qint32 video : videos) {
            node = (node + 1) % static_cast<int>(nodes.size());
            HttpRequest r;
            r.method = "POST";
            r.url = endpoint(
                nodes[node]->baseUrl(), QStringLiteral("/videos/%1/comments").arg(video));
            r.body = QJsonDocument(QJsonObject { { QStringLiteral("text"),
                                       QStringLiteral("%1 %2").arg(prefix).arg(i) } })
                         .toJson();
            r.headers = { { "Authorization", "Bearer " + m_token.toUtf8() } };
            requests[video].append(r);
        }
    }
    std::map<qint32, QList<quint64>> acked;
    for (auto& [video, list] : requests)
        acked[video] = acknowledgedIds(httpMany(list, 6));
    return acked;
}

// One master dies: the publisher parks that master's events (retried with backoff within the
// retry window) while the other masters' events keep flowing; once it is back every event has
// been sent and the buses are healthy again.
void TstRedisCluster::deadMasterHoldsUpOnlyItsChannels()
{
    auto senderOptions = busOptions(905, 1);
    senderOptions.publishRetryWindow = 30000ms; // longer than the restart below
    bus::RedisBus sender(senderOptions);
    bus::RedisBus receiver(busOptions(906, 2));
    std::mutex mutex;
    std::map<std::uint32_t, int> received;
    receiver.setHandler([&](const bus::BusEvent& e) {
        std::lock_guard<std::mutex> lock(mutex);
        ++received[e.videoId];
    });
    auto receivedFor = [&](std::uint32_t video) {
        std::lock_guard<std::mutex> lock(mutex);
        return received[video];
    };
    const auto videoOn = channelOnEveryMaster(6000);
    QCOMPARE(int(videoOn.size()), 3);
    for (const auto& [master, video] : videoOn) {
        receiver.setInterest(video, true);
        QVERIFY(waitForShardSubscribers(qint32(video), 1));
    }
    const auto [victim, parkedVideo] = *videoOn.begin();
    m_cluster.kill9(victim);
    constexpr int kEach = 5;
    for (int i = 0; i < kEach; ++i) {
        for (const auto& [master, video] : videoOn) {
            bus::BusEvent event;
            event.videoId = video;
            event.commentId = std::uint64_t(video) * 100 + std::uint64_t(i);
            event.json = "{}";
            sender.publish(event);
        }
    }
    // Before the cluster even notices the failure (node timeout 3 s) the other channels' events
    // have arrived: nothing waits behind the dead master's.
    for (const auto& [master, video] : videoOn) {
        if (master != victim)
            QTRY_COMPARE_WITH_TIMEOUT(receivedFor(video), kEach, 2500);
    }
    QCOMPARE(receivedFor(parkedVideo), 0);
    QTRY_VERIFY(!sender.healthy() && !receiver.healthy());
    QCOMPARE(sender.messagesOut(), std::uint64_t(2 * kEach));
    QVERIFY2(m_cluster.restart(victim), qPrintable(m_cluster.errorString()));
    QTRY_VERIFY_WITH_TIMEOUT(sender.healthy() && receiver.healthy(), 20000);
    QTRY_COMPARE_WITH_TIMEOUT(sender.messagesOut(), std::uint64_t(3 * kEach), 20000);
    QCOMPARE(sender.publishFailures(), std::uint64_t(0));
    QVERIFY(receiver.reconnects() >= 1);
    QVERIFY(waitForShardSubscribers(qint32(parkedVideo), 1));
}

// A master with a replica dies for good: the replica is promoted; both buses re-read the slot map,
// the receiver subscribes the channel at the new master (and hands it to the reconnected handler),
// both are healthy again and events cross on every channel.
void TstRedisCluster::failoverToReplica()
{
    RedisClusterProcess cluster(3, 1);
    QVERIFY2(cluster.start(), qPrintable(cluster.errorString()));
    bus::RedisBus sender(busOptionsFor(cluster, 907, 1));
    bus::RedisBus receiver(busOptionsFor(cluster, 908, 2));
    std::mutex mutex;
    std::map<std::uint32_t, int> received;
    std::map<std::uint32_t, int> refilled;
    receiver.setHandler([&](const bus::BusEvent& e) {
        std::lock_guard<std::mutex> lock(mutex);
        ++received[e.videoId];
    });
    receiver.setReconnectedHandler([&](const std::vector<std::uint32_t>& videos) {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto video : videos)
            ++refilled[video];
    });
    auto count = [&](const std::map<std::uint32_t, int>& of, std::uint32_t video) {
        std::lock_guard<std::mutex> lock(mutex);
        const auto it = of.find(video);
        return it == of.end() ? 0 : it->second;
    };
    const auto videoOn = channelsOnMasters(cluster, 7000);
    QCOMPARE(int(videoOn.size()), 3);
    for (const auto& [master, video] : videoOn) {
        receiver.setInterest(video, true);
        QTRY_COMPARE_WITH_TIMEOUT(shardSubscribersOn(cluster, qint32(video)), qint64(1), 10000);
    }
    const auto [victim, video] = *videoOn.begin();
    const int replica = cluster.masters() + victim;
    const int refillsBefore = count(refilled, video);
    cluster.kill9(victim);
    QTRY_COMPARE_WITH_TIMEOUT(cluster.ownerOf(channelOf(qint32(video))), replica, 30000);
    QVERIFY(cluster.waitForOk());
    QTRY_VERIFY_WITH_TIMEOUT(sender.healthy() && receiver.healthy(), 20000);
    QTRY_COMPARE_WITH_TIMEOUT(shardSubscribersOn(cluster, qint32(video)), qint64(1), 10000);
    QVERIFY(count(refilled, video) > refillsBefore);
    QVERIFY(receiver.reconnects() >= 1);
    QCOMPARE(receiver.subscriberConnections(), std::size_t(3)); // the promoted replica's included
    for (const auto& [master, each] : videoOn) {
        bus::BusEvent event;
        event.videoId = each;
        event.commentId = each;
        event.json = "{}";
        sender.publish(event);
    }
    for (const auto& [master, each] : videoOn)
        QTRY_COMPARE(count(received, each), 1);
    QCOMPARE(sender.publishFailures(), std::uint64_t(0));
}

// A seed in cluster mode whose cluster was never created serves no slot: the node refuses to
// start with a clear message rather than half-start.
void TstRedisCluster::clusterWithoutSlotsIsAStartupError()
{
    RedisProcess lonely;
    lonely.setExtraArguments({ QStringLiteral("--cluster-enabled"), QStringLiteral("yes") });
    QVERIFY(lonely.start());
    ServerProcess node(
        { QStringLiteral("--bus=") + lonely.url(), QStringLiteral("--connect-attempts=1") });
    QVERIFY(!node.start());
    QVERIFY(node.waitForExit(15000));
    QVERIFY(node.exitCode() != 0);
    QVERIFY2(node.log().contains("serves no slots"), node.log().constData());
    QVERIFY(!node.log().contains("listening on"));
}

// A master announced at an address this node cannot reach (cluster-announce-ip of another
// network; here 127.0.0.2, where nothing listens): the node exits with a message naming it.
void TstRedisCluster::unreachableMasterIsAStartupError()
{
    RedisClusterProcess cluster(3);
    QVERIFY2(cluster.start(), qPrintable(cluster.errorString()));
    QString error;
    cluster.command(2,
        { QStringLiteral("CONFIG"), QStringLiteral("SET"), QStringLiteral("cluster-announce-ip"),
            QStringLiteral("127.0.0.2") },
        &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QString announced = QStringLiteral("127.0.0.2:%1").arg(cluster.port(2));
    QTRY_VERIFY_WITH_TIMEOUT(
        cluster.command(0, { QStringLiteral("CLUSTER"), QStringLiteral("NODES") })
            .toByteArray()
            .contains(announced.toUtf8()),
        15000);
    ServerProcess node({ QStringLiteral("--bus=") + cluster.url(0),
        QStringLiteral("--connect-attempts=2"), QStringLiteral("--connect-timeout-ms=800") });
    QVERIFY(!node.start());
    QVERIFY(node.waitForExit(15000));
    QVERIFY(node.exitCode() != 0);
    QVERIFY2(
        node.log().contains("cannot reach every Redis Cluster master"), node.log().constData());
    QVERIFY2(node.log().contains(announced.toUtf8()), node.log().constData());
    QVERIFY(!node.log().contains("listening on"));
}

// Videos whose channels live on all three masters, viewers of each on every node, comments posted
// to every node: each viewer gets each comment of its video exactly once, in id order; every node
// leased a distinct node id, and the lease keys sit on the master owning their slot.
void TstRedisCluster::commentsCrossMasters()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 3, QStringLiteral("rc1")));
    const QList<qint32> videos = videosOnEveryMaster(nodes[0]->baseUrl(), 1);
    QCOMPARE(videos.size(), 3);
    QSet<int> owners;
    for (qint32 video : videos)
        owners.insert(m_cluster.ownerOf(channelOf(video)));
    QCOMPARE(owners.size(), 3); // the channels really are on different masters

    std::map<qint32, Readers> readers;
    for (qint32 video : videos) {
        for (int i = 0; i < 6; ++i) {
            readers[video].push_back(std::make_unique<SseReader>());
            readers[video].back()->open(streamUrl(nodes[i % 3]->baseUrl(), video));
            QVERIFY(readers[video].back()->waitForHello());
        }
        QVERIFY(waitForShardSubscribers(video, 3));
    }
    constexpr int kPerVideo = 20;
    const auto acked = postEverywhere(nodes, videos, QStringLiteral("x"), kPerVideo);
    for (qint32 video : videos) {
        const QList<quint64> expected = sorted(acked.at(video));
        QCOMPARE(expected.size(), kPerVideo);
        for (const auto& reader : readers[video]) {
            QTRY_VERIFY_WITH_TIMEOUT(reader->comments().size() >= kPerVideo, 20000);
            QCOMPARE(reader->comments(), expected); // exactly once, in id order
        }
    }

    QSet<int> ids;
    for (const auto& node : nodes) {
        const int id = QJsonDocument::fromJson(
            http("GET", endpoint(node->baseUrl(), QStringLiteral("/healthz"))).body)
                           .object()
                           .value(QStringLiteral("node_id"))
                           .toInt(-1);
        QVERIFY(id >= 0);
        ids.insert(id);
        const QString key = QString::fromStdString(bus::NodeIdLease::keyFor(std::uint32_t(id)));
        QVERIFY(m_cluster.command(m_cluster.ownerOf(key), { QStringLiteral("EXISTS"), key })
                    .toLongLong()
            == 1);
    }
    QCOMPARE(ids.size(), 3);
    // Cluster viewer counts: their keys are spread over the masters by video.
    for (qint32 video : videos)
        QTRY_COMPARE_WITH_TIMEOUT(viewersOf(nodes[1]->baseUrl(), video), 6, 10000);
}

// A node SSUBSCRIBEs a channel on its owning master only while it has viewers of the video, and
// keeps a subscriber connection only to masters that own a wanted channel.
void TstRedisCluster::subscriptionFollowsViewers()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 1, QStringLiteral("rc2")));
    const QList<qint32> videos = videosOnEveryMaster(nodes[0]->baseUrl(), 1);
    QCOMPARE(videos.size(), 3);
    const qint32 video = videos.front();
    const int owner = m_cluster.ownerOf(channelOf(video));
    QCOMPARE(shardSubscribers(video), 0);
    // Sharded-subscribed clients of each master (CLIENT LIST: ssub=<n>).
    auto shardClients = [&](int master) {
        const QString list = QString::fromUtf8(
            m_cluster.command(master, { QStringLiteral("CLIENT"), QStringLiteral("LIST") })
                .toByteArray());
        return list.count(QRegularExpression(QStringLiteral("ssub=[1-9]")));
    };
    SseReader first, second;
    first.open(streamUrl(nodes[0]->baseUrl(), video));
    QVERIFY(first.waitForHello());
    QVERIFY(waitForShardSubscribers(video, 1));
    for (int master = 0; master < m_cluster.size(); ++master) {
        if (shardClients(master) != (master == owner ? 1 : 0))
            qWarning("master %d (owner %d): %s", master, owner,
                m_cluster.command(master, { QStringLiteral("CLIENT"), QStringLiteral("LIST") })
                    .toByteArray()
                    .constData());
        QCOMPARE(shardClients(master), master == owner ? 1 : 0);
    }
    second.open(streamUrl(nodes[0]->baseUrl(), video));
    QVERIFY(second.waitForHello());
    first.close();
    QTest::qWait(300); // one viewer is left: the subscription must stay
    QCOMPARE(shardSubscribers(video), 1);
    second.close();
    QVERIFY(waitForShardSubscribers(video, 0));
    QTRY_COMPARE_WITH_TIMEOUT(shardClients(owner), 0, 10000);
    QCOMPARE(healthStatus(nodes[0]->baseUrl()), QStringLiteral("ok"));
}

// End to end: a watched video's slot moves to another master (its viewer-count keys migrate with
// it) while comments are posted: no viewer reconnects, every viewer gets every comment once.
void TstRedisCluster::reshardingKeepsViewers()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 2, QStringLiteral("rc4")));
    const qint32 video = createVideo(nodes[0]->baseUrl(), m_token, QStringLiteral("RS"));
    QVERIFY(video > 0);
    Readers readers;
    for (int i = 0; i < 4; ++i) {
        readers.push_back(std::make_unique<SseReader>());
        readers.back()->open(streamUrl(nodes[i % 2]->baseUrl(), video));
        QVERIFY(readers.back()->waitForHello());
    }
    QVERIFY(waitForShardSubscribers(video, 2));
    auto acked = postEverywhere(nodes, { video }, QStringLiteral("before"), 5)[video];
    const int from = m_cluster.ownerOf(channelOf(video));
    const int to = (from + 2) % m_cluster.size();
    const int slot = m_cluster.keySlot(channelOf(video));
    QVERIFY2(m_cluster.beginSlotMigration(slot, to), qPrintable(m_cluster.errorString()));
    acked += postEverywhere(nodes, { video }, QStringLiteral("migrating"), 5)[video];
    QVERIFY2(m_cluster.finishSlotMigration(slot, to), qPrintable(m_cluster.errorString()));
    QCOMPARE(m_cluster.ownerOf(channelOf(video)), to);
    acked += postEverywhere(nodes, { video }, QStringLiteral("moved"), 5)[video];
    QVERIFY(waitForShardSubscribers(video, 2)); // both nodes, on the new owner
    acked += postEverywhere(nodes, { video }, QStringLiteral("after"), 5)[video];
    const QList<quint64> expected = sorted(acked);
    QCOMPARE(expected.size(), 20);
    for (const auto& reader : readers) {
        QTRY_VERIFY_WITH_TIMEOUT(reader->comments().size() >= expected.size(), 20000);
        QVERIFY(!reader->wasDisconnected());
        QCOMPARE(reader->comments(), expected); // each exactly once, in id order (the chain)
    }
    // The viewer counts live in the moved slot too: still the cluster total.
    QTRY_COMPARE_WITH_TIMEOUT(viewersOf(nodes[0]->baseUrl(), video), 4, 10000);
    for (const auto& node : nodes)
        QCOMPARE(healthStatus(node->baseUrl()), QStringLiteral("ok"));
}

// A master is killed and restarted while nodes have viewers of videos on every master: nodes
// report degraded, reconnect, resubscribe, fill the gap from the store; no viewer reconnects and
// every viewer ends with every comment of its video exactly once.
void TstRedisCluster::masterRestartLosesNothing()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 3, QStringLiteral("rc3")));
    const QList<qint32> videos = videosOnEveryMaster(nodes[0]->baseUrl(), 1);
    QCOMPARE(videos.size(), 3);
    std::map<qint32, Readers> readers;
    for (qint32 video : videos) {
        for (int i = 0; i < 3; ++i) {
            readers[video].push_back(std::make_unique<SseReader>());
            readers[video].back()->open(streamUrl(nodes[i]->baseUrl(), video));
            QVERIFY(readers[video].back()->waitForHello());
        }
        QVERIFY(waitForShardSubscribers(video, 3));
    }
    std::map<qint32, QList<quint64>> acked;
    auto collect = [&](const std::map<qint32, QList<quint64>>& batch) {
        for (const auto& [video, ids] : batch)
            acked[video] += ids;
    };
    collect(postEverywhere(nodes, videos, QStringLiteral("before"), 5));

    const int victim = m_cluster.ownerOf(channelOf(videos.front()));
    m_cluster.kill9(victim);
    for (const auto& node : nodes)
        QTRY_COMPARE_WITH_TIMEOUT(healthStatus(node->baseUrl()), QStringLiteral("degraded"), 10000);
    collect(postEverywhere(nodes, videos, QStringLiteral("outage"), 5));
    QVERIFY2(m_cluster.restart(victim), qPrintable(m_cluster.errorString()));
    for (const auto& node : nodes)
        QTRY_COMPARE_WITH_TIMEOUT(healthStatus(node->baseUrl()), QStringLiteral("ok"), 20000);
    collect(postEverywhere(nodes, videos, QStringLiteral("after"), 5));

    for (qint32 video : videos) {
        const QList<quint64> expected = sorted(acked[video]);
        QCOMPARE(expected.size(), 15);
        for (const auto& reader : readers[video]) {
            QTRY_VERIFY_WITH_TIMEOUT(reader->comments().size() >= expected.size(), 30000);
            QVERIFY(!reader->wasDisconnected());
            QCOMPARE(reader->comments(), expected); // each exactly once, in id order (the chain)
        }
    }
    double reconnects = 0;
    for (const auto& node : nodes)
        reconnects
            += metricValue(http("GET", endpoint(node->baseUrl(), QStringLiteral("/metrics"))).body,
                "livecomments_bus_reconnects_total");
    QVERIFY(reconnects >= 3); // every node had a subscription on the restarted master
}

QTEST_GUILESS_MAIN(TstRedisCluster)
#include "tst_redis_cluster.moc"
