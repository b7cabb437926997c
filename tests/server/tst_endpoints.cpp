// SPDX-License-Identifier: MIT
// Every endpoint and alias of docs/protocol.md against the real server: success paths, every error
// status with its {"error":{"code","message"}} body, and hostile input.
#include "http_client.h"
#include "server_process.h"
#include "sse_reader.h"
#include "test_support.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QTcpSocket>
#include <QTest>

#include <algorithm>
#include <memory>

using namespace lctest;

namespace {
constexpr int kMaxBody = 4096;

QByteArray compact(const QJsonObject& o)
{
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

/// created_at: ISO 8601 UTC with milliseconds, e.g. 2026-11-23T10:15:30.123Z.
bool isTimestamp(const QJsonValue& v)
{
    static const QRegularExpression re(
        QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$"));
    return v.isString() && re.match(v.toString()).hasMatch();
}

/// A comment object as docs/protocol.md shows it.
QString checkComment(
    const QJsonObject& c, qint32 videoId, const QString& userId, const QString& text)
{
    QStringList p;
    const QString id = c.value(QStringLiteral("id")).toString();
    bool ok = false;
    if (!c.value(QStringLiteral("id")).isString() || id.toULongLong(&ok) == 0 || !ok)
        p << QStringLiteral("id is not a decimal string");
    if (!c.value(QStringLiteral("video_id")).isDouble()
        || c.value(QStringLiteral("video_id")).toInt() != videoId)
        p << QStringLiteral("video_id");
    const QJsonObject user = c.value(QStringLiteral("user")).toObject();
    if (!user.value(QStringLiteral("id")).isString()
        || user.value(QStringLiteral("id")).toString() != userId)
        p << QStringLiteral("user.id (must be the token's sub, as a string)");
    if (!user.value(QStringLiteral("name")).isString())
        p << QStringLiteral("user.name");
    static const QStringList kRoles { QStringLiteral("viewer"), QStringLiteral("streamer"),
        QStringLiteral("moderator") };
    if (!user.value(QStringLiteral("role")).isString()
        || !kRoles.contains(user.value(QStringLiteral("role")).toString()))
        p << QStringLiteral("user.role (viewer|streamer|moderator)");
    if (!text.isNull() && c.value(QStringLiteral("text")).toString() != text)
        p << QStringLiteral("text");
    if (!isTimestamp(c.value(QStringLiteral("created_at"))))
        p << QStringLiteral("created_at");
    if (p.isEmpty())
        return {};
    return p.join(QStringLiteral(", ")) + QStringLiteral(" in ")
        + QString::fromUtf8(QJsonDocument(c).toJson(QJsonDocument::Compact));
}
} // namespace

class TstEndpoints : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();

    void healthz();
    void createAndGetVideo();
    void createVideoErrors_data();
    void createVideoErrors();
    void getVideoErrors_data();
    void getVideoErrors();
    void postCommentSuccess();
    void postCommentInvalid_data();
    void postCommentInvalid();
    void postCommentTextLimits_data();
    void postCommentTextLimits();
    void postCommentUnknownVideo();
    void bodyTooLarge();
    void unsupportedMediaType();
    void methodNotAllowed_data();
    void methodNotAllowed();
    void unknownRoute();
    void idempotencyKeyReplay();
    void deleteComment();
    void endVideo();
    void streamHeadersAndHello();
    void streamAliasesAndDelete();
    void deleteSubscriptionIdempotent();
    void helloLastId();
    void streamUnknownVideo();
    void aliasPutComments_data();
    void aliasPutComments();
    void aliasCommentCreate_data();
    void aliasCommentCreate();
    void aliasGetComments();
    void cors();
    void rateLimit();
    void shuttingDown();
    void hostileLastEventId_data();
    void hostileLastEventId();
    void malformedRequests_data();
    void malformedRequests();
    void keepAliveAfterError_data();
    void keepAliveAfterError();

private:
    QUrl url(const QString& path) const { return endpoint(m_server->baseUrl(), path); }
    HttpReply post(const QString& path, const QByteArray& body, const QString& token,
        const HeaderList& extra = {})
    {
        return http("POST", url(path), body, bearer(token) + extra);
    }

    std::unique_ptr<ServerProcess> m_server;
    QString m_alice; // user 7, viewer
    QString m_bob; // user 8, viewer
    QString m_mod; // user 9, moderator
    qint32 m_video = 0;
};

void TstEndpoints::initTestCase()
{
    m_server = std::make_unique<ServerProcess>(
        QStringList { QStringLiteral("--max-body=%1").arg(kMaxBody) });
    QVERIFY(m_server->start());
    m_alice = m_server->token("7", "alice");
    m_bob = m_server->token("8", "bob");
    m_mod = m_server->token("9", "mod", "moderator");
    m_video = createVideo(m_server->baseUrl(), m_alice, "endpoints");
    QVERIFY(m_video > 0);
}

void TstEndpoints::cleanupTestCase()
{
    if (m_server && m_server->isRunning())
        QVERIFY2(m_server->terminate(), m_server->log().right(2000).constData());
}

void TstEndpoints::healthz()
{
    const HttpReply r = http("GET", url("/healthz"));
    QCOMPARE(r.status, 200);
}

void TstEndpoints::createAndGetVideo()
{
    const HttpReply created
        = post("/videos", compact({ { "title", QStringLiteral("Launch day ✓") } }), m_bob);
    QCOMPARE(created.status, 201);
    const QJsonObject v = created.json();
    QVERIFY2(v.value("id").isDouble() && v.value("id").toInt() > 0, created.body);
    QCOMPARE(v.value("title").toString(), QStringLiteral("Launch day ✓"));
    QCOMPARE(v.value("streamer").toObject().value("id").toString(), QStringLiteral("8"));
    QCOMPARE(v.value("streamer").toObject().value("name").toString(), QStringLiteral("bob"));
    QCOMPARE(v.value("status").toString(), QStringLiteral("live"));
    QVERIFY2(v.value("viewers").isDouble(), created.body);
    QCOMPARE(v.value("comment_count").toInt(-1), 0);
    QVERIFY2(isTimestamp(v.value("created_at")), created.body);

    const qint32 id = v.value("id").toInt();
    QVERIFY(postComment(m_server->baseUrl(), m_alice, id, "one").status == 201);
    QVERIFY(postComment(m_server->baseUrl(), m_alice, id, "two").status == 201);
    const HttpReply got = http("GET", url(QStringLiteral("/videos/%1").arg(id)));
    QCOMPARE(got.status, 200);
    QCOMPARE(got.json().value("id").toInt(), id);
    QCOMPARE(got.json().value("title").toString(), QStringLiteral("Launch day ✓"));
    QCOMPARE(got.json().value("comment_count").toInt(), 2);
    QCOMPARE(got.json().value("status").toString(), QStringLiteral("live"));
}

void TstEndpoints::createVideoErrors_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<bool>("withToken");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("field");
    QTest::newRow("no token") << QByteArray(R"({"title":"x"})") << false << 401 << QString();
    QTest::newRow("bad json") << QByteArray(R"({"title":)") << true << 400 << QString();
    QTest::newRow("not an object") << QByteArray(R"(["title"])") << true << 400 << QString();
    QTest::newRow("title missing") << QByteArray(R"({})") << true << 400 << QStringLiteral("title");
    QTest::newRow("title number") << QByteArray(R"({"title":5})") << true << 400
                                  << QStringLiteral("title");
    QTest::newRow("title blank") << QByteArray(R"({"title":"   "})") << true << 400
                                 << QStringLiteral("title");
}

void TstEndpoints::createVideoErrors()
{
    QFETCH(QByteArray, body);
    QFETCH(bool, withToken);
    QFETCH(int, status);
    QFETCH(QString, field);
    const HttpReply r = post("/videos", body, withToken ? m_alice : QString());
    QVERIFY2(checkError(r, status).isEmpty(), qPrintable(checkError(r, status)));
    if (!field.isEmpty())
        QVERIFY2(r.errorMessage().contains(field, Qt::CaseInsensitive), r.body);
}

void TstEndpoints::getVideoErrors_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<QList<int>>("statuses");
    QTest::newRow("unknown") << QStringLiteral("/videos/2000000000") << QList<int> { 404 };
    // Path ids that are not positive int32: a bad field (400) or no such resource (404).
    QTest::newRow("huge") << QStringLiteral("/videos/99999999999999999999")
                          << QList<int> { 400, 404 };
    QTest::newRow("negative") << QStringLiteral("/videos/-5") << QList<int> { 400, 404 };
    QTest::newRow("zero") << QStringLiteral("/videos/0") << QList<int> { 400, 404 };
    QTest::newRow("text") << QStringLiteral("/videos/abc") << QList<int> { 400, 404 };
    QTest::newRow("history unknown")
        << QStringLiteral("/videos/2000000000/comments") << QList<int> { 404 };
    QTest::newRow("stream negative")
        << QStringLiteral("/videos/-1/subscriptions") << QList<int> { 400, 404 };
    QTest::newRow("stream huge") << QStringLiteral("/videos/99999999999/subscriptions")
                                 << QList<int> { 400, 404 };
    QTest::newRow("history huge") << QStringLiteral("/videos/4294967297/comments")
                                  << QList<int> { 400, 404 };
}

void TstEndpoints::getVideoErrors()
{
    QFETCH(QString, path);
    QFETCH(QList<int>, statuses);
    const HttpReply r = http("GET", url(path));
    QVERIFY2(statuses.contains(r.status), qPrintable(QString::number(r.status) + ' ' + r.body));
    QVERIFY2(checkError(r, r.status).isEmpty(), qPrintable(checkError(r, r.status)));
}

void TstEndpoints::postCommentSuccess()
{
    const HttpReply r = postComment(m_server->baseUrl(), m_alice, m_video, "Hello from San Jose!");
    QCOMPARE(r.status, 201);
    QVERIFY2(r.header("content-type").startsWith("application/json"), r.header("content-type"));
    const QString problem = checkComment(r.json(), m_video, "7", "Hello from San Jose!");
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
    QCOMPARE(r.json().value("user").toObject().value("name").toString(), QStringLiteral("alice"));
    // The newest history page shows it first, identical.
    const HistoryPage page
        = getHistoryPage(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(m_video));
    QCOMPARE(page.reply.status, 200);
    QVERIFY(!page.ids.isEmpty());
    QCOMPARE(page.ids.first(), r.json().value("id").toString().toULongLong());
    QCOMPARE(page.reply.json().value("comments").toArray().first().toObject(), r.json());
    // A multi-line comment is fine (newline is the one allowed control character).
    QCOMPARE(postComment(m_server->baseUrl(), m_alice, m_video, "line one\nline two").status, 201);
}

void TstEndpoints::postCommentInvalid_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("field"); // empty: the message need not name a field
    QTest::newRow("bad json") << QByteArray(R"({"text":"unterminated)") << QString();
    QTest::newRow("trailing garbage") << QByteArray(R"({"text":"x"} xyz)") << QString();
    QTest::newRow("empty body") << QByteArray("") << QString();
    QTest::newRow("array") << QByteArray(R"(["text"])") << QString();
    QTest::newRow("text missing") << QByteArray(R"({"message_text":"x"})")
                                  << QStringLiteral("text");
    QTest::newRow("text null") << QByteArray(R"({"text":null})") << QStringLiteral("text");
    QTest::newRow("text number") << QByteArray(R"({"text":42})") << QStringLiteral("text");
    QTest::newRow("text object") << QByteArray(R"({"text":{"a":1}})") << QStringLiteral("text");
    QTest::newRow("text empty") << QByteArray(R"({"text":""})") << QStringLiteral("text");
    QTest::newRow("whitespace only")
        << QByteArray(R"({"text":"   \n   "})") << QStringLiteral("text");
    // Raw invalid UTF-8 or a raw control character makes the JSON text itself invalid (RFC 8259
    // §7, §8.1): a bad-JSON 400, which need not name the field.
    QTest::newRow("invalid utf-8") << QByteArray("{\"text\":\"abc\xff\xfe\"}") << QString();
    QTest::newRow("overlong utf-8") << QByteArray("{\"text\":\"a\xc0\xafz\"}") << QString();
    QTest::newRow("truncated utf-8") << QByteArray("{\"text\":\"a\xe2\x82\"}") << QString();
    QTest::newRow("utf-8 surrogate") << QByteArray("{\"text\":\"a\xed\xa0\x80z\"}") << QString();
    QTest::newRow("NUL escape") << QByteArray(R"({"text":"a\u0000b"})") << QStringLiteral("text");
    QTest::newRow("BEL escape") << QByteArray(R"({"text":"ding\u0007"})") << QStringLiteral("text");
    QTest::newRow("ESC raw") << QByteArray("{\"text\":\"a\x1b[31mred\"}") << QString();
    QTest::newRow("tab") << QByteArray(R"({"text":"a\tb"})") << QStringLiteral("text");
    QTest::newRow("carriage return") << QByteArray(R"({"text":"a\rb"})") << QStringLiteral("text");
    QTest::newRow("DEL") << QByteArray(R"({"text":"a\u007fb"})") << QStringLiteral("text");
    QTest::newRow("C1 control") << QByteArray(R"({"text":"a\u009bb"})") << QStringLiteral("text");
}

void TstEndpoints::postCommentInvalid()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, field);
    const HttpReply r = http("POST", url(QStringLiteral("/videos/%1/comments").arg(m_video)), body,
        bearer(m_alice) + HeaderList { { "Content-Type", "application/json" } });
    if (QByteArray(QTest::currentDataTag()) == "carriage return" && r.status == 201) {
        // Normalising CR to a newline instead of refusing it is acceptable; storing it is not.
        QVERIFY2(!r.json().value("text").toString().contains(QLatin1Char('\r')), r.body);
        return;
    }
    QVERIFY2(checkError(r, 400).isEmpty(), qPrintable(checkError(r, 400)));
    if (!field.isEmpty())
        QVERIFY2(r.errorMessage().contains(field, Qt::CaseInsensitive), r.body);
}

void TstEndpoints::postCommentTextLimits_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("status");
    const QString emoji
        = QString::fromUtf8("\xF0\x9F\x98\x80"); // U+1F600: 1 character, 4 bytes, 2 UTF-16 units
    QTest::newRow("500 ascii") << QString(500, QLatin1Char('a')) << 201;
    QTest::newRow("501 ascii") << QString(501, QLatin1Char('a')) << 400;
    QTest::newRow("500 emoji") << emoji.repeated(500) << 201;
    QTest::newRow("501 emoji") << emoji.repeated(501) << 400;
    QTest::newRow("250 emoji (500 UTF-16 units)") << emoji.repeated(250) << 201;
    QTest::newRow("500 CJK") << QString(500, QChar(0x4E2D)) << 201;
    QTest::newRow("500 after trimming")
        << QStringLiteral("   ") + QString(500, QLatin1Char('b')) + QStringLiteral("  \n") << 201;
    QTest::newRow("1 character") << QStringLiteral("x") << 201;
}

void TstEndpoints::postCommentTextLimits()
{
    QFETCH(QString, text);
    QFETCH(int, status);
    const HttpReply r = postComment(m_server->baseUrl(), m_alice, m_video, text);
    if (status == 201) {
        QVERIFY2(r.status == 201, qPrintable(QString::number(r.status) + ' ' + r.body));
        QCOMPARE(r.json().value("text").toString().trimmed(), text.trimmed());
    } else {
        QVERIFY2(checkError(r, status).isEmpty(), qPrintable(checkError(r, status)));
        QVERIFY2(r.errorMessage().contains("text", Qt::CaseInsensitive), r.body);
    }
}

void TstEndpoints::postCommentUnknownVideo()
{
    const HttpReply r = postComment(m_server->baseUrl(), m_alice, 2000000000, "hi");
    QVERIFY2(checkError(r, 404).isEmpty(), qPrintable(checkError(r, 404)));
    const HttpReply noToken = postComment(m_server->baseUrl(), QString(), m_video, "hi");
    QVERIFY2(checkError(noToken, 401).isEmpty(), qPrintable(checkError(noToken, 401)));
}

void TstEndpoints::bodyTooLarge()
{
    const QByteArray big = compact({ { "text", QString(kMaxBody + 100, QLatin1Char('z')) } });
    const HttpReply r = http(
        "POST", url(QStringLiteral("/videos/%1/comments").arg(m_video)), big, bearer(m_alice));
    QVERIFY2(checkError(r, 413).isEmpty(), qPrintable(checkError(r, 413)));
    // A huge announced length is refused from the head alone (no 100 MB upload needed).
    const HttpReply raw = rawHttp(m_server->port(),
        "POST /videos/" + QByteArray::number(m_video)
            + "/comments HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              "Authorization: Bearer "
            + m_alice.toUtf8()
            + "\r\nContent-Type: application/json\r\n"
              "Content-Length: 104857600\r\n\r\n{\"text\":\"");
    QVERIFY2(checkError(raw, 413).isEmpty(), qPrintable(checkError(raw, 413)));
    // The same on POST /videos.
    const HttpReply v
        = post("/videos", compact({ { "title", QString(kMaxBody, QLatin1Char('t')) } }), m_alice);
    QVERIFY2(checkError(v, 413).isEmpty(), qPrintable(checkError(v, 413)));
}

void TstEndpoints::unsupportedMediaType()
{
    const QString path = QStringLiteral("/videos/%1/comments").arg(m_video);
    const HttpReply r
        = post(path, R"({"text":"plain"})", m_alice, { { "Content-Type", "text/plain" } });
    QVERIFY2(checkError(r, 415).isEmpty(), qPrintable(checkError(r, 415)));
    const HttpReply form = post(
        path, "text=hi", m_alice, { { "Content-Type", "application/x-www-form-urlencoded" } });
    QVERIFY2(checkError(form, 415).isEmpty(), qPrintable(checkError(form, 415)));
    // Media-type parameters are fine.
    const HttpReply ok = post(path, R"({"text":"with charset"})", m_alice,
        { { "Content-Type", "application/json; charset=utf-8" } });
    QCOMPARE(ok.status, 201);
}

void TstEndpoints::methodNotAllowed_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path");
    QTest::newRow("PATCH video") << QByteArray("PATCH") << QStringLiteral("/videos/%1");
    QTest::newRow("DELETE videos") << QByteArray("DELETE") << QStringLiteral("/videos");
    QTest::newRow("POST healthz") << QByteArray("POST") << QStringLiteral("/healthz");
    QTest::newRow("PUT metrics") << QByteArray("PUT") << QStringLiteral("/metrics");
    QTest::newRow("GET end") << QByteArray("GET") << QStringLiteral("/videos/%1/end");
    QTest::newRow("POST subscriptions")
        << QByteArray("POST") << QStringLiteral("/videos/%1/subscriptions");
    QTest::newRow("PATCH comments") << QByteArray("PATCH") << QStringLiteral("/videos/%1/comments");
}

void TstEndpoints::methodNotAllowed()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    const HttpReply r = http(method, url(path.contains("%1") ? path.arg(m_video) : path),
        method == "GET" ? QByteArray() : QByteArray("{}"), bearer(m_alice));
    QVERIFY2(checkError(r, 405).isEmpty(), qPrintable(checkError(r, 405)));
    // RFC 9110 §15.5.6: a 405 response MUST carry Allow.
    QVERIFY2(!r.header("allow").isEmpty(), "405 without an Allow header");
}

void TstEndpoints::unknownRoute()
{
    for (const char* path : { "/nope", "/videos/1/nope", "/videos/1/comments/2/3", "/" }) {
        const HttpReply r = http("GET", url(QString::fromLatin1(path)));
        QVERIFY2(checkError(r, 404).isEmpty(),
            qPrintable(QString::fromLatin1(path) + ": " + checkError(r, 404)));
    }
}

void TstEndpoints::idempotencyKeyReplay()
{
    const HeaderList key { { "Idempotency-Key",
        "key-" + QByteArray::number(QDateTime::currentMSecsSinceEpoch()) } };
    const qint32 video = createVideo(m_server->baseUrl(), m_alice, "idem");
    QVERIFY(video > 0);
    const HttpReply first = postComment(m_server->baseUrl(), m_alice, video, "once only", key);
    QCOMPARE(first.status, 201);
    const HttpReply second = postComment(m_server->baseUrl(), m_alice, video, "once only", key);
    QVERIFY2(second.status == 201 || second.status == 200, second.body);
    QCOMPARE(second.json().value("id").toString(), first.json().value("id").toString());
    const HttpReply other = postComment(
        m_server->baseUrl(), m_alice, video, "once only", { { "Idempotency-Key", "another-key" } });
    QCOMPARE(other.status, 201);
    QVERIFY(other.json().value("id").toString() != first.json().value("id").toString());
    bool ok = false;
    QString error;
    const QList<quint64> ids = walkBefore(m_server->baseUrl(), video, 0, &ok, &error);
    QVERIFY2(ok, qPrintable(error));
    QCOMPARE(ids.size(), 2);
    // Another user's identical key is another request.
    const HttpReply bobs = postComment(m_server->baseUrl(), m_bob, video, "once only", key);
    QCOMPARE(bobs.status, 201);
    QVERIFY(bobs.json().value("id").toString() != first.json().value("id").toString());
}

void TstEndpoints::deleteComment()
{
    const qint32 video = createVideo(m_server->baseUrl(), m_alice, "deletions");
    QVERIFY(video > 0);
    SseReader viewer;
    viewer.open(m_server->port(), "/videos/" + QByteArray::number(video) + "/subscriptions");
    QVERIFY(viewer.waitForHello());
    const HttpReply c = postComment(m_server->baseUrl(), m_bob, video, "to be deleted");
    QCOMPARE(c.status, 201);
    const QString id = c.json().value("id").toString();
    const QString path = QStringLiteral("/videos/%1/comments/%2").arg(video).arg(id);

    QVERIFY2(checkError(http("DELETE", url(path)), 401).isEmpty(), "DELETE without token");
    const HttpReply notAuthor = http("DELETE", url(path), {}, bearer(m_alice));
    QVERIFY2(checkError(notAuthor, 403).isEmpty(), qPrintable(checkError(notAuthor, 403)));
    const HttpReply byAuthor = http("DELETE", url(path), {}, bearer(m_bob));
    QCOMPARE(byAuthor.status, 204);
    QTRY_VERIFY(!viewer.events("deleted").isEmpty());
    QCOMPARE(viewer.events("deleted").first().json().value("id").toString(), id);
    const HistoryPage page
        = getHistoryPage(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(video));
    QVERIFY(!page.ids.contains(id.toULongLong()));
    const HttpReply again = http("DELETE", url(path), {}, bearer(m_bob));
    QVERIFY2(checkError(again, 404).isEmpty(), qPrintable(checkError(again, 404)));

    const HttpReply c2 = postComment(m_server->baseUrl(), m_bob, video, "moderated");
    const HttpReply byMod = http("DELETE",
        url(QStringLiteral("/videos/%1/comments/%2")
                .arg(video)
                .arg(c2.json().value("id").toString())),
        {}, bearer(m_mod));
    QCOMPARE(byMod.status, 204);
    for (const QString& bad : { QStringLiteral("abc"), QStringLiteral("-1"),
             QStringLiteral("99999999999999999999999") }) {
        const HttpReply r = http("DELETE",
            url(QStringLiteral("/videos/%1/comments/%2").arg(video).arg(bad)), {}, bearer(m_mod));
        QVERIFY2(
            r.status == 400 || r.status == 404, qPrintable(bad + ": " + QString::number(r.status)));
        QVERIFY2(checkError(r, r.status).isEmpty(), qPrintable(checkError(r, r.status)));
    }
}

void TstEndpoints::endVideo()
{
    const HttpReply created = post("/videos", compact({ { "title", "to end" } }), m_alice);
    QCOMPARE(created.status, 201);
    const qint32 video = created.json().value("id").toInt();
    QVERIFY(postComment(m_server->baseUrl(), m_bob, video, "before the end").status == 201);
    const QString endPath = QStringLiteral("/videos/%1/end").arg(video);

    QVERIFY2(checkError(post(endPath, {}, QString()), 401).isEmpty(), "end without token");
    const HttpReply byViewer = post(endPath, {}, m_bob);
    QVERIFY2(checkError(byViewer, 403).isEmpty(), qPrintable(checkError(byViewer, 403)));
    const HttpReply unknown = post(QStringLiteral("/videos/2000000000/end"), {}, m_alice);
    QVERIFY2(checkError(unknown, 404).isEmpty(), qPrintable(checkError(unknown, 404)));
    const HttpReply ended = post(endPath, {}, m_alice);
    QCOMPARE(ended.status, 200);
    QTRY_COMPARE(
        http("GET", url(QStringLiteral("/videos/%1").arg(video))).json().value("status").toString(),
        QStringLiteral("ended"));

    const HttpReply late = postComment(m_server->baseUrl(), m_bob, video, "too late");
    QVERIFY2(checkError(late, 409).isEmpty(), qPrintable(checkError(late, 409)));
    // History stays readable.
    const HistoryPage page
        = getHistoryPage(m_server->baseUrl(), QStringLiteral("/videos/%1/comments").arg(video));
    QCOMPARE(page.reply.status, 200);
    QCOMPARE(page.ids.size(), 1);

    // A moderator may end someone else's video.
    const qint32 other = createVideo(m_server->baseUrl(), m_bob, "moderated video");
    QCOMPARE(post(QStringLiteral("/videos/%1/end").arg(other), {}, m_mod).status, 200);
}

void TstEndpoints::streamHeadersAndHello()
{
    for (const QByteArray& method : { QByteArray("GET"), QByteArray("PUT") }) {
        SseReader s;
        s.open(m_server->port(), "/videos/" + QByteArray::number(m_video) + "/subscriptions", {},
            method);
        QVERIFY2(s.waitForHello(), s.raw().left(500));
        QCOMPARE(s.status(), 200);
        QVERIFY2(
            s.headers().value("content-type").startsWith("text/event-stream"), s.raw().left(500));
        QCOMPARE(s.headers().value("cache-control"), QByteArray("no-cache"));
        QCOMPARE(s.headers().value("x-accel-buffering"), QByteArray("no"));
        QVERIFY2(!s.headers().contains("content-length"),
            "an SSE response must not carry Content-Length");
        // COMMON.md: the body is raw (no chunked), the connection closes at the end.
        QVERIFY2(!s.headers().value("transfer-encoding").contains("chunked"), s.raw().left(500));
        QVERIFY2(s.body().startsWith("retry: "), s.body().left(100));
        const qsizetype hello = s.body().indexOf("event: hello");
        QVERIFY(hello > 0);
        QVERIFY2(!s.body().left(hello).contains("\ndata:"), "hello must be the first event");
        QCOMPARE(s.events().first().type, QByteArray("hello"));
        QVERIFY(s.retryMs() > 0);
        const QJsonObject h = s.hello();
        QVERIFY2(h.value("subscription_id").isString()
                && h.value("subscription_id").toString().size() >= 16,
            "subscription ids must be unguessable");
        QCOMPARE(h.value("video_id").toInt(), m_video);
        QCOMPARE(h.value("heartbeat_ms").toInt(), 15000);
        QVERIFY(h.value("resumed").isBool());
        // A live comment arrives with id: = the comment id and the comment object as data.
        const HttpReply c = postComment(
            m_server->baseUrl(), m_alice, m_video, QString::fromLatin1("live " + method));
        QCOMPARE(c.status, 201);
        QVERIFY(s.waitForComments(1));
        const SseEvent ev = s.events("comment").first();
        QCOMPARE(QString::fromLatin1(ev.id), c.json().value("id").toString());
        QCOMPARE(ev.json(), c.json());
    }
}

void TstEndpoints::streamAliasesAndDelete()
{
    const QByteArray base = "/videos/" + QByteArray::number(m_video);
    // PUT /videos/{id}/subscribe (alias), closed by DELETE /videos/{id}/unsubscribe/{sid} (alias).
    SseReader a;
    a.open(m_server->port(), base + "/subscribe", {}, "PUT");
    QVERIFY2(a.waitForHello(), a.raw().left(500));
    QCOMPARE(a.status(), 200);
    const HttpReply un
        = http("DELETE", url(QString::fromLatin1(base) + "/unsubscribe/" + a.subscriptionId()));
    QCOMPARE(un.status, 204);
    QVERIFY2(a.waitForDisconnected(), "DELETE of the subscription did not close the stream");

    SseReader b;
    b.open(m_server->port(), base + "/subscriptions");
    QVERIFY(b.waitForHello());
    const QString path = QString::fromLatin1(base) + "/subscriptions/" + b.subscriptionId();
    QCOMPARE(http("DELETE", url(path)).status, 204);
    QVERIFY(b.waitForDisconnected());
    const HttpReply guess
        = http("DELETE", url(QString::fromLatin1(base) + "/subscriptions/s-0000"));
    QVERIFY2(checkError(guess, 404).isEmpty(), qPrintable(checkError(guess, 404)));
}

void TstEndpoints::deleteSubscriptionIdempotent()
{
    // docs/protocol.md "Closing": a repeated DELETE is 204; an id never issued (or issued for
    // another video) is 404.
    const QByteArray base = "/videos/" + QByteArray::number(m_video);
    SseReader a;
    a.open(m_server->port(), base + "/subscriptions");
    QVERIFY(a.waitForHello());
    const QString sid = a.subscriptionId();
    QCOMPARE(sid.size(), 2 + 32);
    const QString path = QString::fromLatin1(base) + "/subscriptions/" + sid;
    QCOMPARE(http("DELETE", url(path)).status, 204);
    QVERIFY(a.waitForDisconnected());
    QCOMPARE(http("DELETE", url(path)).status, 204);
    QCOMPARE(http("DELETE", url(path)).status, 204);
    QCOMPARE(http("DELETE", url(QString::fromLatin1(base) + "/unsubscribe/" + sid)).status, 204);

    // Closed by the client itself, then DELETEd: also 204.
    SseReader b;
    b.open(m_server->port(), base + "/subscriptions");
    QVERIFY(b.waitForHello());
    const QString bSid = b.subscriptionId();
    b.close();
    QCOMPARE(http("DELETE", url(QString::fromLatin1(base) + "/subscriptions/" + bSid)).status, 204);

    // Never issued: same shape, wrong MAC (last digit changed), or all zeros.
    QString forged = sid;
    forged[forged.size() - 1]
        = forged.back() == QLatin1Char('0') ? QLatin1Char('1') : QLatin1Char('0');
    for (const QString& bad : { forged, QStringLiteral("s-") + QString(32, QLatin1Char('0')) }) {
        const HttpReply r
            = http("DELETE", url(QString::fromLatin1(base) + "/subscriptions/" + bad));
        QVERIFY2(checkError(r, 404).isEmpty(), qPrintable(bad + ": " + checkError(r, 404)));
    }
    // Issued for this video, asked on another one.
    const qint32 other = createVideo(m_server->baseUrl(), m_alice, "other");
    QVERIFY(other > 0);
    const HttpReply wrongVideo
        = http("DELETE", url(QStringLiteral("/videos/%1/subscriptions/%2").arg(other).arg(sid)));
    QVERIFY2(checkError(wrongVideo, 404).isEmpty(), qPrintable(checkError(wrongVideo, 404)));
}

void TstEndpoints::helloLastId()
{
    // hello.last_id: the newest stored comment id of the video (a string), null when none; a
    // client can resume from it.
    const qint32 video = createVideo(m_server->baseUrl(), m_alice, "last id");
    QVERIFY(video > 0);
    const QByteArray path = "/videos/" + QByteArray::number(video) + "/subscriptions";
    {
        SseReader empty;
        empty.open(m_server->port(), path);
        QVERIFY(empty.waitForHello());
        QVERIFY2(empty.hello().contains("last_id") && empty.hello().value("last_id").isNull(),
            empty.events().first().data);
    }
    QString newest;
    for (const char* text : { "first", "second" }) {
        const HttpReply c = postComment(m_server->baseUrl(), m_alice, video, text);
        QCOMPARE(c.status, 201);
        newest = c.json().value("id").toString();
    }
    SseReader s;
    s.open(m_server->port(), path);
    QVERIFY(s.waitForHello());
    QVERIFY2(s.hello().value("last_id").isString(), s.events().first().data);
    QCOMPARE(s.hello().value("last_id").toString(), newest);
    s.close();

    // Resuming from last_id replays what came after it (and, by the overlap window, possibly
    // a few before it; never a reset).
    const HttpReply later = postComment(m_server->baseUrl(), m_alice, video, "third");
    QCOMPARE(later.status, 201);
    SseReader resumed;
    resumed.open(m_server->port(), path, { { "Last-Event-ID", newest.toUtf8() } });
    QVERIFY(resumed.waitForHello());
    QVERIFY(resumed.hello().value("resumed").toBool());
    QCOMPARE(resumed.hello().value("last_id").toString(), later.json().value("id").toString());
    QVERIFY(resumed.waitForComments(1));
    const auto hasLater = [&] {
        const auto comments = resumed.events("comment");
        return std::any_of(comments.cbegin(), comments.cend(),
            [&](const SseEvent& e) { return e.json() == later.json(); });
    };
    QTRY_VERIFY(hasLater());
}

void TstEndpoints::streamUnknownVideo()
{
    SseReader s;
    s.open(m_server->port(), "/videos/2000000000/subscriptions");
    QVERIFY(s.waitForHeaders());
    QCOMPARE(s.status(), 404);
    QVERIFY(s.waitForDisconnected() || s.body().contains("error"));
    QVERIFY2(s.body().contains("\"error\""), s.raw().left(400));
}

void TstEndpoints::aliasPutComments_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("field");
    QTest::newRow("user_id string")
        << QByteArray(R"({"user_id":"7","comment":"via PUT"})") << 201 << QString();
    QTest::newRow("user_id number")
        << QByteArray(R"({"user_id":7,"comment":"via PUT n"})") << 201 << QString();
    QTest::newRow("no user_id") << QByteArray(R"({"comment":"via PUT, no user"})") << 201
                                << QString();
    QTest::newRow("user_id mismatch")
        << QByteArray(R"({"user_id":"8","comment":"spoof"})") << 403 << QString();
    QTest::newRow("user_id mismatch number")
        << QByteArray(R"({"user_id":8,"comment":"spoof"})") << 403 << QString();
    QTest::newRow("comment missing")
        << QByteArray(R"({"user_id":"7"})") << 400 << QStringLiteral("comment");
    QTest::newRow("comment blank")
        << QByteArray(R"({"user_id":"7","comment":"  "})") << 400 << QStringLiteral("comment");
    QTest::newRow("user_id garbage") << QByteArray(R"({"user_id":"seven","comment":"x"})") << 403
                                     << QString(); // "must match the token (else 403)"
}

void TstEndpoints::aliasPutComments()
{
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(QString, field);
    const HttpReply r = http(
        "PUT", url(QStringLiteral("/videos/%1/comments").arg(m_video)), body, bearer(m_alice));
    if (status == 201) {
        QVERIFY2(r.status == 201, qPrintable(QString::number(r.status) + ' ' + r.body));
        const QString problem = checkComment(r.json(), m_video, "7", QString());
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QCOMPARE(r.json().value("text").toString(),
            QJsonDocument::fromJson(body).object().value("comment").toString());
    } else {
        QVERIFY2(checkError(r, status).isEmpty(), qPrintable(checkError(r, status)));
        if (!field.isEmpty())
            QVERIFY2(r.errorMessage().contains(field, Qt::CaseInsensitive), r.body);
    }
}

void TstEndpoints::aliasCommentCreate_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("field");
    QTest::newRow("id as string") << QByteArray(R"({"liveVideoId":"VID","message":"notes style"})")
                                  << 201 << QString();
    QTest::newRow("id as number") << QByteArray(R"({"liveVideoId":VID,"message":"number id"})")
                                  << 201 << QString();
    QTest::newRow("with user_id") << QByteArray(
        R"({"liveVideoId":"VID","user_id":"7","message":"mine"})")
                                  << 201 << QString();
    QTest::newRow("user_id mismatch")
        << QByteArray(R"({"liveVideoId":"VID","user_id":"8","message":"spoof"})") << 403
        << QString();
    QTest::newRow("unknown video")
        << QByteArray(R"({"liveVideoId":"2000000000","message":"x"})") << 404 << QString();
    QTest::newRow("id garbage") << QByteArray(R"({"liveVideoId":"abc","message":"x"})") << 400
                                << QStringLiteral("liveVideoId");
    QTest::newRow("id negative") << QByteArray(R"({"liveVideoId":-3,"message":"x"})") << 400
                                 << QStringLiteral("liveVideoId");
    QTest::newRow("id negative string") << QByteArray(R"({"liveVideoId":"-3","message":"x"})")
                                        << 400 << QStringLiteral("liveVideoId");
    QTest::newRow("id huge") << QByteArray(R"({"liveVideoId":99999999999,"message":"x"})") << 400
                             << QStringLiteral("liveVideoId");
    QTest::newRow("id huge string")
        << QByteArray(R"({"liveVideoId":"99999999999999999999999","message":"x"})") << 400
        << QStringLiteral("liveVideoId");
    QTest::newRow("id fractional") << QByteArray(R"({"liveVideoId":1.5,"message":"x"})") << 400
                                   << QStringLiteral("liveVideoId");
    QTest::newRow("id missing") << QByteArray(R"({"message":"x"})") << 400
                                << QStringLiteral("liveVideoId");
    QTest::newRow("message missing")
        << QByteArray(R"({"liveVideoId":"VID"})") << 400 << QStringLiteral("message");
    QTest::newRow("message too long")
        << QByteArray(R"({"liveVideoId":"VID","message":")") + QByteArray(501, 'm') + "\"}" << 400
        << QStringLiteral("message");
}

void TstEndpoints::aliasCommentCreate()
{
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(QString, field);
    body.replace("VID", QByteArray::number(m_video));
    const HttpReply r = post("/comment/create", body, m_alice);
    if (status == 201) {
        QVERIFY2(r.status == 201, qPrintable(QString::number(r.status) + ' ' + r.body));
        const QString problem = checkComment(r.json(), m_video, "7",
            QJsonDocument::fromJson(body).object().value("message").toString());
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    } else {
        QVERIFY2(checkError(r, status).isEmpty(), qPrintable(checkError(r, status)));
        if (!field.isEmpty())
            QVERIFY2(r.errorMessage().contains(field, Qt::CaseInsensitive), r.body);
    }
    const HttpReply noToken = post("/comment/create", body, QString());
    QVERIFY2(checkError(noToken, 401).isEmpty(), qPrintable(checkError(noToken, 401)));
}

void TstEndpoints::aliasGetComments()
{
    const qint32 video = createVideo(m_server->baseUrl(), m_alice, "alias history");
    const QList<quint64> posted
        = acknowledgedIds(postComments(m_server->baseUrl(), m_alice, video, texts("h", 7), 1));
    QCOMPARE(posted.size(), 7);
    // GET /comments/{liveVideoId}?cursor=…&limit=… pages older history, newest first, like before=.
    QList<quint64> walked;
    QString cursor;
    for (int i = 0; i < 10; ++i) {
        const HistoryPage page = getHistoryPage(m_server->baseUrl(),
            QStringLiteral("/comments/%1?limit=3%2")
                .arg(video)
                .arg(cursor.isEmpty() ? QString() : "&cursor=" + cursor));
        QCOMPARE(page.reply.status, 200);
        QVERIFY(page.ids.size() <= 3);
        walked += page.ids;
        if (page.ids.isEmpty() || page.nextCursorNull)
            break;
        cursor = page.nextCursor;
    }
    QCOMPARE(walked, sorted(posted, true));
    const HistoryPage unknown
        = getHistoryPage(m_server->baseUrl(), QStringLiteral("/comments/2000000000"));
    QVERIFY2(checkError(unknown.reply, 404).isEmpty(), qPrintable(checkError(unknown.reply, 404)));
    const HistoryPage garbage
        = getHistoryPage(m_server->baseUrl(), QStringLiteral("/comments/%1?cursor=xyz").arg(video));
    QVERIFY2(checkError(garbage.reply, 400).isEmpty(), qPrintable(checkError(garbage.reply, 400)));
}

void TstEndpoints::cors()
{
    const QByteArray origin = "http://player.example:8000";
    const HttpReply pre = http("OPTIONS", url(QStringLiteral("/videos/%1/comments").arg(m_video)),
        {},
        { { "Origin", origin }, { "Access-Control-Request-Method", "POST" },
            { "Access-Control-Request-Headers", "authorization, content-type, idempotency-key" } });
    QCOMPARE(pre.status, 204);
    const QByteArray allowOrigin = pre.header("access-control-allow-origin");
    QVERIFY2(allowOrigin == origin || allowOrigin == "*", allowOrigin);
    QVERIFY2(pre.header("access-control-allow-methods").contains("POST"),
        pre.header("access-control-allow-methods"));
    const QByteArray allowHeaders = pre.header("access-control-allow-headers").toLower();
    QVERIFY2(allowHeaders == "*"
            || (allowHeaders.contains("authorization") && allowHeaders.contains("content-type")),
        allowHeaders);

    const HttpReply get
        = http("GET", url(QStringLiteral("/videos/%1").arg(m_video)), {}, { { "Origin", origin } });
    QCOMPARE(get.status, 200);
    QVERIFY(!get.header("access-control-allow-origin").isEmpty());
    const HttpReply err = http("GET", url("/videos/2000000000"), {}, { { "Origin", origin } });
    QVERIFY2(!err.header("access-control-allow-origin").isEmpty(),
        "error responses need CORS headers too");

    SseReader s;
    s.open(m_server->port(), "/videos/" + QByteArray::number(m_video) + "/subscriptions",
        { { "Origin", origin } });
    QVERIFY(s.waitForHello());
    QVERIFY(!s.headers().value("access-control-allow-origin").isEmpty());
}

void TstEndpoints::rateLimit()
{
    ServerProcess limited({ QStringLiteral("--rate-limit=2/30s") });
    QVERIFY(limited.start());
    const QString streamer = limited.token("100", "streamer", "streamer");
    const QString viewer = limited.token("101", "viewer");
    const QString other = limited.token("102", "other");
    const qint32 video = createVideo(limited.baseUrl(), streamer, "limited");
    QVERIFY(video > 0);
    int accepted = 0;
    HttpReply limitedReply;
    for (int i = 0; i < 20 && limitedReply.status == 0; ++i) {
        const HttpReply r
            = postComment(limited.baseUrl(), viewer, video, QStringLiteral("spam %1").arg(i));
        if (r.status == 201)
            ++accepted;
        else
            limitedReply = r;
    }
    QVERIFY2(accepted >= 1, "the first comment must pass");
    QVERIFY2(accepted <= 5,
        qPrintable(
            QStringLiteral("%1 comments passed a 2/30s limit (burst is at most 5)").arg(accepted)));
    QVERIFY2(checkError(limitedReply, 429).isEmpty(), qPrintable(checkError(limitedReply, 429)));
    bool ok = false;
    const int retryAfter = limitedReply.header("retry-after").toInt(&ok);
    QVERIFY2(ok && retryAfter >= 1 && retryAfter <= 30, limitedReply.header("retry-after"));
    // The limit is per user.
    QCOMPARE(postComment(limited.baseUrl(), other, video, "not me").status, 201);
    QVERIFY(limited.terminate());
}

void TstEndpoints::shuttingDown()
{
    // A request that arrives between SIGTERM and exit is answered 503 shutting_down with
    // Retry-After: 2 and the connection closed. To land one there deterministically: (1) a stream
    // that does not read holds the shutdown in its flush (up to 2 s), (2) a second stream tells
    // when the shutdown has begun (its final `retry:` is written after the 503 switch), (3) the
    // request goes over a keep-alive connection opened before SIGTERM (the listener is closed).
    ServerProcess s({ QStringLiteral("--retry-ms=700"), QStringLiteral("--queue-cap=33554432") });
    QVERIFY(s.start());
    const QString token = s.token("7", "alice");
    const qint32 video = createVideo(s.baseUrl(), token, "shutdown");
    const QByteArray path = "/videos/" + QByteArray::number(video) + "/subscriptions";
    SseReader stuck;
    stuck.setReceiveBufferSize(2048);
    stuck.open(s.port(), path);
    QVERIFY(stuck.waitForHello());
    stuck.setPaused(true);
    SseReader watch;
    watch.open(s.port(), path);
    QVERIFY(watch.waitForHello());
    QCOMPARE(watch.retryMs(), 700);
    // ~5 MB of frames (500 four-byte characters each): more than the kernel buffers of a
    // stream that reads nothing can take (the send buffer grows to at most tcp_wmem's 4 MiB).
    QString text;
    for (int i = 0; i < 500; ++i)
        text += QString::fromUcs4(U"\U0001F600", 1);
    const QStringList texts(2500, text);
    for (const HttpReply& r : postComments(s.baseUrl(), token, video, texts))
        QCOMPARE(r.status, 201);
    QVERIFY(watch.waitForComments(2500, 60000));

    QTcpSocket conn;
    conn.connectToHost(QHostAddress::LocalHost, s.port());
    QVERIFY(conn.waitForConnected(5000));
    conn.write("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    QByteArray first;
    while (!first.contains("{\"status\":\"ok\"}") && conn.waitForReadyRead(5000))
        first += conn.readAll();
    QVERIFY2(first.startsWith("HTTP/1.1 200"), first.constData());

    s.sendTerm();
    QTRY_VERIFY_WITH_TIMEOUT(watch.retryMs() >= 1000, 10000); // the final retry: shutdown began
    const QByteArray body = "{\"text\":\"during shutdown\"}";
    conn.write("POST /videos/" + QByteArray::number(video)
        + "/comments HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + token.toUtf8()
        + "\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size())
        + "\r\n\r\n" + body);
    QByteArray reply;
    while (conn.waitForReadyRead(5000))
        reply += conn.readAll(); // until the server closes the connection
    QVERIFY2(reply.startsWith("HTTP/1.1 503"), reply.constData());
    const qsizetype split = reply.indexOf("\r\n\r\n");
    QVERIFY(split > 0);
    const QByteArray head = reply.left(split).toLower();
    QVERIFY2(head.contains("\r\nretry-after: 2"), head.constData());
    QVERIFY2(head.contains("\r\nconnection: close"), head.constData());
    const QJsonObject error
        = QJsonDocument::fromJson(reply.mid(split + 4)).object().value("error").toObject();
    QCOMPARE(error.value("code").toString(), QStringLiteral("shutting_down"));
    QVERIFY(s.waitForExit());
    QCOMPARE(s.exitCode(), 0);
}

void TstEndpoints::hostileLastEventId_data()
{
    QTest::addColumn<QByteArray>("lastEventId");
    QTest::newRow("text") << QByteArray("abc");
    QTest::newRow("negative") << QByteArray("-1");
    QTest::newRow("zero") << QByteArray("0");
    QTest::newRow("overflow") << QByteArray("99999999999999999999999999");
    QTest::newRow("empty") << QByteArray("");
    QTest::newRow("from the future") << QByteArray("9223372036854775807");
}

void TstEndpoints::hostileLastEventId()
{
    // Whatever a client sends as Last-Event-ID, the server answers sanely: a 400 JSON error, or a
    // stream that starts with hello; and it keeps serving.
    QFETCH(QByteArray, lastEventId);
    SseReader s;
    s.open(m_server->port(), "/videos/" + QByteArray::number(m_video) + "/subscriptions",
        { { "Last-Event-ID", lastEventId } });
    QVERIFY(s.waitForHeaders());
    QVERIFY2(s.status() == 200 || s.status() == 400, s.statusLine());
    if (s.status() == 200) {
        QVERIFY(s.waitForHello());
        QCOMPARE(s.events().first().type, QByteArray("hello"));
        const HttpReply c
            = postComment(m_server->baseUrl(), m_alice, m_video, "after hostile resume");
        QCOMPARE(c.status, 201);
        QTRY_VERIFY(s.comments().contains(c.json().value("id").toString().toULongLong()));
    } else {
        QVERIFY(s.waitForDisconnected() || s.body().contains("error"));
        QVERIFY2(s.body().contains("\"error\""), s.body());
    }
    QCOMPARE(http("GET", url("/healthz")).status, 200);
}

void TstEndpoints::malformedRequests_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<bool>("jsonBody"); // false: no request could be parsed, any 400 will do
    QTest::newRow("garbage request line") << QByteArray("HELLO\r\n\r\n") << false;
    QTest::newRow("100 KB header")
        << "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + QByteArray(100000, 'a') + "\r\n\r\n"
        << false;
    QTest::newRow("10,000 headers") << "GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + QByteArray("X-A: b\r\n").repeated(10000)
            + "\r\n" << false;
    QTest::newRow("bad content-length") << QByteArray(
        "POST /videos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: abc\r\n\r\n{}") << true;
}

void TstEndpoints::malformedRequests()
{
    QFETCH(QByteArray, request);
    QFETCH(bool, jsonBody);
    const HttpReply r = rawHttp(m_server->port(), request, 5000);
    QVERIFY2(
        r.status == 400 || r.status == 0 || (!jsonBody && (r.status == 431 || r.status == 414)),
        qPrintable(QString::number(r.status)));
    if (r.status == 400 && jsonBody)
        QVERIFY2(checkError(r, 400).isEmpty(), qPrintable(checkError(r, 400)));
    // The server is still fine afterwards.
    QCOMPARE(http("GET", url("/healthz")).status, 200);
}

void TstEndpoints::keepAliveAfterError_data()
{
    QTest::addColumn<QByteArray>("first");
    QTest::addColumn<int>("status");
    const QByteArray v = "/videos/" + QByteArray::number(m_video ? m_video : 1);
    auto postWith = [](const QByteArray& path, const QByteArray& extra, const QByteArray& body) {
        return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + extra + "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
    };
    QTest::newRow("401 with body") << postWith("/videos", "", R"({"title":"x"})") << 401;
    QTest::newRow("401 comment with body")
        << postWith(v + "/comments", "", R"({"text":"x"})") << 401;
    QTest::newRow("404 with body")
        << postWith("/videos/2000000000/comments", "AUTH", R"({"text":"x"})") << 404;
    QTest::newRow("415 with body") << postWith(v + "/comments", "AUTH", R"({"text":"x"})")
                                          .replace("application/json", "text/plain")
                                   << 415;
    QTest::newRow("405 with body") << postWith("/healthz", "", R"({"a":1})") << 405;
    QTest::newRow("400 with body") << postWith(v + "/comments", "AUTH", R"({"text":)") << 400;
}

void TstEndpoints::keepAliveAfterError()
{
    // An error answered before the body was read must not leave the body in the connection to be
    // parsed as the next request (RFC 9112 §9.3: read it, or close the connection).
    QFETCH(QByteArray, first);
    QFETCH(int, status);
    first.replace("AUTH", "Authorization: Bearer " + m_alice.toUtf8() + "\r\n");
    QTcpSocket s;
    s.connectToHost(QStringLiteral("127.0.0.1"), m_server->port());
    QVERIFY(s.waitForConnected(5000));
    QByteArray in;
    auto readResponse = [&](int* code, bool* closes) {
        for (;;) {
            const qsizetype end = in.indexOf("\r\n\r\n");
            if (end >= 0) {
                const QByteArray head = in.left(end).toLower();
                qsizetype length = 0;
                for (const QByteArray& line : head.split('\n')) {
                    if (line.startsWith("content-length:"))
                        length = line.mid(15).trimmed().toLongLong();
                }
                if (in.size() >= end + 4 + length) {
                    *code = in.mid(9, 3).toInt();
                    *closes = head.contains("\nconnection: close");
                    in.remove(0, end + 4 + length);
                    return true;
                }
            }
            if (!s.waitForReadyRead(5000))
                return false;
            in += s.readAll();
        }
    };
    s.write(first);
    int code = 0;
    bool closes = false;
    QVERIFY2(readResponse(&code, &closes), "no response to the first request");
    QCOMPARE(code, status);
    if (closes) {
        QVERIFY(s.state() != QAbstractSocket::ConnectedState || s.waitForDisconnected(5000));
        return;
    }
    s.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    int second = 0;
    QVERIFY2(readResponse(&second, &closes) || s.state() != QAbstractSocket::ConnectedState,
        "no response to the second request on a kept-alive connection");
    if (second != 0)
        QVERIFY2(second == 200,
            qPrintable(QStringLiteral("second request on the connection got %1: the unread body "
                                      "of the first was parsed as a request")
                           .arg(second)));
}

QTEST_GUILESS_MAIN(TstEndpoints)
#include "tst_endpoints.moc"
