// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <QUrl>

#include <memory>

namespace lctest {

/// The JWT secret every ServerProcess passes with --jwt-secret (unless overridden in extraArgs).
inline constexpr char kTestJwtSecret[] = "lc-test-secret-do-not-use-in-production";

/**
 * Runs the REAL `livecomments-server` binary (path from env LC_SERVER_BIN) as a child process on
 * `--listen=127.0.0.1:0` with a temporary SQLite store, `--jwt-secret=<kTestJwtSecret>` and
 * `--rate-limit=off` and `--viewer-rate-cap=off` (each default is dropped when extraArgs already
 * carries that option).
 *
 * The temporary directory lives as long as the fixture, so restart() reuses the same store.
 * stdout/stderr are captured (the last 256 KiB, see log()); set LC_TEST_SERVER_LOG=1 to also echo
 * them to the test's stderr.
 *
 * Threading: create and use on one thread that runs a Qt event loop (the test's main thread);
 * start()/terminate()/restart() block with QProcess::waitFor*.
 */
class ServerProcess {
public:
    explicit ServerProcess(QStringList extraArgs = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    /// Starts the server and waits (up to 30 s) for `listening on HOST:PORT` on stdout.
    /// Returns false (with a qWarning carrying the captured output) on failure.
    bool start();
    quint16 port() const { return m_port; }
    /// http://127.0.0.1:PORT
    QUrl baseUrl() const;
    /// Path of the SQLite file (the part after `sqlite:`).
    QString storePath() const;
    /// Directory the store lives in (a fixture-lifetime temporary dir); tests may put files there.
    QString tempDir() const;

    /// SIGTERM, wait (up to 30 s) for exit; true when it exited normally with code 0.
    bool terminate();
    /// Sends SIGTERM and returns at once (tests that watch streams during shutdown).
    void sendTerm();
    /// Waits for the process to exit; true when it did within timeoutMs.
    bool waitForExit(int timeoutMs = 30000);
    /// Exit code and status of the last run (valid after it exited).
    int exitCode() const;
    bool exitedNormally() const;
    /// SIGKILL and wait.
    void kill9();
    /// Starts again on the same store, and on the same port when samePort and that port is free
    /// (retried for a few seconds; falls back to a new port otherwise).
    bool restart(bool samePort = true);
    bool isRunning() const;
    qint64 pid() const;

    /// The arguments of the next/last start (without --listen), for diagnostics.
    QStringList arguments() const;
    /// Everything the server wrote to stdout and stderr so far (last 256 KiB).
    QByteArray log() const;

    /// An HS256 JWT signed with the fixture's secret: claims sub, name, role, iat, exp = now + ttl
    /// (a negative ttl gives an expired token).
    QString token(const QString& userId, const QString& name = QStringLiteral("user"),
        const QString& role = QStringLiteral("viewer"), qint64 ttlSeconds = 3600) const;
    /// The secret the server was started with.
    QByteArray jwtSecret() const { return m_secret; }

    /// base64url(header).base64url(claims).base64url(HMAC-SHA256(secret, first two parts)).
    /// When header.alg is "none" the signature part is empty (for negative tests).
    static QString mintToken(
        const QByteArray& secret, const QJsonObject& header, const QJsonObject& claims);
    /// Path of the server binary from LC_SERVER_BIN (empty when unset).
    static QString serverBinary();

private:
    bool startOn(quint16 listenPort);
    void captureOutput();

    QStringList m_extraArgs;
    QByteArray m_secret;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_process;
    QByteArray m_log;
    QByteArray m_stdoutLine;
    quint16 m_port = 0;
    int m_lastExitCode = -1;
    bool m_lastExitNormal = false;
};

/// Raises RLIMIT_NOFILE soft → hard for this process (idempotent; done by ServerProcess too).
void raiseFileLimit();

} // namespace lctest
