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
 * MEET, no replicas. start() returns once every node reports cluster_state:ok. The destructor
 * always stops every node.
 *
 * restart(i) kills node i and starts it again on the same port and directory: it comes back as
 * the same node (nodes.conf) owning the same slots, with no data (no persistence).
 *
 * Threading: create and use on one thread (QProcess).
 */
class RedisClusterProcess {
public:
    explicit RedisClusterProcess(int masters = 3);
    ~RedisClusterProcess();
    RedisClusterProcess(const RedisClusterProcess&) = delete;
    RedisClusterProcess& operator=(const RedisClusterProcess&) = delete;

    /// Starts the nodes, assigns the slots, joins them and waits (up to 30 s) for the cluster.
    bool start();
    /// Stops every node.
    void stop();
    /// True when every running node reports cluster_state:ok and knows every master.
    bool isOk() const;
    /// Waits until isOk().
    bool waitForOk(int timeoutMs = 30000) const;
    /// SIGKILL of node i (a crashed master; its slots are unserved until restart()).
    void kill9(int i) { m_nodes.at(std::size_t(i))->kill9(); }
    /// SIGKILL of node i (if still running) and a start on the same port; waits for the cluster
    /// to be ok again.
    bool restart(int i);

    int size() const { return static_cast<int>(m_nodes.size()); }
    quint16 port(int i) const { return m_nodes.at(std::size_t(i))->port(); }
    /// redis://127.0.0.1:PORT of node i (any node is a valid seed).
    QString url(int i = 0) const { return m_nodes.at(std::size_t(i))->url(); }
    /// Runs a command on node i (see RedisProcess::command).
    QVariant command(int i, const QStringList& args, QString* error = nullptr) const;
    /// The slot of `key` as the cluster computes it (CLUSTER KEYSLOT), or -1.
    int keySlot(const QString& key) const;
    /// The index of the node owning `key`'s slot (from CLUSTER SLOTS of node 0), or -1.
    int ownerOf(const QString& key) const { return ownerOfSlot(keySlot(key)); }
    /// The index of the node owning `slot` as node `via` sees it (CLUSTER SLOTS), or -1.
    int ownerOfSlot(int slot, int via = 0) const;
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

    std::vector<std::unique_ptr<RedisProcess>> m_nodes;
    QString m_error;
};

} // namespace lctest
