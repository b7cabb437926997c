// SPDX-License-Identifier: MIT
#include "server_process.h"

#include "http_client.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QEventLoop>
#include <QJsonDocument>
#include <QMessageAuthenticationCode>
#include <QThread>
#include <QTimer>
#include <QtDebug>

#include <sys/resource.h>

#include <cstdio>

namespace lctest {

namespace {
constexpr int kStartTimeoutMs = 30000;
constexpr int kExitTimeoutMs = 30000;
constexpr qsizetype kLogCap = 256 * 1024;

bool hasOption(const QStringList& args, const QString& name)
{
    for (const QString& a : args) {
        if (a == name || a.startsWith(name + QLatin1Char('=')))
            return true;
    }
    return false;
}

QByteArray b64url(const QByteArray& in)
{
    return in.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}
} // namespace

void raiseFileLimit()
{
    static bool done = false;
    if (done)
        return;
    done = true;
    rlimit lim {};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

ServerProcess::ServerProcess(QStringList extraArgs)
    : m_extraArgs(std::move(extraArgs))
    , m_secret(kTestJwtSecret)
    , m_dir(std::make_unique<QTemporaryDir>())
{
    raiseFileLimit();
    if (hasOption(m_extraArgs, QStringLiteral("--dev")))
        m_secret = "livecomments-dev-secret"; // the documented dev secret (docs/server.md, --dev)
    for (const QString& a : m_extraArgs) {
        if (a.startsWith(QLatin1String("--jwt-secret=")))
            m_secret = a.mid(int(sizeof("--jwt-secret=")) - 1).toUtf8();
    }
}

ServerProcess::~ServerProcess()
{
    if (isRunning()) {
        m_process->terminate();
        if (!m_process->waitForFinished(5000)) {
            m_process->kill();
            m_process->waitForFinished(5000);
        }
    }
}

QString ServerProcess::serverBinary()
{
    return qEnvironmentVariable("LC_SERVER_BIN");
}

QUrl ServerProcess::baseUrl() const
{
    return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(m_port));
}

QString ServerProcess::tempDir() const
{
    return m_dir->path();
}

QString ServerProcess::storePath() const
{
    for (const QString& a : m_extraArgs) {
        if (a.startsWith(QLatin1String("--store=sqlite:")))
            return a.mid(int(sizeof("--store=sqlite:")) - 1);
    }
    return m_dir->filePath(QStringLiteral("livecomments.db"));
}

QStringList ServerProcess::arguments() const
{
    QStringList args = m_extraArgs;
    if (!hasOption(args, QStringLiteral("--store")))
        args << QStringLiteral("--store=sqlite:") + storePath();
    if (!hasOption(args, QStringLiteral("--jwt-secret"))
        && !hasOption(args, QStringLiteral("--dev")))
        args << QStringLiteral("--jwt-secret=") + QString::fromUtf8(m_secret);
    if (!hasOption(args, QStringLiteral("--rate-limit")))
        args << QStringLiteral("--rate-limit=off");
    // Tests post bursts and expect every stream to get every comment; shaping has its own test.
    if (!hasOption(args, QStringLiteral("--viewer-rate-cap")))
        args << QStringLiteral("--viewer-rate-cap=off");
    return args;
}

QByteArray ServerProcess::log() const
{
    return m_log;
}

void ServerProcess::captureOutput()
{
    static const bool echo = qEnvironmentVariableIntValue("LC_TEST_SERVER_LOG") != 0;
    const QByteArray err = m_process->readAllStandardError();
    const QByteArray out = m_process->readAllStandardOutput();
    for (const QByteArray* chunk : { &out, &err }) {
        if (chunk->isEmpty())
            continue;
        if (echo)
            fwrite(chunk->constData(), 1, size_t(chunk->size()), stderr);
        m_log += *chunk;
    }
    if (m_log.size() > kLogCap)
        m_log = m_log.right(kLogCap);
    // Find the readiness line on stdout ("listening on HOST:PORT").
    m_stdoutLine += out;
    qsizetype nl;
    while ((nl = m_stdoutLine.indexOf('\n')) >= 0) {
        const QByteArray line = m_stdoutLine.left(nl).trimmed();
        m_stdoutLine.remove(0, nl + 1);
        if (m_port == 0 && line.startsWith("listening on ")) {
            const qsizetype colon = line.lastIndexOf(':');
            m_port = quint16(line.mid(colon + 1).toUInt());
        }
    }
}

bool ServerProcess::start()
{
    return startOn(0);
}

bool ServerProcess::startOn(quint16 listenPort)
{
    const QString bin = serverBinary();
    if (bin.isEmpty()) {
        qWarning("ServerProcess: LC_SERVER_BIN is not set");
        return false;
    }
    if (isRunning()) {
        qWarning("ServerProcess: already running");
        return false;
    }
    resetHttpConnections();
    m_port = 0;
    m_stdoutLine.clear();
    m_process = std::make_unique<QProcess>();
    m_process->setProgram(bin);
    QStringList args = arguments();
    args.prepend(QStringLiteral("--listen=127.0.0.1:%1").arg(listenPort));
    m_process->setArguments(args);
    m_process->setWorkingDirectory(m_dir->path());
    QProcess* p = m_process.get();
    QObject::connect(p, &QProcess::readyReadStandardOutput, p, [this] { captureOutput(); });
    QObject::connect(p, &QProcess::readyReadStandardError, p, [this] { captureOutput(); });

    QEventLoop loop;
    QObject::connect(p, &QProcess::readyReadStandardOutput, &loop, [&] {
        if (m_port != 0)
            loop.quit();
    });
    QObject::connect(
        p, &QProcess::finished, &loop, [&](int, QProcess::ExitStatus) { loop.quit(); });
    QObject::connect(p, &QProcess::errorOccurred, &loop, [&](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart)
            loop.quit();
    });
    QTimer::singleShot(kStartTimeoutMs, &loop, &QEventLoop::quit);
    p->start();
    if (p->state() != QProcess::NotRunning || p->error() != QProcess::FailedToStart)
        loop.exec();
    captureOutput();
    if (m_port == 0 || p->state() != QProcess::Running) {
        qWarning().noquote() << "ServerProcess: server did not become ready:" << bin
                             << args.join(QLatin1Char(' ')) << "\n"
                             << QString::fromUtf8(m_log.right(4000));
        if (p->state() == QProcess::Running) {
            p->kill();
            p->waitForFinished(5000);
        }
        m_port = 0;
        return false;
    }
    return true;
}

bool ServerProcess::isRunning() const
{
    return m_process && m_process->state() != QProcess::NotRunning;
}

qint64 ServerProcess::pid() const
{
    return m_process ? m_process->processId() : 0;
}

void ServerProcess::sendTerm()
{
    if (isRunning())
        m_process->terminate();
}

bool ServerProcess::waitForExit(int timeoutMs)
{
    if (!m_process)
        return true;
    if (m_process->state() != QProcess::NotRunning) {
        QEventLoop loop;
        QObject::connect(m_process.get(), &QProcess::finished, &loop, &QEventLoop::quit);
        QTimer::singleShot(timeoutMs, &loop, &QEventLoop::quit);
        if (m_process->state() != QProcess::NotRunning)
            loop.exec();
    }
    if (m_process->state() != QProcess::NotRunning)
        return false;
    captureOutput();
    m_lastExitCode = m_process->exitCode();
    m_lastExitNormal = m_process->exitStatus() == QProcess::NormalExit;
    resetHttpConnections();
    return true;
}

int ServerProcess::exitCode() const
{
    return m_lastExitCode;
}

bool ServerProcess::exitedNormally() const
{
    return m_lastExitNormal;
}

bool ServerProcess::terminate()
{
    if (!isRunning()) {
        if (m_process) {
            waitForExit(0);
            qWarning().noquote() << "ServerProcess: server was no longer running (crashed="
                                 << !m_lastExitNormal << "exit code" << m_lastExitCode << ")\n"
                                 << QString::fromUtf8(m_log.right(4000));
        }
        return false;
    }
    m_process->terminate();
    if (!waitForExit(kExitTimeoutMs)) {
        qWarning().noquote() << "ServerProcess: no exit within" << kExitTimeoutMs
                             << "ms after SIGTERM; killing.\n"
                             << QString::fromUtf8(m_log.right(4000));
        kill9();
        return false;
    }
    if (!m_lastExitNormal || m_lastExitCode != 0) {
        qWarning().noquote() << "ServerProcess: exit after SIGTERM: normal=" << m_lastExitNormal
                             << "code=" << m_lastExitCode << "\n"
                             << QString::fromUtf8(m_log.right(4000));
    }
    return m_lastExitNormal && m_lastExitCode == 0;
}

void ServerProcess::kill9()
{
    if (!isRunning())
        return;
    m_process->kill();
    waitForExit(kExitTimeoutMs);
}

bool ServerProcess::restart(bool samePort)
{
    const quint16 old = m_port;
    if (isRunning() && !terminate())
        qWarning("ServerProcess::restart: previous run did not exit cleanly");
    if (samePort && old != 0) {
        // The old listening socket may linger for a moment; retry the same port a few times.
        QDeadlineTimer deadline(5000);
        while (!deadline.hasExpired()) {
            if (startOn(old))
                return true;
            QThread::msleep(200); // back-off between bind attempts, not waiting for a result
        }
        qWarning("ServerProcess::restart: port %u unavailable, using a new port", old);
    }
    return startOn(0);
}

QString ServerProcess::token(
    const QString& userId, const QString& name, const QString& role, qint64 ttlSeconds) const
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QJsonObject claims { { QStringLiteral("sub"), userId }, { QStringLiteral("name"), name },
        { QStringLiteral("role"), role }, { QStringLiteral("iat"), now },
        { QStringLiteral("exp"), now + ttlSeconds } };
    QJsonObject header { { QStringLiteral("alg"), QStringLiteral("HS256") },
        { QStringLiteral("typ"), QStringLiteral("JWT") } };
    return mintToken(m_secret, header, claims);
}

QString ServerProcess::mintToken(
    const QByteArray& secret, const QJsonObject& header, const QJsonObject& claims)
{
    const QByteArray signingInput = b64url(QJsonDocument(header).toJson(QJsonDocument::Compact))
        + '.' + b64url(QJsonDocument(claims).toJson(QJsonDocument::Compact));
    QByteArray signature;
    if (header.value(QStringLiteral("alg"))
            .toString()
            .compare(QLatin1String("none"), Qt::CaseInsensitive)
        != 0) {
        signature = b64url(
            QMessageAuthenticationCode::hash(signingInput, secret, QCryptographicHash::Sha256));
    }
    return QString::fromLatin1(signingInput + '.' + signature);
}

} // namespace lctest
