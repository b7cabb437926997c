// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <QVariant>

#include <memory>

namespace lctest {

/**
 * A throwaway `redis-server` (path from env LC_REDIS_SERVER, else redis-server on PATH) on a free
 * loopback port: `--port N --bind 127.0.0.1 --save '' --appendonly no --dir <tmp>`, plus
 * `--requirepass` when a password is given. Never touches the machine's own Redis service.
 *
 * kill9() and restart() keep the port, so clients configured with url() can reconnect to the
 * new process. The destructor always stops the server.
 *
 * Threading: create and use on one thread (QProcess).
 */
class RedisProcess {
public:
    explicit RedisProcess(const QString& password = {});
    ~RedisProcess();
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;

    /// Extra redis-server arguments (e.g. `--cluster-enabled yes`), appended at every start.
    void setExtraArguments(const QStringList& arguments) { m_extraArguments = arguments; }
    /// Picks a free port, starts the server and waits (up to 15 s) until it answers PING.
    bool start();
    /// SIGKILL and wait for the exit (a crash: nothing is saved, clients see a reset).
    void kill9();
    /// Starts again on the same port (retried for a few seconds while it is still taken).
    bool restart();
    /// SIGSTOP: the server hangs with its connections open (a stalled or unreachable host).
    void pause();
    /// SIGCONT after pause().
    void resume();
    /// SIGTERM, then SIGKILL if it has not exited within 5 s.
    void stop();
    bool isRunning() const;

    quint16 port() const { return m_port; }
    /// redis://127.0.0.1:PORT, or redis://:PASSWORD@127.0.0.1:PORT with a password.
    QString url() const;

    /**
     * Runs one command on a fresh connection (AUTH first when there is a password) and returns
     * the reply: qint64 for integers, QByteArray for strings, QVariantList for arrays, an invalid
     * QVariant for null. An error reply or transport failure gives an invalid QVariant and sets
     * *error.
     */
    QVariant command(const QStringList& args, QString* error = nullptr) const;
    /// True when the server answers PING with PONG.
    bool ping() const;
    /// What the server printed so far (last 64 KiB).
    QByteArray log() const { return m_log; }
    /// Path of the redis-server binary.
    static QString binary();

private:
    bool startOnPort();

    QString m_password;
    QStringList m_extraArguments;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_process;
    QByteArray m_log;
    quint16 m_port = 0;
};

} // namespace lctest
