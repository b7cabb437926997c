// SPDX-License-Identifier: MIT
#include "redis_cluster_process.h"

#include <QTest>

namespace lctest {

namespace {

constexpr int kSlots = 16384;

/// `field:value` lines of CLUSTER INFO.
QString infoField(const QByteArray& info, const QByteArray& field)
{
    for (const QByteArray& line : info.split('\n')) {
        const QByteArray trimmed = line.trimmed();
        if (trimmed.startsWith(field + ':'))
            return QString::fromUtf8(trimmed.mid(field.size() + 1));
    }
    return {};
}

} // namespace

RedisClusterProcess::RedisClusterProcess(int masters, int replicasPerMaster)
    : m_masters(masters)
{
    for (int i = 0; i < masters * (1 + replicasPerMaster); ++i) {
        auto node = std::make_unique<RedisProcess>();
        // A short node timeout keeps a failure detection (and the tests) quick.
        node->setExtraArguments({ QStringLiteral("--cluster-enabled"), QStringLiteral("yes"),
            QStringLiteral("--cluster-node-timeout"), QStringLiteral("3000") });
        m_nodes.push_back(std::move(node));
    }
}

RedisClusterProcess::~RedisClusterProcess()
{
    stop();
}

bool RedisClusterProcess::fail(const QString& why)
{
    m_error = why;
    qWarning("RedisClusterProcess: %s", qPrintable(why));
    return false;
}

bool RedisClusterProcess::start()
{
    // A node's cluster bus listens on its port + 10000; redis-server refuses ports above 55535
    // and exits when the bus port is taken, and RedisProcess::start() then tries another port.
    for (auto& node : m_nodes) {
        if (!node->start())
            return fail(
                QStringLiteral("a cluster node did not start:\n") + QString::fromUtf8(node->log()));
    }
    const int n = m_masters;
    for (int i = 0; i < n; ++i) {
        QString error;
        // Distinct config epochs, as redis-cli --cluster create sets them: no epoch collision to
        // resolve before the cluster is stable.
        command(i,
            { QStringLiteral("CLUSTER"), QStringLiteral("SET-CONFIG-EPOCH"),
                QString::number(i + 1) },
            &error);
        if (!error.isEmpty())
            return fail(QStringLiteral("SET-CONFIG-EPOCH: ") + error);
        const int first = kSlots * i / n;
        const int last = kSlots * (i + 1) / n - 1;
        command(i,
            { QStringLiteral("CLUSTER"), QStringLiteral("ADDSLOTSRANGE"), QString::number(first),
                QString::number(last) },
            &error);
        if (!error.isEmpty())
            return fail(QStringLiteral("ADDSLOTSRANGE: ") + error);
    }
    for (int i = 1; i < size(); ++i) {
        QString error;
        command(0,
            { QStringLiteral("CLUSTER"), QStringLiteral("MEET"), QStringLiteral("127.0.0.1"),
                QString::number(port(i)) },
            &error);
        if (!error.isEmpty())
            return fail(QStringLiteral("CLUSTER MEET: ") + error);
    }
    // A replica can only follow a master it knows: after the MEETs have spread.
    const bool known = QTest::qWaitFor(
        [this] {
            for (int i = 0; i < size(); ++i) {
                const QByteArray info
                    = command(i, { QStringLiteral("CLUSTER"), QStringLiteral("INFO") })
                          .toByteArray();
                if (infoField(info, "cluster_known_nodes").toInt() != size())
                    return false;
            }
            return true;
        },
        30000);
    if (!known)
        return fail(QStringLiteral("the nodes did not all meet"));
    const int replicas = (size() - m_masters) / std::max(1, m_masters);
    for (int i = m_masters; i < size(); ++i) {
        QString error;
        const int master = (i - m_masters) / std::max(1, replicas);
        command(
            i, { QStringLiteral("CLUSTER"), QStringLiteral("REPLICATE"), nodeId(master) }, &error);
        if (!error.isEmpty())
            return fail(QStringLiteral("CLUSTER REPLICATE: ") + error);
    }
    if (!waitForOk() || !QTest::qWaitFor([this] { return replicasLinked(); }, 30000))
        return fail(QStringLiteral("the cluster did not reach cluster_state:ok"));
    return true;
}

bool RedisClusterProcess::replicasLinked() const
{
    for (int i = m_masters; i < size(); ++i) {
        const QByteArray info
            = command(i, { QStringLiteral("INFO"), QStringLiteral("replication") }).toByteArray();
        if (infoField(info, "master_link_status") != QStringLiteral("up"))
            return false;
    }
    return true;
}

int RedisClusterProcess::anyRunning() const
{
    for (int i = 0; i < size(); ++i) {
        if (isRunning(i))
            return i;
    }
    return -1;
}

void RedisClusterProcess::stop()
{
    for (auto& node : m_nodes)
        node->stop();
}

bool RedisClusterProcess::isOk() const
{
    for (int i = 0; i < size(); ++i) {
        if (!isRunning(i))
            continue; // a killed node, until restart()
        const QByteArray info
            = command(i, { QStringLiteral("CLUSTER"), QStringLiteral("INFO") }).toByteArray();
        if (infoField(info, "cluster_state") != QStringLiteral("ok")
            || infoField(info, "cluster_known_nodes").toInt() != size()
            || infoField(info, "cluster_slots_ok").toInt() != kSlots)
            return false;
    }
    return true;
}

bool RedisClusterProcess::waitForOk(int timeoutMs) const
{
    return QTest::qWaitFor([this] { return isOk(); }, timeoutMs);
}

bool RedisClusterProcess::restart(int i)
{
    if (!m_nodes.at(std::size_t(i))->restart())
        return fail(QStringLiteral("node %1 did not restart").arg(i));
    if (!waitForOk())
        return fail(QStringLiteral("the cluster did not heal after node %1 restarted").arg(i));
    return true;
}

QVariant RedisClusterProcess::command(int i, const QStringList& args, QString* error) const
{
    return m_nodes.at(std::size_t(i))->command(args, error);
}

int RedisClusterProcess::keySlot(const QString& key) const
{
    bool ok = false;
    const QVariant value
        = command(anyRunning(), { QStringLiteral("CLUSTER"), QStringLiteral("KEYSLOT"), key });
    const int slot = value.toInt(&ok);
    return ok ? slot : -1;
}

int RedisClusterProcess::ownerOfSlot(int slot, int via) const
{
    const QVariantList ranges
        = command(via, { QStringLiteral("CLUSTER"), QStringLiteral("SLOTS") }).toList();
    for (const QVariant& entry : ranges) {
        const QVariantList range = entry.toList();
        if (range.size() < 3 || slot < range.at(0).toInt() || slot > range.at(1).toInt())
            continue;
        const int ownerPort = range.at(2).toList().value(1).toInt();
        for (int i = 0; i < size(); ++i) {
            if (port(i) == ownerPort)
                return i;
        }
    }
    return -1;
}

QString RedisClusterProcess::nodeId(int i) const
{
    return QString::fromUtf8(
        command(i, { QStringLiteral("CLUSTER"), QStringLiteral("MYID") }).toByteArray());
}

bool RedisClusterProcess::beginSlotMigration(int slot, int to)
{
    const int from = ownerOfSlot(slot);
    if (from < 0 || from == to)
        return fail(QStringLiteral("slot %1: no owner or already on node %2").arg(slot).arg(to));
    const QString number = QString::number(slot);
    QString error;
    command(to,
        { QStringLiteral("CLUSTER"), QStringLiteral("SETSLOT"), number, QStringLiteral("IMPORTING"),
            nodeId(from) },
        &error);
    if (error.isEmpty())
        command(from,
            { QStringLiteral("CLUSTER"), QStringLiteral("SETSLOT"), number,
                QStringLiteral("MIGRATING"), nodeId(to) },
            &error);
    while (error.isEmpty()) {
        const QVariantList keys = command(from,
            { QStringLiteral("CLUSTER"), QStringLiteral("GETKEYSINSLOT"), number,
                QStringLiteral("100") },
            &error)
                                      .toList();
        if (keys.isEmpty())
            break;
        QStringList migrate { QStringLiteral("MIGRATE"), QStringLiteral("127.0.0.1"),
            QString::number(port(to)), QString(), QStringLiteral("0"), QStringLiteral("5000"),
            QStringLiteral("KEYS") };
        for (const QVariant& key : keys)
            migrate << QString::fromUtf8(key.toByteArray());
        command(from, migrate, &error);
    }
    return error.isEmpty() || fail(QStringLiteral("slot migration: ") + error);
}

bool RedisClusterProcess::finishSlotMigration(int slot, int to)
{
    // The target first, then the others, as redis-cli does: the source then redirects with
    // -MOVED to a node that already knows it owns the slot.
    QString error;
    for (int i = 0; i < size() && error.isEmpty(); ++i) {
        const int node = (to + i) % size();
        command(node,
            { QStringLiteral("CLUSTER"), QStringLiteral("SETSLOT"), QString::number(slot),
                QStringLiteral("NODE"), nodeId(to) },
            &error);
    }
    if (!error.isEmpty())
        return fail(QStringLiteral("CLUSTER SETSLOT NODE: ") + error);
    const bool agreed = QTest::qWaitFor(
        [&] {
            for (int i = 0; i < size(); ++i) {
                if (ownerOfSlot(slot, i) != to)
                    return false;
            }
            return true;
        },
        15000);
    return agreed
        || fail(QStringLiteral("the nodes do not agree on the owner of slot %1").arg(slot));
}

} // namespace lctest
