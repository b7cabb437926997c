// SPDX-License-Identifier: MIT
#pragma once

#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

namespace lctest {

/**
 * A throwaway PostgreSQL server for one test run: `initdb` into a temporary directory, `pg_ctl
 * start` on a free loopback port with its socket in that directory, trust authentication for the
 * `postgres` user, fsync off (tests need speed, not crash safety). Never touches the machine's
 * own PostgreSQL service or its data.
 *
 * Run as root, the server binaries run as the `postgres` OS user (`runuser -u postgres`), since
 * PostgreSQL refuses to run as root; otherwise as the current user. The binaries come from
 * $LC_PG_BINDIR, else the newest /usr/lib/postgresql/<version>/bin.
 *
 * start() fails (false, errorString() says what to install or what went wrong) — it never skips.
 * The destructor stops the server (`pg_ctl stop -m immediate`) and deletes the directory; a test
 * process killed before its destructor ran leaves both behind, and the next start() of any fixture
 * stops and removes them (stopOrphans()).
 *
 * Threading: use from one thread; the calls block on QProcess::waitFor*.
 */
class PostgresProcess {
public:
    PostgresProcess();
    ~PostgresProcess();
    PostgresProcess(const PostgresProcess&) = delete;
    PostgresProcess& operator=(const PostgresProcess&) = delete;

    /// initdb + start (up to 3 tries on port races). True when the server accepts connections.
    bool start();
    /// Stops the server at once (immediate shutdown). Idempotent.
    void stop();
    /// Why start() or createDatabase() failed.
    QString errorString() const { return m_error; }
    quint16 port() const { return m_port; }
    /// postgresql://postgres@127.0.0.1:PORT/<database>
    QString url(const QString& database = QStringLiteral("postgres")) const;
    /// Creates an empty database and returns its url(); empty (see errorString()) on failure.
    QString createDatabase(const QString& name);
    /// Runs `sql` with psql in `database` and returns its unaligned, tuples-only output (rows
    /// separated by newlines, trailing newline removed); a null QString (see errorString()) on
    /// failure.
    QString query(const QString& database, const QString& sql);
    /// The server log (for diagnostics in failure messages).
    QString log() const;

private:
    bool startOnce();
    /// Stops the servers and removes the directories of earlier fixtures whose test process is
    /// gone (each directory holds its owner's pid in owner.pid).
    void stopOrphans();
    /// Runs a PostgreSQL binary (as `postgres` when root); false with m_error on failure.
    bool run(const QString& binary, const QStringList& args, int timeoutMs = 60000,
        QString* output = nullptr);

    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_binDir;
    QString m_dataDir;
    QString m_socketDir;
    quint16 m_port = 0;
    bool m_running = false;
    QString m_error;
};

} // namespace lctest
