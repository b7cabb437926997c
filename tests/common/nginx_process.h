// SPDX-License-Identifier: MIT
#pragma once

#include <QList>
#include <QProcess>
#include <QString>
#include <QTemporaryDir>
#include <QUrl>

#include <memory>

namespace lctest {

/**
 * Runs a throwaway nginx on a free loopback port in front of the given nodes, with the
 * repository's own site file (packaging/nginx/livecomments-cluster.conf, found through
 * LC_SOURCE_DIR): only its upstream `server` lines and its `listen` port are replaced, so the tests
 * exercise exactly what an operator deploys. Everything (config, logs, temp files, pid) lives in a
 * temporary directory; the destructor stops nginx. Never touches the machine's own nginx.
 *
 * Threading: create and use on one thread (the test's main thread).
 */
class NginxProcess {
public:
    explicit NginxProcess(QList<quint16> nodePorts);
    ~NginxProcess();
    NginxProcess(const NginxProcess&) = delete;
    NginxProcess& operator=(const NginxProcess&) = delete;

    /// Terminates TLS with this certificate chain and key (PEM files) instead of plain HTTP;
    /// baseUrl() is then https://127.0.0.1:port. Call before start().
    void setTls(const QString& certFile, const QString& keyFile);
    /// Writes the config, starts nginx (daemon off) and waits until it accepts connections.
    /// Returns false (with a qWarning carrying nginx's error log) on failure.
    bool start();
    void stop();
    quint16 port() const { return m_port; }
    QUrl baseUrl() const;
    /// nginx's error log so far (diagnostics).
    QByteArray errorLog() const;
    /// The site file with the fixture's ports substituted (for diagnostics and for `dev.sh`).
    static QString siteConfig(
        const QString& siteFile, quint16 listenPort, const QList<quint16>& nodePorts);

private:
    QList<quint16> m_nodes;
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<QProcess> m_process;
    quint16 m_port = 0;
    QString m_tlsCert;
    QString m_tlsKey;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it back, close).
quint16 freeLoopbackPort();

} // namespace lctest
