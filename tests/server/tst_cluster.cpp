// SPDX-License-Identifier: MIT
// A cluster on real engines: PostgreSQL (shared store), Redis (bus, node ids, viewer counts),
// nginx (the repo's site file) and three livecomments-server nodes. docs/operations.md "Cluster",
// docs/protocol.md "Order across nodes".
#include "fault_proxy.h"
#include "http_client.h"
#include "nginx_process.h"
#include "postgres_process.h"
#include "redis_process.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

#include <algorithm>
#include <memory>
#include <vector>

using namespace lctest;

namespace {

using Nodes = std::vector<std::unique_ptr<ServerProcess>>;

/// A reader that follows one viewer across reconnects: every connection's comment ids, in order.
struct Viewer {
    std::unique_ptr<SseReader> reader;
    QList<quint64> received; ///< ids of closed connections, then the current one's
    int connections = 0;
};

QUrl streamUrl(const QUrl& base, qint32 videoId)
{
    return endpoint(base, QStringLiteral("/videos/%1/subscriptions").arg(videoId));
}

void connectViewer(Viewer& v, const QUrl& base, qint32 videoId)
{
    HeaderList headers;
    if (v.reader) {
        v.received += v.reader->comments();
        if (!v.reader->lastEventId().isEmpty())
            headers.append({ "Last-Event-ID", v.reader->lastEventId() });
    }
    v.reader = std::make_unique<SseReader>();
    v.reader->open(streamUrl(base, videoId), headers);
    ++v.connections;
}

/// Connects every viewer to `base` and waits for all their `hello` events.
bool connectAll(std::vector<Viewer>& viewers, const QUrl& base, qint32 videoId, int timeoutMs)
{
    for (auto& v : viewers)
        connectViewer(v, base, videoId);
    return QTest::qWaitFor(
        [&] {
            return std::all_of(viewers.begin(), viewers.end(),
                [](const Viewer& v) { return !v.reader->hello().isEmpty(); });
        },
        timeoutMs);
}

/// Whether every viewer's current connection has at least `n` comments.
bool allHave(const std::vector<Viewer>& viewers, qsizetype n)
{
    return std::all_of(viewers.begin(), viewers.end(),
        [n](const Viewer& v) { return v.reader->comments().size() >= n; });
}

QList<quint64> allReceived(const Viewer& v)
{
    return v.received + v.reader->comments();
}

/// Ids in first-seen order without repeats (clients drop repeated ids, docs/protocol.md "Resume").
QList<quint64> deduped(const QList<quint64>& ids)
{
    QList<quint64> out;
    QSet<quint64> seen;
    for (quint64 id : ids) {
        if (!seen.contains(id)) {
            seen.insert(id);
            out.append(id);
        }
    }
    return out;
}

/// The value of a Prometheus series without labels, or -1.
double metric(const QUrl& base, const QString& name)
{
    const HttpReply r = http("GET", endpoint(base, QStringLiteral("/metrics")));
    const QRegularExpression line(
        QStringLiteral("^%1 ([0-9.e+-]+)$").arg(QRegularExpression::escape(name)),
        QRegularExpression::MultilineOption);
    const auto m = line.match(QString::fromUtf8(r.body));
    return m.hasMatch() ? m.captured(1).toDouble() : -1;
}

QJsonObject healthOf(const QUrl& base)
{
    return QJsonDocument::fromJson(http("GET", endpoint(base, QStringLiteral("/healthz"))).body)
        .object();
}

} // namespace

class TstCluster : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void threeNodesBehindNginx();
    void killedNodeLosesNothing();
    void redisRestartLosesNothing();
    void slowBusKeepsIdOrder();
    void moderatorCommentsShapedNowhere();
    void subscriptionFollowsViewers();
    void leasedNodeIdsAndClusterCounts();
    void badConfigurationExits_data();
    void badConfigurationExits();
    void duplicateNodeIdExits();

private:
    /// n nodes on a fresh database, all on the bus (the last one through `lastBusUrl` when
    /// given); false (with a message) on failure.
    bool startNodes(Nodes& nodes, int n, const QString& database, QStringList extra = {},
        const QString& lastBusUrl = {});
    /// Connects the viewers to the nodes in turn (directly, not through nginx) and waits for
    /// their `hello` events and every node's subscription to the video.
    bool connectSpread(std::vector<Viewer>& viewers, const Nodes& nodes, qint32 videoId);
    /// Waits until `count` nodes hold the video's sharded channel.
    bool waitForShardSubscribers(qint32 videoId, int count, int timeoutMs = 10000);
    qint64 shardSubscribers(qint32 videoId) const;
    /// Posts `rounds` rounds of one moderator comment and four crowd comments to `base` at once;
    /// every acknowledged id, and the moderator's in `moderatorIds`.
    QList<quint64> postModeratedFlood(const QUrl& base, qint32 videoId, int rounds,
        QList<quint64>& moderatorIds, const QString& moderator, const QString& crowd);
    /// Posts `n` comments round-robin over the nodes (those still running); acknowledged ids.
    QList<quint64> postRoundRobin(
        const Nodes& nodes, qint32 videoId, const QString& prefix, int n, int skip = -1);

    PostgresProcess m_postgres;
    RedisProcess m_redis;
    QString m_token;
    QElapsedTimer m_clock;
};

void TstCluster::initTestCase()
{
    m_clock.start();
    raiseFileLimit();
    QVERIFY2(m_postgres.start(), qPrintable(m_postgres.errorString()));
    QVERIFY(m_redis.start());
    ServerProcess tokens;
    m_token
        = tokens.token(QStringLiteral("7"), QStringLiteral("alice"), QStringLiteral("streamer"));
}

void TstCluster::cleanupTestCase()
{
    qInfo("tst_cluster: %lld ms in all", static_cast<long long>(m_clock.elapsed()));
}

bool TstCluster::startNodes(
    Nodes& nodes, int n, const QString& database, QStringList extra, const QString& lastBusUrl)
{
    const QString url = m_postgres.createDatabase(database);
    if (url.isEmpty()) {
        qWarning("createDatabase: %s", qPrintable(m_postgres.errorString()));
        return false;
    }
    // Default order settings: the chain needs no hold (docs/protocol.md "Order across nodes").
    extra << QStringLiteral("--store=") + url << QStringLiteral("--stats-ms=500")
          << QStringLiteral("--log-level=warning");
    for (int i = 0; i < n; ++i) {
        const QString bus = i == n - 1 && !lastBusUrl.isEmpty() ? lastBusUrl : m_redis.url();
        nodes.push_back(std::make_unique<ServerProcess>(
            extra + QStringList { QStringLiteral("--bus=") + bus }));
        if (!nodes.back()->start())
            return false;
    }
    return true;
}

bool TstCluster::connectSpread(std::vector<Viewer>& viewers, const Nodes& nodes, qint32 videoId)
{
    for (std::size_t i = 0; i < viewers.size(); ++i)
        connectViewer(viewers[i], nodes[i % nodes.size()]->baseUrl(), videoId);
    const bool greeted = QTest::qWaitFor(
        [&] {
            return std::all_of(viewers.begin(), viewers.end(),
                [](const Viewer& v) { return !v.reader->hello().isEmpty(); });
        },
        20000);
    return greeted && waitForShardSubscribers(videoId, static_cast<int>(nodes.size()));
}

qint64 TstCluster::shardSubscribers(qint32 videoId) const
{
    const QVariantList reply
        = m_redis
              .command({ QStringLiteral("PUBSUB"), QStringLiteral("SHARDNUMSUB"),
                  QStringLiteral("lc:{video:%1}").arg(videoId) })
              .toList();
    return reply.size() == 2 ? reply.at(1).toLongLong() : -1;
}

bool TstCluster::waitForShardSubscribers(qint32 videoId, int count, int timeoutMs)
{
    return QTest::qWaitFor([&] { return shardSubscribers(videoId) == count; }, timeoutMs);
}

QList<quint64> TstCluster::postRoundRobin(
    const Nodes& nodes, qint32 videoId, const QString& prefix, int n, int skip)
{
    QList<HttpRequest> requests;
    const QStringList bodies = texts(prefix, n);
    int node = 0;
    for (const QString& text : bodies) {
        do
            node = (node + 1) % static_cast<int>(nodes.size());
        while (node == skip);
        HttpRequest r;
        r.method = "POST";
        r.url
            = endpoint(nodes[node]->baseUrl(), QStringLiteral("/videos/%1/comments").arg(videoId));
        r.body = QJsonDocument(QJsonObject { { QStringLiteral("text"), text } }).toJson();
        r.headers = { { "Authorization", "Bearer " + m_token.toUtf8() } };
        requests.append(r);
    }
    return acknowledgedIds(httpMany(requests, 9));
}

// Acceptance 2: 300 raw SSE readers through nginx, spread over three nodes; comments posted
// round-robin to all nodes reach every reader exactly once and in id order; the history is the
// same from every node.
void TstCluster::threeNodesBehindNginx()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 3, QStringLiteral("a2")));
    NginxProcess nginx({ nodes[0]->port(), nodes[1]->port(), nodes[2]->port() });
    QVERIFY(nginx.start());
    const qint32 video = createVideo(nginx.baseUrl(), m_token, QStringLiteral("A2"));
    QVERIFY(video > 0);

    constexpr int kViewers = 300;
    std::vector<Viewer> viewers(kViewers);
    QVERIFY(connectAll(viewers, nginx.baseUrl(), video, 30000));
    // least_conn spreads the streams: every node serves a fair share.
    for (const auto& node : nodes) {
        const double open = metric(node->baseUrl(), QStringLiteral("livecomments_open_streams"));
        QVERIFY2(open >= kViewers / 6, qPrintable(QStringLiteral("open streams %1").arg(open)));
    }
    QVERIFY(waitForShardSubscribers(video, 3));

    constexpr int kComments = 90;
    const QList<quint64> acked = postRoundRobin(nodes, video, QStringLiteral("a2"), kComments);
    QCOMPARE(acked.size(), kComments);
    const QList<quint64> expected = sorted(acked);
    QTRY_VERIFY_WITH_TIMEOUT(allHave(viewers, kComments), 30000);
    for (const auto& v : viewers)
        QCOMPARE(v.reader->comments(), expected); // exactly once, in id order
    for (const auto& node : nodes) {
        bool ok = false;
        QString error;
        QCOMPARE(walkBefore(node->baseUrl(), video, 40, &ok, &error), sorted(expected, true));
        QVERIFY2(ok, qPrintable(error));
    }
}

// Acceptance 3: kill -9 of a node mid-run: its viewers reconnect through nginx with
// Last-Event-ID and end with every acknowledged comment.
void TstCluster::killedNodeLosesNothing()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 3, QStringLiteral("a3")));
    NginxProcess nginx({ nodes[0]->port(), nodes[1]->port(), nodes[2]->port() });
    QVERIFY(nginx.start());
    const qint32 video = createVideo(nginx.baseUrl(), m_token, QStringLiteral("A3"));
    QVERIFY(video > 0);
    std::vector<Viewer> viewers(60);
    QVERIFY(connectAll(viewers, nginx.baseUrl(), video, 20000));
    QVERIFY(waitForShardSubscribers(video, 3));

    QList<quint64> acked = postRoundRobin(nodes, video, QStringLiteral("before"), 30);
    QCOMPARE(acked.size(), 30);
    QTRY_VERIFY_WITH_TIMEOUT(allHave(viewers, 30), 20000);
    // Comments are posted to the node while it dies: every one that got its 201 must survive.
    QList<HttpReply> racing;
    for (int i = 0; i < 5; ++i)
        racing.append(
            postComment(nodes[0]->baseUrl(), m_token, video, QStringLiteral("last %1").arg(i)));
    acked += acknowledgedIds(racing);
    nodes[0]->kill9();
    acked += postRoundRobin(nodes, video, QStringLiteral("during"), 30, 0);
    // The node's streams end (nginx closes them when their upstream dies); about a third of the
    // viewers were on it.
    QTRY_VERIFY_WITH_TIMEOUT(std::count_if(viewers.begin(), viewers.end(),
                                 [](const Viewer& v) { return v.reader->wasDisconnected(); })
            >= 10,
        10000);
    int moved = 0;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            for (auto& v : viewers) {
                if (v.reader->wasDisconnected()) {
                    connectViewer(v, nginx.baseUrl(), video);
                    ++moved;
                }
            }
            return std::none_of(viewers.begin(), viewers.end(),
                [](const Viewer& v) { return v.reader->wasDisconnected(); });
        }(),
        20000);
    QVERIFY2(moved >= 10, qPrintable(QStringLiteral("only %1 viewers reconnected").arg(moved)));
    acked += postRoundRobin(nodes, video, QStringLiteral("after"), 30, 0);
    const QList<quint64> expected = sorted(acked);
    const QSet<quint64> wanted(expected.begin(), expected.end());
    auto complete = [&](const Viewer& v) {
        const QList<quint64> got = allReceived(v);
        return QSet<quint64>(got.begin(), got.end()).contains(wanted);
    };
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(viewers.begin(), viewers.end(), complete), 30000);
    for (const auto& v : viewers) {
        const QList<quint64> got = deduped(allReceived(v));
        if (got.size() != expected.size())
            qWarning("viewer: %d connection(s), last status %d, disconnected %d, hello %s, %lld "
                     "bytes",
                v.connections, v.reader->status(), v.reader->wasDisconnected(),
                QJsonDocument(v.reader->hello()).toJson(QJsonDocument::Compact).constData(),
                static_cast<long long>(v.reader->raw().size()));
        // Nothing lost, nothing foreign, in id order across the move to another node: the dead
        // node delivered a prefix of the chain, the replay repeats only ids the viewer has.
        QCOMPARE(got, expected);
        if (v.connections == 1)
            QCOMPARE(allReceived(v), expected); // a viewer that stayed saw no repeat
    }
    // The comments the dead node committed but never published reached the others through the
    // chain: its successor's link named a predecessor that had not arrived.
    qInfo("chain gap fills: %g, %g",
        metric(nodes[1]->baseUrl(), QStringLiteral("livecomments_chain_gap_fills_total")),
        metric(nodes[2]->baseUrl(), QStringLiteral("livecomments_chain_gap_fills_total")));
    bool ok = false;
    QCOMPARE(walkBefore(nodes[1]->baseUrl(), video, 50, &ok), sorted(expected, true));
    QVERIFY(ok);
}

// Acceptance 4: Redis killed and restarted mid-run: every viewer ends with every comment and no
// viewer reconnected.
void TstCluster::redisRestartLosesNothing()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 3, QStringLiteral("a4")));
    const qint32 video = createVideo(nodes[0]->baseUrl(), m_token, QStringLiteral("A4"));
    QVERIFY(video > 0);
    std::vector<Viewer> viewers(30);
    QVERIFY(connectSpread(viewers, nodes, video));
    QList<quint64> acked = postRoundRobin(nodes, video, QStringLiteral("before"), 15);

    m_redis.kill9();
    QTRY_VERIFY_WITH_TIMEOUT(
        healthOf(nodes[1]->baseUrl()).value(QStringLiteral("status")) == QStringLiteral("degraded"),
        10000);
    QCOMPARE(http("GET", endpoint(nodes[1]->baseUrl(), QStringLiteral("/healthz"))).status, 200);
    acked += postRoundRobin(nodes, video, QStringLiteral("outage"), 15);
    // Delivered during the outage, in order: each node's own comments name predecessors from
    // the other nodes, which the chain reads from the store.
    QTRY_VERIFY_WITH_TIMEOUT(allHave(viewers, acked.size()), 10000);
    QVERIFY(m_redis.restart());
    for (const auto& node : nodes)
        QTRY_VERIFY_WITH_TIMEOUT(
            healthOf(node->baseUrl()).value(QStringLiteral("status")) == QStringLiteral("ok"),
            15000);
    acked += postRoundRobin(nodes, video, QStringLiteral("after"), 15);
    QCOMPARE(acked.size(), 45);
    const QList<quint64> expected = sorted(acked);
    QTRY_VERIFY_WITH_TIMEOUT(allHave(viewers, expected.size()), 30000);
    for (const auto& v : viewers) {
        QCOMPARE(v.connections, 1);
        QVERIFY(!v.reader->wasDisconnected());
        // Each once and in id order, the outage included: a node's own comments waited for the
        // other nodes' ones, filled from the store (docs/protocol.md "Order across nodes").
        QCOMPARE(v.reader->comments(), expected);
    }
    double reconnects = 0, fills = 0;
    for (const auto& node : nodes) {
        reconnects += metric(node->baseUrl(), QStringLiteral("livecomments_bus_reconnects_total"));
        fills += metric(node->baseUrl(), QStringLiteral("livecomments_gap_fills_total"));
    }
    QVERIFY(reconnects >= 3);
    // While Redis was away each node delivered other nodes' comments from the store only.
    QVERIFY2(fills > 0, qPrintable(QString::number(fills)));
}

// The bus hop of one node is slower than any fixed hold (its Redis connection stalls for a
// while): every viewer still gets id order, the other nodes fill that node's comments from the
// store when their successors arrive without them.
void TstCluster::slowBusKeepsIdOrder()
{
    FaultProxy proxy(m_redis.port());
    QVERIFY(proxy.start());
    Nodes nodes;
    QVERIFY(startNodes(nodes, 3, QStringLiteral("a8"), {},
        QStringLiteral("redis://127.0.0.1:%1").arg(proxy.port())));
    const qint32 video = createVideo(nodes[0]->baseUrl(), m_token, QStringLiteral("A8"));
    QVERIFY(video > 0);
    std::vector<Viewer> viewers(30);
    QVERIFY(connectSpread(viewers, nodes, video));
    QList<quint64> acked = postRoundRobin(nodes, video, QStringLiteral("before"), 9);

    proxy.setStalled(true);
    acked += postRoundRobin(nodes, video, QStringLiteral("stalled"), 15);
    // Nothing crosses node 2's bus connection now, yet every viewer gets every comment.
    QTRY_VERIFY_WITH_TIMEOUT(allHave(viewers, acked.size()), 10000);
    proxy.setStalled(false);
    acked += postRoundRobin(nodes, video, QStringLiteral("after"), 9);
    QCOMPARE(acked.size(), 33);
    const QList<quint64> expected = sorted(acked);
    QTRY_VERIFY_WITH_TIMEOUT(allHave(viewers, expected.size()), 30000);
    for (const auto& v : viewers) {
        QCOMPARE(v.connections, 1);
        QCOMPARE(v.reader->comments(), expected); // exactly once, in id order
    }
    double chainFills = 0;
    for (const auto& node : nodes)
        chainFills += metric(node->baseUrl(), QStringLiteral("livecomments_chain_gap_fills_total"));
    QVERIFY2(chainFills > 0, qPrintable(QString::number(chainFills)));
}

QList<quint64> TstCluster::postModeratedFlood(const QUrl& base, qint32 videoId, int rounds,
    QList<quint64>& moderatorIds, const QString& moderator, const QString& crowd)
{
    QList<HttpRequest> requests;
    for (int i = 0; i < rounds * 5; ++i) {
        requests.append(
            { "POST", endpoint(base, QStringLiteral("/videos/%1/comments").arg(videoId)),
                QStringLiteral("{\"text\":\"flood %1\"}").arg(i).toUtf8(),
                bearer(i % 5 == 0 ? moderator : crowd) });
    }
    const QList<HttpReply> replies = httpMany(requests, 10);
    QList<quint64> ids;
    for (int i = 0; i < replies.size(); ++i) {
        const QList<quint64> id = acknowledgedIds({ replies[i] });
        ids += id;
        if (i % 5 == 0)
            moderatorIds += id;
    }
    return ids;
}

// Hot-stream shaping in a cluster: a moderator posting far above the cap on node A (amid a crowd)
// reaches every viewer on node B with every comment, first over the bus, then while A's bus hop
// stalls, through B's chain gap fills from the store. The role travels in the comment itself
// (docs/fanout.md "Hot-stream shaping").
void TstCluster::moderatorCommentsShapedNowhere()
{
    FaultProxy proxy(m_redis.port());
    QVERIFY(proxy.start());
    Nodes nodes; // B first, A (posting, its bus through the proxy) last
    QVERIFY(startNodes(nodes, 2, QStringLiteral("roles"),
        { QStringLiteral("--viewer-rate-cap=2"), QStringLiteral("--rate-limit=off") },
        QStringLiteral("redis://127.0.0.1:%1").arg(proxy.port())));
    ServerProcess& a = *nodes[1];
    const QString moderator
        = a.token(QStringLiteral("8"), QStringLiteral("mod"), QStringLiteral("moderator"));
    const QString crowd = a.token(QStringLiteral("30"), QStringLiteral("crowd"));
    const qint32 video = createVideo(a.baseUrl(), m_token, QStringLiteral("roles"));
    QVERIFY(video > 0);
    std::vector<Viewer> viewers(3);
    QVERIFY(connectAll(viewers, nodes[0]->baseUrl(), video, 20000));
    QVERIFY(waitForShardSubscribers(video, 1));

    QList<quint64> moderated;
    QList<quint64> posted = postModeratedFlood(a.baseUrl(), video, 10, moderated, moderator, crowd);
    QCOMPARE(posted.size(), 50);
    const auto haveAll = [&](const QList<quint64>& ids) {
        return std::all_of(viewers.begin(), viewers.end(), [&](const Viewer& v) {
            const QList<quint64> got = v.reader->comments();
            return std::all_of(
                ids.begin(), ids.end(), [&](quint64 id) { return got.contains(id); });
        });
    };
    QTRY_VERIFY_WITH_TIMEOUT(haveAll(moderated), 10000);

    // A's bus hop stalls: B learns of A's comments from the store only.
    const double fillsBefore
        = metric(nodes[0]->baseUrl(), QStringLiteral("livecomments_gap_fills_total"));
    proxy.setStalled(true);
    QList<quint64> filled;
    posted += postModeratedFlood(a.baseUrl(), video, 5, filled, moderator, crowd);
    QCOMPARE(filled.size(), 5);
    moderated += filled;
    QTRY_VERIFY_WITH_TIMEOUT(haveAll(filled), 15000);
    // Delivered from the store: the gap fills counted every comment A posted meanwhile.
    QVERIFY2(metric(nodes[0]->baseUrl(), QStringLiteral("livecomments_gap_fills_total"))
            >= fillsBefore + 25,
        "the stalled node's comments did not come through a gap fill");
    proxy.setStalled(false);

    for (const auto& v : viewers) {
        const QList<quint64> got = v.reader->comments();
        QVERIFY(strictlyOrdered(got));
        // Shaping was on: the crowd was sampled, the moderator never.
        QVERIFY2(got.size() < posted.size(), qPrintable(QString::number(got.size())));
        for (const SseEvent& e : v.reader->events("comment")) {
            const QString role = e.json()
                                     .value(QStringLiteral("user"))
                                     .toObject()
                                     .value(QStringLiteral("role"))
                                     .toString();
            QCOMPARE(role,
                moderated.contains(e.id.toULongLong()) ? QStringLiteral("moderator")
                                                       : QStringLiteral("viewer"));
        }
    }
    // B's history has them as moderator's comments too.
    const HistoryPage page = getHistoryPage(
        nodes[0]->baseUrl(), QStringLiteral("/videos/%1/comments?limit=100").arg(video));
    int moderatorRows = 0;
    for (const auto& c : page.reply.json().value(QStringLiteral("comments")).toArray()) {
        const QJsonObject o = c.toObject();
        const bool byModerator
            = moderated.contains(o.value(QStringLiteral("id")).toString().toULongLong());
        QCOMPARE(
            o.value(QStringLiteral("user")).toObject().value(QStringLiteral("role")).toString(),
            byModerator ? QStringLiteral("moderator") : QStringLiteral("viewer"));
        moderatorRows += byModerator ? 1 : 0;
    }
    QCOMPARE(moderatorRows, 15);
}

// Acceptance 5: a node holds the video's sharded channel only while it has viewers of it.
void TstCluster::subscriptionFollowsViewers()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 2, QStringLiteral("a5")));
    const qint32 video = createVideo(nodes[0]->baseUrl(), m_token, QStringLiteral("A5"));
    QVERIFY(video > 0);
    QCOMPARE(shardSubscribers(video), 0);
    SseReader first, second, other;
    first.open(streamUrl(nodes[0]->baseUrl(), video));
    QVERIFY(first.waitForHello());
    QVERIFY(waitForShardSubscribers(video, 1));
    second.open(streamUrl(nodes[0]->baseUrl(), video));
    QVERIFY(second.waitForHello());
    other.open(streamUrl(nodes[1]->baseUrl(), video));
    QVERIFY(other.waitForHello());
    QVERIFY(waitForShardSubscribers(video, 2));
    first.close();
    QTest::qWait(300); // one viewer is left on node 0: it must keep its subscription
    QCOMPARE(shardSubscribers(video), 2);
    second.close();
    QVERIFY(waitForShardSubscribers(video, 1)); // node 0 unsubscribed after its last viewer
    other.close();
    QVERIFY(waitForShardSubscribers(video, 0));
}

// Acceptance 6: nodes without --node-id lease different ids; the viewer count of a video is the
// sum over the nodes.
void TstCluster::leasedNodeIdsAndClusterCounts()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 2, QStringLiteral("a6")));
    const QJsonObject a = healthOf(nodes[0]->baseUrl());
    const QJsonObject b = healthOf(nodes[1]->baseUrl());
    QVERIFY(a.contains(QStringLiteral("node_id")));
    QVERIFY(a.value(QStringLiteral("node_id")) != b.value(QStringLiteral("node_id")));
    QCOMPARE(metric(nodes[0]->baseUrl(), QStringLiteral("livecomments_node_id")),
        a.value(QStringLiteral("node_id")).toDouble());

    const qint32 video = createVideo(nodes[0]->baseUrl(), m_token, QStringLiteral("A6"));
    std::vector<std::unique_ptr<SseReader>> readers;
    for (int i = 0; i < 5; ++i) {
        readers.push_back(std::make_unique<SseReader>());
        readers.back()->open(streamUrl(nodes[i < 3 ? 0 : 1]->baseUrl(), video));
        QVERIFY(readers.back()->waitForHello());
    }
    const QString path = QStringLiteral("/videos/%1").arg(video);
    for (const auto& node : nodes)
        QTRY_COMPARE_WITH_TIMEOUT(http("GET", endpoint(node->baseUrl(), path))
                                      .json()
                                      .value(QStringLiteral("viewers"))
                                      .toInt(),
            5, 10000);
    // The `stats` event carries the cluster total too.
    QTRY_VERIFY_WITH_TIMEOUT(!readers.back()->events("stats").isEmpty()
            && readers.back()
                    ->events("stats")
                    .last()
                    .json()
                    .value(QStringLiteral("viewers"))
                    .toInt()
                == 5,
        10000);
    readers.front()->close();
    QTRY_COMPARE_WITH_TIMEOUT(http("GET", endpoint(nodes[1]->baseUrl(), path))
                                  .json()
                                  .value(QStringLiteral("viewers"))
                                  .toInt(),
        4, 10000);
}

// Acceptance 7: a bad configuration is a clear message and a non-zero exit before the node
// listens.
void TstCluster::badConfigurationExits_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    const quint16 closed = freeLoopbackPort();
    const QString retry = QStringLiteral("--connect-attempts=2");
    const QString within = QStringLiteral("--connect-timeout-ms=800");
    QTest::newRow("unreachable PostgreSQL") << QStringList {
        QStringLiteral("--store=postgresql://postgres@127.0.0.1:%1/x").arg(closed), retry, within
    } << QStringLiteral("127.0.0.1:%1").arg(closed);
    QTest::newRow("unreachable Redis")
        << QStringList { QStringLiteral("--bus=redis://127.0.0.1:%1").arg(closed), retry, within }
        << QStringLiteral("cannot reach Redis at 127.0.0.1:%1").arg(closed);
    QTest::newRow("malformed Redis URL")
        << QStringList { QStringLiteral("--bus=redis://127.0.0.1:99999") }
        << QStringLiteral("malformed Redis URL");
    QTest::newRow("not a Redis URL") << QStringList { QStringLiteral("--bus=http://x") }
                                     << QStringLiteral("--bus: expected redis://");
    QTest::newRow("malformed PostgreSQL URL")
        << QStringList { QStringLiteral("--store=postgresql://127.0.0.1:5432") }
        << QStringLiteral("postgresql://");
}

void TstCluster::badConfigurationExits()
{
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    ServerProcess node(args);
    QVERIFY(!node.start());
    QVERIFY(node.waitForExit(15000));
    QVERIFY(node.exitCode() != 0);
    QVERIFY2(node.log().contains(message.toUtf8()), node.log().constData());
    QVERIFY(!node.log().contains("listening on"));
}

void TstCluster::duplicateNodeIdExits()
{
    Nodes nodes;
    QVERIFY(startNodes(nodes, 1, QStringLiteral("a7"), { QStringLiteral("--node-id=77") }));
    QCOMPARE(healthOf(nodes[0]->baseUrl()).value(QStringLiteral("node_id")).toInt(), 77);
    ServerProcess twin({ QStringLiteral("--bus=") + m_redis.url(), QStringLiteral("--node-id=77"),
        QStringLiteral("--connect-attempts=1") });
    QVERIFY(!twin.start());
    QVERIFY(twin.waitForExit(15000));
    QCOMPARE(twin.exitCode(), 78);
    QVERIFY2(twin.log().contains("node id 77 is already in use"), twin.log().constData());
    // A graceful stop releases the lease at once (no ttl to wait out): the id is free again.
    QVERIFY(nodes[0]->terminate());
    QCOMPARE(nodes[0]->exitCode(), 0);
    QVERIFY(!m_redis.command({ QStringLiteral("EXISTS"), QStringLiteral("lc:node:77") }).toBool());
    QVERIFY(twin.start());
    QCOMPARE(healthOf(twin.baseUrl()).value(QStringLiteral("node_id")).toInt(), 77);
}

QTEST_GUILESS_MAIN(TstCluster)
#include "tst_cluster.moc"
