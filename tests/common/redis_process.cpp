// SPDX-License-Identifier: MIT
#include "redis_process.h"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>
#include <QtDebug>

#include <csignal>

namespace lctest {

namespace {

constexpr int kLogLimit = 64 * 1024;

quint16 freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

/// Reads one CRLF-terminated line (without the CRLF) before the deadline.
bool readLine(QTcpSocket& socket, QByteArray& line, const QDeadlineTimer& deadline)
{
    while (!socket.canReadLine()) {
        if (deadline.hasExpired() || !socket.waitForReadyRead(int(deadline.remainingTime())))
            return false;
    }
    line = socket.readLine();
    line.chop(2);
    return true;
}

bool readExact(QTcpSocket& socket, qint64 n, QByteArray& out, const QDeadlineTimer& deadline)
{
    while (socket.bytesAvailable() < n) {
        if (deadline.hasExpired() || !socket.waitForReadyRead(int(deadline.remainingTime())))
            return false;
    }
    out = socket.read(n);
    return true;
}

/// A small RESP2 reader: enough for the replies the tests look at.
bool readReply(QTcpSocket& socket, QVariant& value, QString& error, const QDeadlineTimer& deadline)
{
    QByteArray line;
    if (!readLine(socket, line, deadline) || line.isEmpty()) {
        error = QStringLiteral("no reply from Redis");
        return false;
    }
    const char kind = line.at(0);
    const QByteArray rest = line.mid(1);
    switch (kind) {
    case '+':
        value = rest;
        return true;
    case '-':
        error = QString::fromUtf8(rest);
        value = QVariant();
        return true;
    case ':':
        value = rest.toLongLong();
        return true;
    case '$': {
        const qint64 n = rest.toLongLong();
        if (n < 0) {
            value = QVariant();
            return true;
        }
        QByteArray data;
        if (!readExact(socket, n + 2, data, deadline)) {
            error = QStringLiteral("truncated bulk string");
            return false;
        }
        data.chop(2);
        value = data;
        return true;
    }
    case '*': {
        const qint64 n = rest.toLongLong();
        if (n < 0) {
            value = QVariant();
            return true;
        }
        QVariantList items;
        for (qint64 i = 0; i < n; ++i) {
            QVariant item;
            if (!readReply(socket, item, error, deadline))
                return false;
            items.append(item);
        }
        value = items;
        return true;
    }
    default:
        error = QStringLiteral("unknown RESP type '%1'").arg(QChar(kind));
        return false;
    }
}

QByteArray encodeCommand(const QStringList& args)
{
    QByteArray out = "*" + QByteArray::number(args.size()) + "\r\n";
    for (const auto& arg : args) {
        const QByteArray bytes = arg.toUtf8();
        out += "$" + QByteArray::number(bytes.size()) + "\r\n" + bytes + "\r\n";
    }
    return out;
}

} // namespace

RedisProcess::RedisProcess(const QString& password)
    : m_password(password)
{ }

RedisProcess::~RedisProcess()
{
    stop();
}

QString RedisProcess::binary()
{
    QString fromEnv = qEnvironmentVariable("LC_REDIS_SERVER");
    if (!fromEnv.isEmpty())
        return fromEnv;
    return QStandardPaths::findExecutable(QStringLiteral("redis-server"));
}

QString RedisProcess::url() const
{
    const QString auth = m_password.isEmpty() ? QString() : QStringLiteral(":%1@").arg(m_password);
    return QStringLiteral("redis://") + auth + QStringLiteral("127.0.0.1:")
        + QString::number(m_port);
}

bool RedisProcess::start()
{
    if (binary().isEmpty()) {
        qWarning("RedisProcess: redis-server not found (set LC_REDIS_SERVER)");
        return false;
    }
    m_dir = std::make_unique<QTemporaryDir>();
    // Another process may grab the probed port before redis-server binds it: try a few ports.
    for (int attempt = 0; attempt < 5; ++attempt) {
        m_port = freeLoopbackPort();
        if (m_port != 0 && startOnPort())
            return true;
    }
    qWarning().noquote() << "RedisProcess: redis-server did not start:\n" << m_log;
    return false;
}

bool RedisProcess::startOnPort()
{
    m_process = std::make_unique<QProcess>();
    m_process->setProcessChannelMode(QProcess::MergedChannels);
    QObject::connect(m_process.get(), &QProcess::readyRead, m_process.get(), [this] {
        m_log += m_process->readAll();
        if (m_log.size() > kLogLimit)
            m_log = m_log.right(kLogLimit);
    });
    QStringList args { QStringLiteral("--port"), QString::number(m_port), QStringLiteral("--bind"),
        QStringLiteral("127.0.0.1"), QStringLiteral("--save"), QString(),
        QStringLiteral("--appendonly"), QStringLiteral("no"), QStringLiteral("--dir"),
        m_dir->path() };
    if (!m_password.isEmpty())
        args << QStringLiteral("--requirepass") << m_password;
    args << m_extraArguments;
    m_process->start(binary(), args);
    if (!m_process->waitForStarted(10000))
        return false;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 15000) {
        if (m_process->state() != QProcess::Running)
            return false; // e.g. the port is taken
        if (ping())
            return true;
        m_process->waitForReadyRead(50);
    }
    return false;
}

void RedisProcess::kill9()
{
    if (!m_process)
        return;
    m_process->kill();
    m_process->waitForFinished(10000);
}

bool RedisProcess::restart()
{
    kill9();
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 10000) {
        if (startOnPort())
            return true;
        QThread::msleep(100); // the old socket may linger for a moment
    }
    qWarning().noquote() << "RedisProcess: restart on port" << m_port << "failed:\n" << m_log;
    return false;
}

void RedisProcess::pause()
{
    if (isRunning())
        ::kill(pid_t(m_process->processId()), SIGSTOP);
}

void RedisProcess::resume()
{
    if (isRunning())
        ::kill(pid_t(m_process->processId()), SIGCONT);
}

void RedisProcess::stop()
{
    resume(); // a stopped process would not act on SIGTERM

    if (!m_process || m_process->state() == QProcess::NotRunning)
        return;
    m_process->terminate();
    if (!m_process->waitForFinished(5000)) {
        m_process->kill();
        m_process->waitForFinished(5000);
    }
}

bool RedisProcess::isRunning() const
{
    return m_process && m_process->state() == QProcess::Running;
}

QVariant RedisProcess::command(const QStringList& args, QString* error) const
{
    QString problem;
    QVariant value;
    QTcpSocket socket;
    const QDeadlineTimer deadline(5000);
    socket.connectToHost(QHostAddress::LocalHost, m_port);
    if (!socket.waitForConnected(int(deadline.remainingTime()))) {
        problem = QStringLiteral("cannot connect: ") + socket.errorString();
    } else {
        if (!m_password.isEmpty())
            socket.write(encodeCommand({ QStringLiteral("AUTH"), m_password }));
        socket.write(encodeCommand(args));
        if (!m_password.isEmpty() && readReply(socket, value, problem, deadline)
            && !problem.isEmpty())
            problem.prepend(QStringLiteral("AUTH: "));
        if (problem.isEmpty())
            readReply(socket, value, problem, deadline);
    }
    if (error)
        *error = problem;
    return problem.isEmpty() ? value : QVariant();
}

bool RedisProcess::ping() const
{
    return command({ QStringLiteral("PING") }).toByteArray() == "PONG";
}

} // namespace lctest
