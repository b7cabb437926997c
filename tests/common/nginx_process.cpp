// SPDX-License-Identifier: MIT
#include "nginx_process.h"

#include <QDeadlineTimer>
#include <QFile>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>

#include <unistd.h>

namespace lctest {

quint16 freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

NginxProcess::NginxProcess(QList<quint16> nodePorts)
    : m_nodes(std::move(nodePorts))
{ }

NginxProcess::~NginxProcess()
{
    stop();
}

QUrl NginxProcess::baseUrl() const
{
    return QUrl(QStringLiteral("%1://127.0.0.1:%2")
                    .arg(m_tlsCert.isEmpty() ? QStringLiteral("http") : QStringLiteral("https"))
                    .arg(m_port));
}

void NginxProcess::setTls(const QString& certFile, const QString& keyFile)
{
    m_tlsCert = certFile;
    m_tlsKey = keyFile;
}

QString NginxProcess::siteConfig(
    const QString& siteFile, quint16 listenPort, const QList<quint16>& nodePorts)
{
    QFile f(siteFile);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    QString text = QString::fromUtf8(f.readAll());
    // Drop the example's node lines, then put ours where the first one was.
    static const QRegularExpression nodeLine(
        QStringLiteral("^(\\s*)server\\s+127\\.0\\.0\\.1:\\d+([^;\\n]*);\\s*$"),
        QRegularExpression::MultilineOption);
    const QRegularExpressionMatch first = nodeLine.match(text);
    if (!first.hasMatch())
        return {};
    QString nodes;
    for (quint16 p : nodePorts)
        nodes += QStringLiteral("%1server 127.0.0.1:%2%3;\n")
                     .arg(first.captured(1))
                     .arg(p)
                     .arg(first.captured(2));
    const qsizetype at = first.capturedStart();
    text.remove(nodeLine);
    text.insert(at, nodes);
    static const QRegularExpression listen(QStringLiteral("listen\\s+127\\.0\\.0\\.1:\\d+;"));
    text.replace(listen, QStringLiteral("listen 127.0.0.1:%1;").arg(listenPort));
    return text;
}

bool NginxProcess::start()
{
    const QString nginx = QStandardPaths::findExecutable(QStringLiteral("nginx"),
        { QStringLiteral("/usr/sbin"), QStringLiteral("/usr/local/sbin") });
    if (nginx.isEmpty()) {
        qWarning("nginx is not installed (./dev.sh installs Debian's nginx)");
        return false;
    }
    const QString site = qEnvironmentVariable("LC_SOURCE_DIR")
        + QStringLiteral("/packaging/nginx/livecomments-cluster.conf");
    m_dir = std::make_unique<QTemporaryDir>();
    m_port = freeLoopbackPort();
    QString siteText = siteConfig(site, m_port, m_nodes);
    if (!m_tlsCert.isEmpty()) {
        siteText.replace(QStringLiteral("listen 127.0.0.1:%1;").arg(m_port),
            QStringLiteral("listen 127.0.0.1:%1 ssl;\n    ssl_certificate %2;\n"
                           "    ssl_certificate_key %3;")
                .arg(m_port)
                .arg(m_tlsCert, m_tlsKey));
    }
    if (siteText.isEmpty()) {
        qWarning("cannot read or adapt %s", qPrintable(site));
        return false;
    }
    const QString dir = m_dir->path();
    QFile siteOut(dir + QStringLiteral("/site.conf"));
    siteOut.open(QIODevice::WriteOnly);
    siteOut.write(siteText.toUtf8());
    siteOut.close();
    // The workers run as root when the tests do: the temp paths are the fixture's own.
    const QString main = QStringLiteral(
        "%1daemon off;\n"
        "worker_processes 1;\n"
        "pid %2/nginx.pid;\n"
        "error_log %2/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        "  access_log off;\n"
        "  client_body_temp_path %2/body; proxy_temp_path %2/proxy;\n"
        "  fastcgi_temp_path %2/fastcgi; uwsgi_temp_path %2/uwsgi; scgi_temp_path %2/scgi;\n"
        "  include %2/site.conf;\n"
        "}\n")
                             .arg(geteuid() == 0 ? QStringLiteral("user root;\n") : QString(), dir);
    QFile mainOut(dir + QStringLiteral("/nginx.conf"));
    mainOut.open(QIODevice::WriteOnly);
    mainOut.write(main.toUtf8());
    mainOut.close();

    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    m_process->start(nginx,
        { QStringLiteral("-p"), dir, QStringLiteral("-c"), dir + QStringLiteral("/nginx.conf"),
            QStringLiteral("-e"), dir + QStringLiteral("/error.log") });
    if (!m_process->waitForStarted(10000)) {
        qWarning("nginx did not start: %s", qPrintable(m_process->errorString()));
        return false;
    }
    const QDeadlineTimer deadline(10000);
    while (!deadline.hasExpired()) {
        if (m_process->state() != QProcess::Running) {
            qWarning(
                "nginx exited: %s\n%s", m_process->readAll().constData(), errorLog().constData());
            return false;
        }
        QTcpSocket s;
        s.connectToHost(QHostAddress::LocalHost, m_port);
        if (s.waitForConnected(200))
            return true;
        QThread::msleep(50);
    }
    qWarning("nginx did not accept connections: %s", errorLog().constData());
    return false;
}

void NginxProcess::stop()
{
    if (!m_process || m_process->state() == QProcess::NotRunning)
        return;
    m_process->terminate(); // SIGTERM: fast shutdown of master and workers
    if (!m_process->waitForFinished(5000)) {
        m_process->kill();
        m_process->waitForFinished(5000);
    }
}

QByteArray NginxProcess::errorLog() const
{
    if (!m_dir)
        return {};
    QFile f(m_dir->path() + QStringLiteral("/error.log"));
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace lctest
