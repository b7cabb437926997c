// SPDX-License-Identifier: MIT
#include "postgres_process.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHostAddress>
#include <QProcess>
#include <QTcpServer>
#include <QVersionNumber>

#include <cerrno>
#include <csignal>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lctest {

namespace {

constexpr char kInstallHint[]
    = "install PostgreSQL 15 (apt-get install -y postgresql; dev.sh does this), "
      "or point LC_PG_BINDIR at its bin directory";

/// The newest /usr/lib/postgresql/<version>/bin holding initdb, or $LC_PG_BINDIR.
QString findBinDir()
{
    const QString fromEnv = qEnvironmentVariable("LC_PG_BINDIR");
    if (!fromEnv.isEmpty())
        return fromEnv;
    QString best;
    QVersionNumber bestVersion;
    const QDir root(QStringLiteral("/usr/lib/postgresql"));
    for (const QString& entry : root.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        const QString bin = root.filePath(entry + QStringLiteral("/bin"));
        const QVersionNumber version = QVersionNumber::fromString(entry);
        if (QFileInfo::exists(bin + QStringLiteral("/initdb")) && version > bestVersion) {
            best = bin;
            bestVersion = version;
        }
    }
    return best;
}

/// A port nothing listens on right now (the server may still lose a race for it: start() retries).
quint16 freeLoopbackPort()
{
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0))
        return 0;
    return probe.serverPort();
}

bool runningAsRoot()
{
    return ::geteuid() == 0;
}

} // namespace

PostgresProcess::PostgresProcess() = default;

PostgresProcess::~PostgresProcess()
{
    stop();
}

bool PostgresProcess::run(
    const QString& binary, const QStringList& args, int timeoutMs, QString* output)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    const QString path = m_binDir + QLatin1Char('/') + binary;
    if (runningAsRoot())
        process.start(QStringLiteral("runuser"),
            QStringList {
                QStringLiteral("-u"), QStringLiteral("postgres"), QStringLiteral("--"), path }
                + args);
    else
        process.start(path, args);
    if (!process.waitForStarted(10000)) {
        m_error = binary + QStringLiteral(": could not start: ") + process.errorString();
        return false;
    }
    if (!process.waitForFinished(timeoutMs)) {
        process.kill();
        process.waitForFinished(5000);
        m_error = binary + QStringLiteral(": timed out");
        return false;
    }
    if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
        m_error = binary + QStringLiteral(" ") + args.join(QLatin1Char(' ')) + QStringLiteral(": ")
            + QString::fromLocal8Bit(process.readAll());
        return false;
    }
    if (output)
        *output = QString::fromLocal8Bit(process.readAll());
    return true;
}

bool PostgresProcess::start()
{
    m_binDir = findBinDir();
    if (m_binDir.isEmpty() || !QFileInfo::exists(m_binDir + QStringLiteral("/initdb"))) {
        m_error = QStringLiteral("PostgreSQL server binaries (initdb, pg_ctl) not found: ")
            + QLatin1String(kInstallHint);
        return false;
    }
    if (runningAsRoot() && ::getpwnam("postgres") == nullptr) {
        m_error = QStringLiteral("tests run as root but there is no 'postgres' user to run the "
                                 "server as: ")
            + QLatin1String(kInstallHint);
        return false;
    }
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (startOnce())
            return true;
        stop();
    }
    return false;
}

void PostgresProcess::stopOrphans()
{
    // A test process killed outright (a CTest timeout sends SIGKILL) never runs the destructor,
    // and pg_ctl's server is not its child: the next fixture stops what such a run left behind.
    const QDir temp(QDir::tempPath());
    for (const QString& name :
        temp.entryList({ QStringLiteral("lc-pg-*") }, QDir::Dirs | QDir::NoDotAndDotDot)) {
        const QString dir = temp.filePath(name);
        QFile owner(dir + QStringLiteral("/owner.pid"));
        if (!owner.open(QIODevice::ReadOnly))
            continue; // being set up right now, or not ours
        const qint64 pid = owner.readAll().trimmed().toLongLong();
        owner.close();
        if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
            continue; // its owner still runs
        const QString data = dir + QStringLiteral("/data");
        if (QFileInfo::exists(data + QStringLiteral("/postmaster.pid")))
            run(QStringLiteral("pg_ctl"),
                { QStringLiteral("-D"), data, QStringLiteral("-m"), QStringLiteral("immediate"),
                    QStringLiteral("-w"), QStringLiteral("stop") });
        QDir(dir).removeRecursively();
    }
}

bool PostgresProcess::startOnce()
{
    stopOrphans();
    m_dir = std::make_unique<QTemporaryDir>(QDir::tempPath() + QStringLiteral("/lc-pg-XXXXXX"));
    if (!m_dir->isValid()) {
        m_error = QStringLiteral("cannot create a temporary directory: ") + m_dir->errorString();
        return false;
    }
    {
        QFile owner(m_dir->filePath(QStringLiteral("owner.pid")));
        if (!owner.open(QIODevice::WriteOnly) || owner.write(QByteArray::number(::getpid())) <= 0) {
            m_error = QStringLiteral("cannot write ") + owner.fileName();
            return false;
        }
    }
    m_dataDir = m_dir->filePath(QStringLiteral("data"));
    m_socketDir = m_dir->filePath(QStringLiteral("socket"));
    if (!QDir().mkpath(m_dataDir) || !QDir().mkpath(m_socketDir)) {
        m_error = QStringLiteral("cannot create directories in ") + m_dir->path();
        return false;
    }
    if (runningAsRoot()) {
        // The server runs as postgres: it must reach the directory and own what it writes.
        const passwd* pw = ::getpwnam("postgres");
        const QByteArray top = QFile::encodeName(m_dir->path());
        if (pw == nullptr || ::chmod(top.constData(), 0755) != 0
            || ::chown(QFile::encodeName(m_dataDir).constData(), pw->pw_uid, pw->pw_gid) != 0
            || ::chown(QFile::encodeName(m_socketDir).constData(), pw->pw_uid, pw->pw_gid) != 0) {
            m_error = QStringLiteral("cannot hand ") + m_dir->path()
                + QStringLiteral(" to the postgres user");
            return false;
        }
    }
    if (!run(QStringLiteral("initdb"),
            { QStringLiteral("-D"), m_dataDir, QStringLiteral("-A"), QStringLiteral("trust"),
                QStringLiteral("-U"), QStringLiteral("postgres"), QStringLiteral("-E"),
                QStringLiteral("UTF8"), QStringLiteral("--no-sync"),
                QStringLiteral("--no-instructions") }))
        return false;
    m_port = freeLoopbackPort();
    if (m_port == 0) {
        m_error = QStringLiteral("no free loopback port");
        return false;
    }
    // fsync off and a small cache: a test server starts in a fraction of a second; its data is
    // thrown away anyway.
    const QString options = QStringLiteral("-p %1 -k %2 -c listen_addresses=127.0.0.1 -c fsync=off "
                                           "-c synchronous_commit=on -c full_page_writes=off "
                                           "-c shared_buffers=16MB -c max_connections=200")
                                .arg(m_port)
                                .arg(m_socketDir);
    if (!run(QStringLiteral("pg_ctl"),
            { QStringLiteral("-D"), m_dataDir, QStringLiteral("-o"), options, QStringLiteral("-l"),
                m_dataDir + QStringLiteral("/server.log"), QStringLiteral("-w"),
                QStringLiteral("-t"), QStringLiteral("60"), QStringLiteral("start") })) {
        m_error += QStringLiteral("\nserver log:\n") + log();
        return false;
    }
    m_running = true;
    return true;
}

void PostgresProcess::stop()
{
    if (m_running) {
        run(QStringLiteral("pg_ctl"),
            { QStringLiteral("-D"), m_dataDir, QStringLiteral("-m"), QStringLiteral("immediate"),
                QStringLiteral("-w"), QStringLiteral("stop") });
        m_running = false;
    }
    m_dir.reset(); // removes the data directory
}

QString PostgresProcess::url(const QString& database) const
{
    return QStringLiteral("postgresql://postgres@127.0.0.1:%1/%2").arg(m_port).arg(database);
}

QString PostgresProcess::createDatabase(const QString& name)
{
    if (!m_running) {
        m_error = QStringLiteral("createDatabase: the server is not running");
        return {};
    }
    if (!run(QStringLiteral("createdb"),
            { QStringLiteral("-h"), m_socketDir, QStringLiteral("-p"), QString::number(m_port),
                QStringLiteral("-U"), QStringLiteral("postgres"), name }))
        return {};
    return url(name);
}

QString PostgresProcess::query(const QString& database, const QString& sql)
{
    QString out;
    if (!m_running) {
        m_error = QStringLiteral("query: the server is not running");
        return {};
    }
    if (!run(QStringLiteral("psql"),
            { QStringLiteral("-h"), m_socketDir, QStringLiteral("-p"), QString::number(m_port),
                QStringLiteral("-U"), QStringLiteral("postgres"), QStringLiteral("-d"), database,
                QStringLiteral("-X"), QStringLiteral("-A"), QStringLiteral("-t"),
                QStringLiteral("-v"), QStringLiteral("ON_ERROR_STOP=1"), QStringLiteral("-c"),
                sql },
            60000, &out))
        return {};
    while (out.endsWith(QLatin1Char('\n')))
        out.chop(1);
    return out.isNull() ? QStringLiteral("") : out;
}

QString PostgresProcess::log() const
{
    if (!m_dir)
        return {};
    QFile file(m_dataDir + QStringLiteral("/server.log"));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return QString::fromLocal8Bit(file.readAll().right(16384));
}

} // namespace lctest
