// SPDX-License-Identifier: MIT
#pragma once

#include "redis_process.h"

#include <QString>
#include <QStringList>
#include <QVariant>

#include <memory>
#include <vector>

namespace lctest {

/**
 * A throwaway Redis Cluster: `masters` redis-server processes (RedisProcess, each in its own
 * temporary directory with its nodes.conf) started with `--cluster-enabled yes` on free loopback
 * ports, the 16384 slots split evenly among them (CLUSTER ADDSLOTSRANGE), joined with CLUSTER
 * MEET, plus `replicasPerMaster` replicas of each (CLUSTER REPLICATE; nodes masters.. in master
 * order). start() returns once every node reports cluster_state:ok and every replica is linked to
 * its master. The destructor always stops every node.
 *
 * restart(i) kills node i and starts it again on the same port and directory: it comes back as
 * the same node (nodes.conf) owning the same slots, with no data (no persistence).
 *
 * Threading: create and use on one thread (QProcess).
 */
class RedisClusterProcess {
public:
    explicit RedisClusterProcess(int masters = 3, int replicasPerMaster = 0);
    ~RedisClusterProcess();
    RedisClusterProcess(const RedisClusterProcess&) = delete;
    RedisClusterProcess& operator=(const RedisClusterProcess&) = delete;

    /// Starts the nodes, assigns the slots, joins them and waits (up to 30 s) for the cluster.
    bool start();
    /// Stops every node.
    void stop();
    /// True when every running node reports cluster_state:ok, knows every node and sees every slot
    /// served.
    bool isOk() const;
    /// Waits until isOk().
    bool waitForOk(int timeoutMs = 30000) const;
    /// SIGKILL of node i (a crashed master; its slots are unserved until restart()).
    void kill9(int i) { m_nodes.at(std::size_t(i))->kill9(); }
    /// SIGKILL of node i (if still running) and a start on the same port; waits for the cluster
    /// to be ok again.
    bool restart(int i);

    /// Nodes, replicas included.
    int size() const { return static_cast<int>(m_nodes.size()); }
    /// Nodes started as masters (0 .. masters()-1).
    int masters() const { return m_masters; }
    bool isRunning(int i) const { return m_nodes.at(std::size_t(i))->isRunning(); }
    quint16 port(int i) const { return m_nodes.at(std::size_t(i))->port(); }
    /// redis://127.0.0.1:PORT of node i (any node is a valid seed).
    QString url(int i = 0) const { return m_nodes.at(std::size_t(i))->url(); }
    /// Runs a command on node i (see RedisProcess::command).
    QVariant command(int i, const QStringList& args, QString* error = nullptr) const;
    /// The slot of `key` as the cluster computes it (CLUSTER KEYSLOT), or -1.
    int keySlot(const QString& key) const;
    /// The index of the node owning `key`'s slot (from CLUSTER SLOTS of a running node), or -1.
    int ownerOf(const QString& key) const { return ownerOfSlot(keySlot(key), anyRunning()); }
    /// The index of the node owning `slot` as node `via` sees it (CLUSTER SLOTS), or -1.
    int ownerOfSlot(int slot, int via = 0) const;
    /// The first running node (to ask while others are down), or -1.
    int anyRunning() const;
    /// The id of node i (CLUSTER MYID).
    QString nodeId(int i) const;

    /**
     * Starts moving `slot` to node `to` as `redis-cli --cluster reshard` does: CLUSTER SETSLOT
     * IMPORTING on the target, MIGRATING on the source, then MIGRATE of every key in the slot.
     * Until finishSlotMigration() the source answers -ASK for the keys that moved.
     */
    bool beginSlotMigration(int slot, int to);
    /// CLUSTER SETSLOT <slot> NODE <to> on every node; waits until every node sees the new owner.
    bool finishSlotMigration(int slot, int to);
    /// What went wrong in start() / restart().
    QString errorString() const { return m_error; }

private:
    bool fail(const QString& why);
    bool replicasLinked() const;

    std::vector<std::unique_ptr<RedisProcess>> m_nodes;
    int m_masters = 0;
    QString m_error;
};

} // namespace lctest
