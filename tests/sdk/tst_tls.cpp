// SPDX-License-Identifier: MIT
// ClientConfig::tls against the real server behind nginx terminating TLS with a throwaway CA
// made by the `openssl` CLI at test time: the CA as a file or as PEM in memory lets history and
// a live stream work; no CA, another CA or an unreadable file fail with ErrorCode::Tls (never an
// insecure fallback). Every row runs for libcurl and, when the Qt binding is built, for the
// QNetworkAccessManager backend.
#include "http_client.h"
#include "nginx_process.h"
#include "sdk_test_util.h"
#include "server_process.h"
#include "test_support.h"

#ifdef LC_TLS_QT_BACKEND
#include "livecomments/qt/qt_network_backend.h"
#endif

#include <QFile>
#include <QProcess>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

using namespace livecomments;

namespace {

/// A minimal HTTP proxy on loopback that only tunnels (CONNECT host:port), the way an
/// organisation's proxy carries https://: it answers "200 Connection established" with a
/// header of its own, then relays bytes both ways. Runs on the test's thread (QTRY spins it).
class ConnectProxy : public QObject {
public:
    bool start()
    {
        QObject::connect(&m_server, &QTcpServer::newConnection, this, [this] { accept(); });
        return m_server.listen(QHostAddress::LocalHost, 0);
    }
    quint16 port() const { return m_server.serverPort(); }
    /// The host:port of every CONNECT, in order.
    const QStringList& targets() const { return m_targets; }

private:
    void accept()
    {
        while (QTcpSocket* client = m_server.nextPendingConnection()) {
            client->setParent(this);
            auto* upstream = new QTcpSocket(this);
            auto pending = std::make_shared<QByteArray>(); // request head, then early bytes
            auto asked = std::make_shared<bool>(false);
            QObject::connect(client, &QTcpSocket::readyRead, this, [=] {
                if (upstream->state() == QAbstractSocket::ConnectedState && pending->isEmpty()) {
                    upstream->write(client->readAll());
                    return;
                }
                *pending += client->readAll();
                const qsizetype end = pending->indexOf("\r\n\r\n");
                if (*asked || end < 0)
                    return;
                *asked = true;
                const QList<QByteArray> words = pending->left(pending->indexOf("\r\n")).split(' ');
                const QByteArray target = words.size() == 3 ? words[1] : QByteArray();
                const qsizetype colon = target.lastIndexOf(':');
                if (words.size() != 3 || words[0] != "CONNECT" || colon <= 0) {
                    client->write("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
                    client->disconnectFromHost();
                    return;
                }
                m_targets << QString::fromLatin1(target);
                pending->remove(0, end + 4);
                upstream->connectToHost(QHostAddress(QString::fromLatin1(target.left(colon))),
                    target.mid(colon + 1).toUShort());
            });
            QObject::connect(upstream, &QTcpSocket::connected, this, [=] {
                client->write(
                    "HTTP/1.1 200 Connection established\r\nProxy-Agent: tst_tls\r\n\r\n");
                if (!pending->isEmpty())
                    upstream->write(*pending);
                pending->clear();
            });
            QObject::connect(upstream, &QTcpSocket::readyRead, this,
                [=] { client->write(upstream->readAll()); });
            QObject::connect(
                client, &QTcpSocket::disconnected, upstream, &QTcpSocket::disconnectFromHost);
            QObject::connect(
                upstream, &QTcpSocket::disconnected, client, &QTcpSocket::disconnectFromHost);
            QObject::connect(upstream, &QTcpSocket::errorOccurred, client,
                [client] { client->disconnectFromHost(); });
        }
    }

    QTcpServer m_server;
    QStringList m_targets;
};

/// Sets an environment variable for one scope (an empty value unsets it), then restores it.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const QByteArray& value)
        : m_name(name)
        , m_had(qEnvironmentVariableIsSet(name))
        , m_old(qgetenv(name))
    {
        if (value.isEmpty())
            qunsetenv(name);
        else
            qputenv(name, value);
    }
    ~ScopedEnv()
    {
        if (m_had)
            qputenv(m_name, m_old);
        else
            qunsetenv(m_name);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* m_name;
    bool m_had;
    QByteArray m_old;
};

} // namespace

class TstTls : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void trustedCa_data();
    void trustedCa();
    void untrusted_data();
    void untrusted();
    void fileAndPemTogetherAreRejected();
    void curlThroughConnectProxy();

private:
    /// Runs `openssl` with @p args in the temp dir; false (with its output) on failure.
    bool openssl(const QStringList& args);
    QString path(const QString& name) const { return m_dir.filePath(name); }
    static QByteArray read(const QString& file);
    /// Backend rows: "curl" (default backend) and "qtnetwork" when built.
    static void addBackendColumn();
    static std::shared_ptr<HttpBackend> backend(const QString& name);
    /// The newest history page holds the comment posted at start-up, and a subscription gets
    /// @p text live (check QTest::currentTestFailed() after).
    void historyAndLive(Client& client, const QString& text);

    QTemporaryDir m_dir;
    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<lctest::NginxProcess> m_nginx;
    QString m_token;
    qint32 m_video = 0;
};

bool TstTls::openssl(const QStringList& args)
{
    QProcess p;
    p.setWorkingDirectory(m_dir.path());
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral("openssl"), args);
    if (!p.waitForFinished(60000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        qWarning("openssl %s failed: %s %s", qPrintable(args.join(' ')),
            qPrintable(p.errorString()), p.readAll().constData());
        return false;
    }
    return true;
}

QByteArray TstTls::read(const QString& file)
{
    QFile f(file);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void TstTls::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("openssl")).isEmpty(),
        "the openssl CLI is missing (./dev.sh installs it)");
    // Two CAs: "ca" signs the server's certificate, "other" signs nothing we talk to.
    const QStringList ec { QStringLiteral("-newkey"), QStringLiteral("ec"),
        QStringLiteral("-pkeyopt"), QStringLiteral("ec_paramgen_curve:prime256v1"),
        QStringLiteral("-nodes") };
    for (const QString& ca : { QStringLiteral("ca"), QStringLiteral("other") }) {
        QVERIFY(openssl(QStringList { QStringLiteral("req"), QStringLiteral("-x509") } + ec
            + QStringList { QStringLiteral("-keyout"), ca + QStringLiteral(".key"),
                QStringLiteral("-out"), ca + QStringLiteral(".pem"), QStringLiteral("-days"),
                QStringLiteral("2"), QStringLiteral("-subj"),
                QStringLiteral("/CN=LiveComments test %1").arg(ca) }));
    }
    QFile ext(path(QStringLiteral("server.ext")));
    QVERIFY(ext.open(QIODevice::WriteOnly));
    ext.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
              "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
    ext.close();
    QVERIFY(openssl(QStringList { QStringLiteral("req") } + ec
        + QStringList { QStringLiteral("-keyout"), QStringLiteral("server.key"),
            QStringLiteral("-out"), QStringLiteral("server.csr"), QStringLiteral("-subj"),
            QStringLiteral("/CN=127.0.0.1") }));
    QVERIFY(openssl({ QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"),
        QStringLiteral("server.csr"), QStringLiteral("-CA"), QStringLiteral("ca.pem"),
        QStringLiteral("-CAkey"), QStringLiteral("ca.key"), QStringLiteral("-CAcreateserial"),
        QStringLiteral("-out"), QStringLiteral("server.pem"), QStringLiteral("-days"),
        QStringLiteral("2"), QStringLiteral("-extfile"), QStringLiteral("server.ext") }));

    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY(m_server->start());
    m_nginx = std::make_unique<lctest::NginxProcess>(QList<quint16> { m_server->port() });
    m_nginx->setTls(path(QStringLiteral("server.pem")), path(QStringLiteral("server.key")));
    QVERIFY(m_nginx->start());
    QCOMPARE(m_nginx->baseUrl().scheme(), QStringLiteral("https"));
    m_token = m_server->token("7", "alice", "streamer");
    m_video = lctest::createVideo(m_server->baseUrl(), m_token, "tls");
    QVERIFY(m_video > 0);
    QCOMPARE(
        lctest::postComment(m_server->baseUrl(), m_token, m_video, "over plain http").status, 201);
}

void TstTls::cleanupTestCase()
{
    m_nginx.reset();
    m_server.reset();
}

void TstTls::addBackendColumn()
{
    QTest::addColumn<QString>("backend");
}

std::shared_ptr<HttpBackend> TstTls::backend(const QString& name)
{
#ifdef LC_TLS_QT_BACKEND
    if (name == QLatin1String("qtnetwork"))
        return std::make_shared<qt::QtNetworkBackend>();
#endif
    Q_UNUSED(name);
    return nullptr; // libcurl
}

void TstTls::trustedCa_data()
{
    addBackendColumn();
    QTest::addColumn<bool>("inMemory");
    QStringList backends { QStringLiteral("curl") };
#ifdef LC_TLS_QT_BACKEND
    backends << QStringLiteral("qtnetwork");
#endif
    for (const QString& b : backends) {
        QTest::newRow(qPrintable(b + QStringLiteral(" ca file"))) << b << false;
        QTest::newRow(qPrintable(b + QStringLiteral(" ca pem"))) << b << true;
    }
}

void TstTls::trustedCa()
{
    QFETCH(QString, backend);
    QFETCH(bool, inMemory);
    ClientConfig cfg = sdktest::testConfig(m_nginx->baseUrl(), m_token);
    cfg.httpBackend = TstTls::backend(backend);
    if (inMemory)
        cfg.tls.caPem = read(path(QStringLiteral("ca.pem"))).toStdString();
    else
        cfg.tls.caFile = path(QStringLiteral("ca.pem")).toStdString();
    QVERIFY(cfg.tls.caFile.empty() != cfg.tls.caPem.empty());
    auto client = Client::create(cfg);
    QVERIFY(client);
    historyAndLive(**client, QStringLiteral("live over tls, %1").arg(QTest::currentDataTag()));
}

void TstTls::historyAndLive(Client& client, const QString& text)
{
    std::optional<Result<HistoryPage>> page;
    client.fetchHistory(m_video, {}, [&](Result<HistoryPage> r) { page = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(page.has_value(), 15000);
    // (QVERIFY2 evaluates its message also on success: describe only an error.)
    QVERIFY2(page->has_value(),
        qPrintable(page->has_value() ? QString() : sdktest::describe(page->error())));
    // Newest first; earlier rows added their live comments after this one.
    QVERIFY(!page->value().comments.empty());
    QCOMPARE(page->value().comments.back().text, std::string("over plain http"));

    QStringList live;
    bool hello = false;
    SubscriptionCallbacks cbs;
    cbs.onHello = [&](const Hello&) { hello = true; };
    cbs.onComment = [&](const Comment& c) { live << QString::fromStdString(c.text); };
    auto sub = client.subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(hello, 15000);
    QCOMPARE((*sub)->status().state, StreamState::Live);
    QCOMPARE(lctest::postComment(m_server->baseUrl(), m_token, m_video, text).status, 201);
    QTRY_COMPARE_WITH_TIMEOUT(live, QStringList { text }, 15000);
}

void TstTls::untrusted_data()
{
    addBackendColumn();
    QTest::addColumn<QString>("trust"); // "", "other" (another CA's PEM), "missing" (file)
    QStringList backends { QStringLiteral("curl") };
#ifdef LC_TLS_QT_BACKEND
    backends << QStringLiteral("qtnetwork");
#endif
    for (const QString& b : backends) {
        QTest::newRow(qPrintable(b + QStringLiteral(" system store"))) << b << QString();
        QTest::newRow(qPrintable(b + QStringLiteral(" other ca"))) << b << QStringLiteral("other");
        QTest::newRow(qPrintable(b + QStringLiteral(" missing file")))
            << b << QStringLiteral("missing");
    }
}

void TstTls::untrusted()
{
    QFETCH(QString, backend);
    QFETCH(QString, trust);
    ClientConfig cfg = sdktest::testConfig(m_nginx->baseUrl(), m_token);
    cfg.httpBackend = TstTls::backend(backend);
    if (trust == QLatin1String("other"))
        cfg.tls.caPem = read(path(QStringLiteral("other.pem"))).toStdString();
    else if (trust == QLatin1String("missing"))
        cfg.tls.caFile = path(QStringLiteral("no-such-ca.pem")).toStdString();
    auto client = Client::create(cfg);
    QVERIFY(client);

    std::optional<Result<HistoryPage>> page;
    (*client)->fetchHistory(m_video, {}, [&](Result<HistoryPage> r) { page = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(page.has_value(), 15000);
    QVERIFY2(!page->has_value(), "an untrusted certificate was accepted");
    QCOMPARE(page->error().code, ErrorCode::Tls);
    QVERIFY2(QString::fromStdString(page->error().message).contains(QLatin1String("TLS")),
        qPrintable(sdktest::describe(page->error())));

    // A stream never goes live: it keeps retrying (a captive portal may go away) and says why.
    std::optional<StreamStatus> failed;
    int comments = 0;
    SubscriptionCallbacks cbs;
    cbs.onStatus = [&](const StreamStatus& s) {
        if (s.error)
            failed = s;
    };
    cbs.onComment = [&](const Comment&) { ++comments; };
    auto sub = (*client)->subscribe(m_video, cbs);
    QVERIFY(sub);
    QTRY_VERIFY_WITH_TIMEOUT(failed.has_value(), 15000);
    QCOMPARE(failed->state, StreamState::Reconnecting);
    QCOMPARE(failed->error->code, ErrorCode::Tls);
    QVERIFY((*sub)->status().state != StreamState::Live);

    // Posting fails the same way and stays queued (retried, never sent insecurely).
    std::optional<OutboxEntry> attempt;
    auto key = (*client)->post(m_video, "must not arrive", [&](const OutboxEntry& e) {
        if (e.error)
            attempt = e;
    });
    QVERIFY(key);
    QTRY_VERIFY_WITH_TIMEOUT(attempt.has_value(), 15000);
    QCOMPARE(attempt->state, PostState::Pending);
    QCOMPARE(attempt->error->code, ErrorCode::Tls);
    QCOMPARE(comments, 0);
    (*client)->close();
    const auto history = lctest::getHistoryPage(
        m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(m_video));
    for (const auto& c : history.reply.json().value("comments").toArray())
        QVERIFY(c.toObject().value("text").toString() != QLatin1String("must not arrive"));
}

void TstTls::fileAndPemTogetherAreRejected()
{
    ClientConfig cfg = sdktest::testConfig(QUrl(QStringLiteral("https://127.0.0.1:1")));
    cfg.tls.caFile = path(QStringLiteral("ca.pem")).toStdString();
    cfg.tls.caPem = read(path(QStringLiteral("ca.pem"))).toStdString();
    auto client = Client::create(cfg);
    QVERIFY(!client);
    QCOMPARE(client.error().code, ErrorCode::InvalidArgument);
}

void TstTls::curlThroughConnectProxy()
{
    // libcurl takes the proxy from the environment and tunnels https:// with CONNECT. Every
    // status and header must be the server's, never the proxy's "200 Connection established"
    // (had it reached the head, the stream would close for good and a 404 read as a 200).
    ConnectProxy proxy;
    QVERIFY(proxy.start());
    const ScopedEnv viaProxy("https_proxy", "http://127.0.0.1:" + QByteArray::number(proxy.port()));
    const ScopedEnv viaProxyUpper("HTTPS_PROXY", {});
    const ScopedEnv noExceptions("no_proxy", {});
    const ScopedEnv noExceptionsUpper("NO_PROXY", {});
    ClientConfig cfg = sdktest::testConfig(m_nginx->baseUrl(), m_token);
    cfg.tls.caFile = path(QStringLiteral("ca.pem")).toStdString();
    auto client = Client::create(cfg);
    QVERIFY(client);
    historyAndLive(**client, QStringLiteral("live through a CONNECT proxy"));
    if (QTest::currentTestFailed())
        return;
    const QString nginx = QStringLiteral("127.0.0.1:%1").arg(m_nginx->baseUrl().port());
    QVERIFY(!proxy.targets().isEmpty());
    for (const QString& target : proxy.targets())
        QCOMPARE(target, nginx);

    // An error answer stays the server's: 404 for a video that does not exist.
    std::optional<Result<HistoryPage>> missing;
    (*client)->fetchHistory(999999999, {}, [&](Result<HistoryPage> r) { missing = std::move(r); });
    QTRY_VERIFY_WITH_TIMEOUT(missing.has_value(), 15000);
    QVERIFY(!missing->has_value());
    QVERIFY2(missing->error().httpStatus == 404, qPrintable(sdktest::describe(missing->error())));
}

QTEST_GUILESS_MAIN(TstTls)
#include "tst_tls.moc"
