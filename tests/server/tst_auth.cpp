// SPDX-License-Identifier: MIT
// JWT auth: bad tokens → 401 on writes; ownership (403) for comments and subscriptions;
// moderators; ?access_token= on the stream; `livecomments-server token`; POST /auth/dev-token.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QTest>

#include <memory>

using namespace lctest;

namespace {
QJsonObject hs256()
{
    return { { "alg", "HS256" }, { "typ", "JWT" } };
}
QJsonObject claims(const QString& sub, qint64 ttl)
{
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    return { { "sub", sub }, { "name", "mallory" }, { "iat", now }, { "exp", now + ttl } };
}

/// `token` with its last part replaced by `signature`.
QByteArray withSignature(const QString& token, const QByteArray& signature)
{
    return token.left(token.lastIndexOf('.') + 1).toUtf8() + signature;
}

/// The signature part of `token` spelled non-canonically: the same bytes, but one of the two
/// unused low bits of the last base64url character set (43 characters carry 258 bits for 256).
QByteArray nonCanonicalSignature(const QString& token)
{
    static const QByteArray kAlphabet
        = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    QByteArray signature = token.mid(token.lastIndexOf('.') + 1).toUtf8();
    const int value = kAlphabet.indexOf(signature.back());
    signature.back() = kAlphabet.at(value | 1);
    return signature;
}

/// Runs `livecomments-server token ...` and returns its trimmed stdout (empty on failure).
QString cliToken(const QStringList& args)
{
    QProcess p;
    p.start(ServerProcess::serverBinary(), QStringList { QStringLiteral("token") } + args);
    if (!p.waitForFinished(15000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        qWarning() << "token subcommand failed:" << p.exitCode() << p.readAllStandardError();
        return {};
    }
    return QString::fromUtf8(p.readAllStandardOutput()).trimmed();
}
} // namespace

class TstAuth : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void badTokensAreRejected_data();
    void badTokensAreRejected();
    void toleratedTokens_data();
    void toleratedTokens();
    void keyRotation();
    void unauthorizedCarriesWwwAuthenticate();
    void commentOwnership();
    void subscriptionOwnership();
    void accessTokenQueryParam();
    void readsTokenMode();
    void tokenSubcommand();
    void devToken();
    void concurrentTokenVerification();

private:
    std::unique_ptr<ServerProcess> m_server;
    QString m_alice; // 7
    QString m_bob; // 8
    QString m_mod; // 9 moderator
    qint32 m_video = 0;
};

void TstAuth::initTestCase()
{
    m_server = std::make_unique<ServerProcess>();
    QVERIFY(m_server->start());
    m_alice = m_server->token("7", "alice");
    m_bob = m_server->token("8", "bob");
    m_mod = m_server->token("9", "mod", "moderator");
    m_video = createVideo(m_server->baseUrl(), m_alice, "auth");
    QVERIFY(m_video > 0);
}

void TstAuth::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

void TstAuth::badTokensAreRejected_data()
{
    QTest::addColumn<QByteArray>("authorization"); // full header value; empty = no header
    const QByteArray secret(kTestJwtSecret);
    auto bearerOf = [](const QString& t) { return QByteArray("Bearer ") + t.toUtf8(); };
    QTest::newRow("missing") << QByteArray();
    QTest::newRow("empty bearer") << QByteArray("Bearer ");
    QTest::newRow("malformed") << QByteArray("Bearer not-a-jwt");
    QTest::newRow("two parts") << QByteArray("Bearer abc.def");
    QTest::newRow("garbage base64") << QByteArray("Bearer !!!.@@@.###");
    QTest::newRow("basic scheme") << QByteArray("Basic YWxpY2U6c2VjcmV0");
    QTest::newRow("expired") << bearerOf(
        ServerProcess::mintToken(secret, hs256(), claims("7", -120)));
    QTest::newRow("wrong signature")
        << bearerOf(ServerProcess::mintToken("another-secret", hs256(), claims("7", 3600)));
    QTest::newRow("alg none") << bearerOf(ServerProcess::mintToken(
        secret, { { "alg", "none" }, { "typ", "JWT" } }, claims("7", 3600)));
    QTest::newRow("alg none, HS256 signature kept") << [&] {
        // Signature valid for the HS256 header, header swapped to none: must not verify.
        const QStringList good
            = ServerProcess::mintToken(secret, hs256(), claims("7", 3600)).split('.');
        const QByteArray none
            = QJsonDocument(QJsonObject { { "alg", "none" } })
                  .toJson(QJsonDocument::Compact)
                  .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
        return QByteArray("Bearer ") + none + '.' + good[1].toUtf8() + '.' + good[2].toUtf8();
    }();
    QTest::newRow("alg HS512") << bearerOf(ServerProcess::mintToken(
        secret, { { "alg", "HS512" }, { "typ", "JWT" } }, claims("7", 3600)));
    QTest::newRow("tampered claims") << [&] {
        const QStringList good
            = ServerProcess::mintToken(secret, hs256(), claims("7", 3600)).split('.');
        const QByteArray evil
            = QJsonDocument(claims("9", 3600))
                  .toJson(QJsonDocument::Compact)
                  .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
        return QByteArray("Bearer ") + good[0].toUtf8() + '.' + evil + '.' + good[2].toUtf8();
    }();
    QTest::newRow("no sub") << bearerOf(ServerProcess::mintToken(secret, hs256(),
        { { "name", "x" }, { "exp", QDateTime::currentSecsSinceEpoch() + 3600 } }));
    QTest::newRow("no exp") << bearerOf(
        ServerProcess::mintToken(secret, hs256(), { { "sub", "7" }, { "name", "x" } }));

    // Hardening rows (docs/security.md "Tokens").
    const QString good = ServerProcess::mintToken(secret, hs256(), claims("7", 3600));
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QTest::newRow("RS256 header, HMAC with the secret") << bearerOf(ServerProcess::mintToken(
        secret, { { "alg", "RS256" }, { "typ", "JWT" } }, claims("7", 3600)));
    QTest::newRow("alg hs256 lower case") << bearerOf(ServerProcess::mintToken(
        secret, { { "alg", "hs256" }, { "typ", "JWT" } }, claims("7", 3600)));
    QTest::newRow("four parts") << bearerOf(good + QStringLiteral(".e30"));
    QTest::newRow("four parts, empty last") << bearerOf(good + '.');
    QTest::newRow("padded signature") << bearerOf(good + '=');
    QTest::newRow("padded header") << [&] {
        QStringList parts = good.split('.');
        const QByteArray padded = QJsonDocument(hs256())
                                      .toJson(QJsonDocument::Compact)
                                      .toBase64(QByteArray::Base64UrlEncoding);
        if (!padded.endsWith('='))
            return QByteArray("Bearer ") + padded + "==." + parts[1].toUtf8() + '.'
                + parts[2].toUtf8();
        return QByteArray("Bearer ") + padded + '.' + parts[1].toUtf8() + '.' + parts[2].toUtf8();
    }();
    QTest::newRow("standard base64 alphabet") << [&] {
        QByteArray t = bearerOf(good);
        return t.contains('-') || t.contains('_') ? t.replace('-', '+').replace('_', '/')
                                                  : bearerOf(good + QStringLiteral("+"));
    }();
    QTest::newRow("non-canonical signature bits")
        << QByteArray("Bearer ") + withSignature(good, nonCanonicalSignature(good));
    QTest::newRow("empty signature") << QByteArray("Bearer ") + withSignature(good, {});
    QTest::newRow("expired beyond skew")
        << bearerOf(ServerProcess::mintToken(secret, hs256(), claims("7", -31)));
    QTest::newRow("exp as string") << bearerOf(ServerProcess::mintToken(
        secret, hs256(), { { "sub", "7" }, { "exp", QString::number(now + 3600) } }));
    QTest::newRow("nbf ahead") << [&] {
        QJsonObject c = claims("7", 7200);
        c.insert("nbf", now + 3600);
        return bearerOf(ServerProcess::mintToken(secret, hs256(), c));
    }();
    QTest::newRow("nbf just beyond skew") << [&] {
        QJsonObject c = claims("7", 7200);
        c.insert("nbf", now + 45);
        return bearerOf(ServerProcess::mintToken(secret, hs256(), c));
    }();
    QTest::newRow("unknown crit") << [&] {
        QJsonObject h = hs256();
        h.insert("crit", QJsonArray { "x-tenant" });
        QJsonObject c = claims("7", 3600);
        c.insert("x-tenant", "acme");
        return bearerOf(ServerProcess::mintToken(secret, h, c));
    }();
    QTest::newRow("typ not JWT") << bearerOf(ServerProcess::mintToken(
        secret, { { "alg", "HS256" }, { "typ", "at+jwt+evil" } }, claims("7", 3600)));
    QTest::newRow("non-numeric sub")
        << bearerOf(ServerProcess::mintToken(secret, hs256(), claims("alice", 3600)));
    QTest::newRow("sub with leading zero")
        << bearerOf(ServerProcess::mintToken(secret, hs256(), claims("07", 3600)));
    QTest::newRow("sub negative") << bearerOf(
        ServerProcess::mintToken(secret, hs256(), claims("-7", 3600)));
    QTest::newRow("sub above int64")
        << bearerOf(ServerProcess::mintToken(secret, hs256(), claims("9223372036854775808", 3600)));
    QTest::newRow("sub as number") << bearerOf(
        ServerProcess::mintToken(secret, hs256(), { { "sub", 7 }, { "exp", now + 3600 } }));
    auto named = [&](const QString& name) {
        QJsonObject c = claims("7", 3600);
        c.insert("name", name);
        return bearerOf(ServerProcess::mintToken(secret, hs256(), c));
    };
    QTest::newRow("name empty") << named(QString());
    QTest::newRow("name 65 characters") << named(QString(65, 'n'));
    QTest::newRow("name with RLO") << named(QStringLiteral("admin") + QChar(0x202E) + "x");
    QTest::newRow("name with LRI") << named(QStringLiteral("a") + QChar(0x2066) + "b");
    QTest::newRow("name with newline") << named(QStringLiteral("a\nb"));
    QTest::newRow("name with NUL") << named(QStringLiteral("a") + QChar(0) + "b");
}

void TstAuth::toleratedTokens_data()
{
    QTest::addColumn<QString>("token");
    const QByteArray secret(kTestJwtSecret);
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    // Inside the default 30 s clock skew.
    QTest::newRow("expired 5 s ago") << ServerProcess::mintToken(secret, hs256(), claims("7", -5));
    QJsonObject early = claims("7", 3600);
    early.insert("nbf", now + 5);
    QTest::newRow("nbf 5 s ahead") << ServerProcess::mintToken(secret, hs256(), early);
    QTest::newRow("no typ") << ServerProcess::mintToken(
        secret, { { "alg", "HS256" } }, claims("7", 3600));
    QTest::newRow("64-character name") << [&] {
        QJsonObject c = claims("7", 3600);
        c.insert("name", QString(64, QChar(0x00E9)));
        return ServerProcess::mintToken(secret, hs256(), c);
    }();
}

void TstAuth::toleratedTokens()
{
    QFETCH(QString, token);
    const HttpReply c = postComment(m_server->baseUrl(), token, m_video, "tolerated");
    QVERIFY2(c.status == 201, qPrintable(QString::number(c.status) + ' ' + c.body));
}

void TstAuth::keyRotation()
{
    const QByteArray oldSecret("rotation-old-secret");
    const QByteArray newSecret("rotation-new-secret");
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    const QString oldToken = ServerProcess::mintToken(oldSecret, hs256(), claims("7", 3600));
    const QString newToken = ServerProcess::mintToken(newSecret, hs256(), claims("7", 3600));

    // Inside the window (Unix seconds): both secrets verify.
    ServerProcess during({ "--jwt-secret=" + newSecret, "--jwt-previous-secret=" + oldSecret,
        QStringLiteral("--jwt-previous-until=%1").arg(now + 3600), "--log-level=trace" });
    QVERIFY(during.start());
    const qint32 video = createVideo(during.baseUrl(), newToken, "rotation");
    QVERIFY(video > 0);
    QCOMPARE(postComment(during.baseUrl(), oldToken, video, "old key").status, 201);
    QCOMPARE(postComment(during.baseUrl(), newToken, video, "new key").status, 201);
    const QString foreign = ServerProcess::mintToken("third", hs256(), claims("7", 3600));
    QCOMPARE(postComment(during.baseUrl(), foreign, video, "x").status, 401);
    // Tokens never reach the log, not even at trace level.
    const QByteArray log = during.log();
    for (const QString& token : { oldToken, newToken, foreign })
        QVERIFY2(!log.contains(token.section('.', 2).toUtf8()), "a token signature was logged");
    QVERIFY(during.terminate());

    // After the window (ISO 8601 form): only the new secret.
    const QString ended = QDateTime::fromSecsSinceEpoch(now - 60, Qt::UTC).toString(Qt::ISODate);
    ServerProcess after({ "--jwt-secret=" + newSecret, "--jwt-previous-secret=" + oldSecret,
        "--jwt-previous-until=" + ended });
    QVERIFY(after.start());
    const qint32 video2 = createVideo(after.baseUrl(), newToken, "rotation after");
    QVERIFY(video2 > 0);
    const HttpReply stale = postComment(after.baseUrl(), oldToken, video2, "old key");
    QVERIFY2(checkError(stale, 401).isEmpty(), qPrintable(checkError(stale, 401)));
    QVERIFY2(stale.errorMessage().contains("previous secret"), qPrintable(stale.errorMessage()));
    QCOMPARE(postComment(after.baseUrl(), newToken, video2, "new key").status, 201);
    QVERIFY(after.terminate());
}

void TstAuth::badTokensAreRejected()
{
    QFETCH(QByteArray, authorization);
    HeaderList headers;
    if (!authorization.isEmpty())
        headers.append({ "Authorization", authorization });
    const HttpReply c = http("POST",
        endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video)),
        R"({"text":"should not post"})", headers);
    QVERIFY2(checkError(c, 401).isEmpty(), qPrintable(checkError(c, 401)));
    const HttpReply v = http("POST", endpoint(m_server->baseUrl(), QStringLiteral("/videos")),
        R"({"title":"x"})", headers);
    QVERIFY2(checkError(v, 401).isEmpty(), qPrintable(checkError(v, 401)));
}

void TstAuth::unauthorizedCarriesWwwAuthenticate()
{
    // RFC 9110 §15.5.2: a server generating a 401 MUST send WWW-Authenticate (RFC 6750: Bearer).
    const HttpReply c
        = postComment(m_server->baseUrl(), QStringLiteral("not.a.token"), m_video, "x");
    QCOMPARE(c.status, 401);
    QVERIFY2(c.header("www-authenticate").startsWith("Bearer"), c.header("www-authenticate"));
}

void TstAuth::commentOwnership()
{
    const HttpReply mine = postComment(m_server->baseUrl(), m_bob, m_video, "bob's");
    QCOMPARE(mine.status, 201);
    const QUrl path = endpoint(m_server->baseUrl(),
        QStringLiteral("/videos/%1/comments/%2")
            .arg(m_video)
            .arg(mine.json().value("id").toString()));
    const HttpReply byAlice = http("DELETE", path, {}, bearer(m_alice));
    QVERIFY2(checkError(byAlice, 403).isEmpty(), qPrintable(checkError(byAlice, 403)));
    // A viewer claiming to be a moderator in a token signed by someone else gets 401, not 204.
    const QString forged = ServerProcess::mintToken("x", hs256(),
        QJsonObject { { "sub", "7" }, { "role", "moderator" },
            { "exp", QDateTime::currentSecsSinceEpoch() + 60 } });
    QCOMPARE(http("DELETE", path, {}, bearer(forged)).status, 401);
    QCOMPARE(http("DELETE", path, {}, bearer(m_mod)).status, 204);

    // The streamer role alone does not allow deleting others' comments.
    const HttpReply again = postComment(m_server->baseUrl(), m_bob, m_video, "bob's second");
    const QString streamer = m_server->token("10", "streamer", "streamer");
    const QUrl path2 = endpoint(m_server->baseUrl(),
        QStringLiteral("/videos/%1/comments/%2")
            .arg(m_video)
            .arg(again.json().value("id").toString()));
    QCOMPARE(http("DELETE", path2, {}, bearer(streamer)).status, 403);
    QCOMPARE(http("DELETE", path2, {}, bearer(m_bob)).status, 204);
}

void TstAuth::subscriptionOwnership()
{
    const QByteArray path = "/videos/" + QByteArray::number(m_video) + "/subscriptions";
    SseReader bobs;
    bobs.open(m_server->port(), path, bearer(m_bob));
    QVERIFY(bobs.waitForHello());
    const QUrl del
        = endpoint(m_server->baseUrl(), QString::fromLatin1(path) + '/' + bobs.subscriptionId());
    const HttpReply byAlice = http("DELETE", del, {}, bearer(m_alice));
    QVERIFY2(checkError(byAlice, 403).isEmpty(), qPrintable(checkError(byAlice, 403)));
    const HttpReply anonymous = http("DELETE", del);
    QVERIFY2(anonymous.status == 401 || anonymous.status == 403,
        qPrintable(QString::number(anonymous.status)));
    QVERIFY2(checkError(anonymous, anonymous.status).isEmpty(),
        qPrintable(checkError(anonymous, anonymous.status)));
    QVERIFY(bobs.isConnected());
    QCOMPARE(http("DELETE", del, {}, bearer(m_bob)).status, 204);
    QVERIFY(bobs.waitForDisconnected());

    // A moderator may close anyone's subscription.
    SseReader bobs2;
    bobs2.open(m_server->port(), path, bearer(m_bob));
    QVERIFY(bobs2.waitForHello());
    QCOMPARE(
        http("DELETE",
            endpoint(m_server->baseUrl(), QString::fromLatin1(path) + '/' + bobs2.subscriptionId()),
            {}, bearer(m_mod))
            .status,
        204);
    QVERIFY(bobs2.waitForDisconnected());

    // Anonymous streams are closed by whoever holds the id.
    SseReader anon;
    anon.open(m_server->port(), path);
    QVERIFY(anon.waitForHello());
    QCOMPARE(
        http("DELETE",
            endpoint(m_server->baseUrl(), QString::fromLatin1(path) + '/' + anon.subscriptionId()))
            .status,
        204);
    QVERIFY(anon.waitForDisconnected());
}

void TstAuth::accessTokenQueryParam()
{
    // In public-read mode, ?access_token= still identifies the subscriber (as a browser's
    // EventSource cannot send Authorization): the subscription then belongs to that user.
    const QByteArray path = "/videos/" + QByteArray::number(m_video) + "/subscriptions";
    SseReader r;
    r.open(m_server->port(), path + "?access_token=" + m_bob.toUtf8());
    QVERIFY(r.waitForHello());
    const QUrl del
        = endpoint(m_server->baseUrl(), QString::fromLatin1(path) + '/' + r.subscriptionId());
    QCOMPARE(http("DELETE", del, {}, bearer(m_alice)).status, 403);
    QCOMPARE(http("DELETE", del, {}, bearer(m_bob)).status, 204);
    QVERIFY(r.waitForDisconnected());
    // A bad access_token is refused even where reads are public.
    SseReader bad;
    bad.open(m_server->port(), path + "?access_token=not.a.token");
    QVERIFY(bad.waitForHeaders());
    QCOMPARE(bad.status(), 401);
}

void TstAuth::readsTokenMode()
{
    ServerProcess s({ QStringLiteral("--reads=token") });
    QVERIFY(s.start());
    const QString token = s.token("7", "alice");
    const qint32 video = createVideo(s.baseUrl(), token, "private reads");
    QVERIFY(video > 0);
    const QByteArray path = "/videos/" + QByteArray::number(video) + "/subscriptions";
    SseReader none;
    none.open(s.port(), path);
    QVERIFY(none.waitForHeaders());
    QCOMPARE(none.status(), 401);
    SseReader query;
    query.open(s.port(), path + "?access_token=" + token.toUtf8());
    QVERIFY2(query.waitForHello(), query.raw().left(300));
    SseReader header;
    header.open(s.port(), path, bearer(token));
    QVERIFY(header.waitForHello());
    const QString expired = ServerProcess::mintToken(kTestJwtSecret, hs256(), claims("7", -60));
    SseReader old;
    old.open(s.port(), path + "?access_token=" + expired.toUtf8());
    QVERIFY(old.waitForHeaders());
    QCOMPARE(old.status(), 401);
    // History reads need a token too.
    QCOMPARE(
        http("GET", endpoint(s.baseUrl(), QStringLiteral("/videos/%1/comments").arg(video))).status,
        401);
    QCOMPARE(http("GET", endpoint(s.baseUrl(), QStringLiteral("/videos/%1/comments").arg(video)),
                 {}, bearer(token))
                 .status,
        200);
    QVERIFY(s.terminate());
}

void TstAuth::tokenSubcommand()
{
    const QString token = cliToken({ QStringLiteral("--user=77"), QStringLiteral("--name=carol"),
        QStringLiteral("--role=viewer"), QStringLiteral("--ttl=600"),
        QStringLiteral("--jwt-secret=") + QString::fromLatin1(kTestJwtSecret) });
    QCOMPARE(token.count(QLatin1Char('.')), 2);
    const HttpReply r = postComment(m_server->baseUrl(), token, m_video, "from the CLI token");
    QCOMPARE(r.status, 201);
    QCOMPARE(r.json().value("user").toObject().value("id").toString(), QStringLiteral("77"));
    QCOMPARE(r.json().value("user").toObject().value("name").toString(), QStringLiteral("carol"));
    // A token for another secret is refused.
    const QString other = cliToken({ QStringLiteral("--user=77"), QStringLiteral("--name=carol"),
        QStringLiteral("--jwt-secret=nope") });
    QVERIFY(!other.isEmpty());
    QCOMPARE(postComment(m_server->baseUrl(), other, m_video, "x").status, 401);
    // A moderator token from the CLI has moderator rights.
    const QString mod = cliToken({ QStringLiteral("--user=78"), QStringLiteral("--name=m"),
        QStringLiteral("--role=moderator"),
        QStringLiteral("--jwt-secret=") + QString::fromLatin1(kTestJwtSecret) });
    const QUrl del = endpoint(m_server->baseUrl(),
        QStringLiteral("/videos/%1/comments/%2").arg(m_video).arg(r.json().value("id").toString()));
    QCOMPARE(http("DELETE", del, {}, bearer(mod)).status, 204);

    // A subject or name the server would refuse (401) is refused when minting: exit 64 (usage)
    // with the reason, and nothing on stdout.
    const QString secretArg = QStringLiteral("--jwt-secret=") + QString::fromLatin1(kTestJwtSecret);
    const QList<QStringList> refused = {
        { QStringLiteral("--user=alice"), secretArg },
        { QStringLiteral("--user=007"), secretArg },
        { QStringLiteral("--user=-7"), secretArg },
        { QStringLiteral("--user=9223372036854775808"), secretArg },
        { QStringLiteral("--user=7"), QStringLiteral("--name=a\u202eb"), secretArg },
        { QStringLiteral("--user=7"), QStringLiteral("--name=") + QString(65, QLatin1Char('n')),
            secretArg },
    };
    for (const QStringList& args : refused) {
        QProcess p;
        p.start(ServerProcess::serverBinary(), QStringList { QStringLiteral("token") } + args);
        QVERIFY(p.waitForFinished(15000));
        QCOMPARE(p.exitCode(), 64);
        QVERIFY2(p.readAllStandardOutput().isEmpty(), qPrintable(args.join(' ')));
        const QByteArray err = p.readAllStandardError();
        QVERIFY2(err.contains("--user must be a canonical decimal user id")
                || err.contains("--name must be 1..64 printable characters"),
            err.constData());
    }
    QVERIFY(!cliToken({ QStringLiteral("--user=9223372036854775807"), secretArg }).isEmpty());
}

void TstAuth::devToken()
{
    // Not in dev mode: the endpoint does not exist.
    const QByteArray body = R"({"user_id":"7","name":"alice","role":"viewer"})";
    const HttpReply off
        = http("POST", endpoint(m_server->baseUrl(), QStringLiteral("/auth/dev-token")), body);
    QVERIFY2(off.status == 404 || off.status == 403, qPrintable(QString::number(off.status)));
    QVERIFY2(checkError(off, off.status).isEmpty(), qPrintable(checkError(off, off.status)));

    ServerProcess dev({ QStringLiteral("--dev") });
    QVERIFY(dev.start());
    const HttpReply r
        = http("POST", endpoint(dev.baseUrl(), QStringLiteral("/auth/dev-token")), body);
    QCOMPARE(r.status, 200);
    const QString token = r.json().value("token").toString();
    QVERIFY(!token.isEmpty());
    const qint32 video = createVideo(dev.baseUrl(), token, "dev");
    QVERIFY(video > 0);
    const HttpReply c = postComment(dev.baseUrl(), token, video, "dev comment");
    QCOMPARE(c.status, 201);
    QCOMPARE(c.json().value("user").toObject().value("id").toString(), QStringLiteral("7"));
    // The CLI with --dev mints tokens for the documented dev secret.
    const QString cli = cliToken(
        { QStringLiteral("--user=5"), QStringLiteral("--name=dave"), QStringLiteral("--dev") });
    QCOMPARE(postComment(dev.baseUrl(), cli, video, "dev cli").status, 201);
    QCOMPARE(postComment(dev.baseUrl(), dev.token("6", "erin"), video, "fixture dev secret").status,
        201);
    // A user id or name no token may carry is a 400 naming the field, never a token that every
    // request then refuses with 401.
    const QList<QPair<QByteArray, QString>> refused = {
        { R"({"user_id":"alice"})", QStringLiteral("user_id") },
        { R"({"user_id":"07"})", QStringLiteral("user_id") },
        { R"({"user_id":0})", QStringLiteral("user_id") },
        { R"({"user_id":-3})", QStringLiteral("user_id") },
        { R"({"user_id":"7","name":""})", QStringLiteral("name") },
        { R"({"user_id":"7","name":"a\u0007b"})", QStringLiteral("name") },
    };
    for (const auto& [bad, field] : refused) {
        const HttpReply b
            = http("POST", endpoint(dev.baseUrl(), QStringLiteral("/auth/dev-token")), bad);
        QCOMPARE(b.status, 400);
        QVERIFY2(checkError(b, 400).isEmpty(), qPrintable(checkError(b, 400)));
        QVERIFY2(b.body.contains(field.toUtf8()), b.body.constData());
    }
    QVERIFY(dev.terminate());
}

void TstAuth::concurrentTokenVerification()
{
    // Token checks run on many HTTP worker threads at once; the server must stay up and answer
    // every one (a crypto library used without process-wide initialisation races here).
    QList<HttpRequest> requests;
    const QUrl url
        = endpoint(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video));
    QStringList tokens;
    for (int u = 0; u < 12; ++u)
        tokens << m_server->token(QString::number(1000 + u), QStringLiteral("u%1").arg(u));
    for (int i = 0; i < 1500; ++i) {
        requests.append(
            { "POST", url, QByteArray(R"({"text":"concurrent )") + QByteArray::number(i) + "\"}",
                bearer(tokens.at(i % tokens.size())) });
    }
    const QList<HttpReply> replies = httpMany(requests, 12, 30000);
    int created = 0;
    for (const HttpReply& r : replies)
        created += r.status == 201 ? 1 : 0;
    QVERIFY2(m_server->isRunning(),
        qPrintable(
            QStringLiteral("server died after %1 of %2 posts").arg(created).arg(requests.size())));
    QCOMPARE(created, int(requests.size()));
}

QTEST_GUILESS_MAIN(TstAuth)
#include "tst_auth.moc"
