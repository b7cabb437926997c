// SPDX-License-Identifier: MIT
// Hostile ids and bodies against the real server: ids that are out of range, boolean, fractional
// or exponents in every body shape and path (400 invalid_field, nothing stored anywhere), a reused
// Idempotency-Key with a different body (422), and the content rules of comment text (bidi and
// invisible characters refused, line endings normalised). docs/security.md lists the rules.
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTest>

#include <memory>

using namespace lctest;

class TstBodies : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void hostileIds_data();
    void hostileIds();
    void wrappedIdsStoreNothing();
    void malformedBodies_data();
    void malformedBodies();
    void idempotencyKeyMismatch();
    void idempotencyKeyMismatchOnVideos();
    void refusedCharacters_data();
    void refusedCharacters();
    void normalisedText_data();
    void normalisedText();

private:
    HttpReply send(const QByteArray& method, const QString& path, const QByteArray& body = {},
        const HeaderList& extra = {}) const;
    /// Every comment stored for the video (newest first), by walking its history.
    QStringList storedTexts(qint32 video) const;

    std::unique_ptr<ServerProcess> m_server;
    QString m_alice; // user 7
    qint32 m_video1 = 0; // ids a wrapped 2^64 + 1 / + 2 would land on
    qint32 m_video2 = 0;
    qint32 m_video = 0; // the target of the valid rows
};

void TstBodies::initTestCase()
{
    m_server = std::make_unique<ServerProcess>();
    QVERIFY(m_server->start());
    m_alice = m_server->token("7", "alice", "streamer");
    m_video1 = createVideo(m_server->baseUrl(), m_alice, "one");
    m_video2 = createVideo(m_server->baseUrl(), m_alice, "two");
    m_video = createVideo(m_server->baseUrl(), m_alice, "target");
    // A fresh store numbers videos from 1: the wrap-around rows below would hit these two.
    QCOMPARE(m_video1, 1);
    QCOMPARE(m_video2, 2);
    QVERIFY(m_video > 2);
}

void TstBodies::cleanupTestCase()
{
    if (m_server)
        QVERIFY(m_server->terminate());
}

HttpReply TstBodies::send(const QByteArray& method, const QString& path, const QByteArray& body,
    const HeaderList& extra) const
{
    return http(method, endpoint(m_server->baseUrl(), path), body, bearer(m_alice) + extra);
}

QStringList TstBodies::storedTexts(qint32 video) const
{
    const HistoryPage page = getHistoryPage(
        m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(video));
    QStringList out;
    for (const auto& c : page.reply.json().value("comments").toArray())
        out << c.toObject().value("text").toString();
    return out;
}

void TstBodies::hostileIds_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QString>("path"); // VID = the target video
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("field"); // the field the 400 message must start with
    const QString create = QStringLiteral("/comment/create");
    const QString design = QStringLiteral("/videos/VID/comments");
    auto row = [](const char* name, const QByteArray& method, const QString& path,
                   const QByteArray& body, int status, const QString& field) {
        QTest::newRow(name) << method << path << body << status << field;
    };
    // POST /comment/create {"liveVideoId"}: every JSON spelling that is not a plain integer.
    const QString id = QStringLiteral("liveVideoId");
    row("2^64+1", "POST", create, R"({"liveVideoId":18446744073709551617,"message":"x"})", 400, id);
    row("2^64+2", "POST", create, R"({"liveVideoId":18446744073709551618,"message":"x"})", 400, id);
    row("2^64-1", "POST", create, R"({"liveVideoId":18446744073709551615,"message":"x"})", 400, id);
    row("2^32+1", "POST", create, R"({"liveVideoId":4294967297,"message":"x"})", 400, id);
    row("2^31", "POST", create, R"({"liveVideoId":2147483648,"message":"x"})", 400, id);
    row("true", "POST", create, R"({"liveVideoId":true,"message":"x"})", 400, id);
    row("false", "POST", create, R"({"liveVideoId":false,"message":"x"})", 400, id);
    row("1.0", "POST", create, R"({"liveVideoId":1.0,"message":"x"})", 400, id);
    row("1e0", "POST", create, R"({"liveVideoId":1e0,"message":"x"})", 400, id);
    row("2E0", "POST", create, R"({"liveVideoId":2E0,"message":"x"})", 400, id);
    row("1.5", "POST", create, R"({"liveVideoId":1.5,"message":"x"})", 400, id);
    row("-0", "POST", create, R"({"liveVideoId":-0,"message":"x"})", 400, id);
    row("0", "POST", create, R"({"liveVideoId":0,"message":"x"})", 400, id);
    row("array", "POST", create, R"({"liveVideoId":[1],"message":"x"})", 400, id);
    row("object", "POST", create, R"({"liveVideoId":{"id":1},"message":"x"})", 400, id);
    row("string 2^64+1", "POST", create, R"({"liveVideoId":"18446744073709551617","message":"x"})",
        400, id);
    row("string 1e0", "POST", create, R"({"liveVideoId":"1e0","message":"x"})", 400, id);
    row("string 1.0", "POST", create, R"({"liveVideoId":"1.0","message":"x"})", 400, id);
    row("string spaced", "POST", create, R"({"liveVideoId":" 1","message":"x"})", 400, id);
    row("string empty", "POST", create, R"({"liveVideoId":"","message":"x"})", 400, id);
    row("valid number", "POST", create, R"({"liveVideoId":VID,"message":"ok number"})", 201, {});
    row("valid string", "POST", create, R"({"liveVideoId":"VID","message":"ok string"})", 201, {});
    // user_id in each shape: 18446744073709551623 = 2^64 + 7 would wrap to alice's id.
    const QString user = QStringLiteral("user_id");
    row("user_id 2^64+7 design", "POST", design, R"({"text":"x","user_id":18446744073709551623})",
        400, user);
    row("user_id true design", "POST", design, R"({"text":"x","user_id":true})", 400, user);
    row("user_id 7.0 design", "POST", design, R"({"text":"x","user_id":7.0})", 400, user);
    row("user_id 7e0 alias", "PUT", design, R"({"comment":"x","user_id":7e0})", 400, user);
    row("user_id 2^64+7 alias", "PUT", design, R"({"comment":"x","user_id":18446744073709551623})",
        400, user);
    row("user_id true create", "POST", create,
        R"({"liveVideoId":VID,"message":"x","user_id":true})", 400, user);
    row("user_id 7 design", "POST", design, R"({"text":"ok user","user_id":7})", 201, {});
    // Ids in paths and queries.
    const QByteArray text = R"({"text":"x"})";
    row("path 2^64+1", "POST", "/videos/18446744073709551617/comments", text, 400, "video_id");
    row("path 2^32+1", "POST", "/videos/4294967297/comments", text, 400, "video_id");
    row("path 1e0", "POST", "/videos/1e0/comments", text, 400, "video_id");
    row("path 1.0", "PUT", "/videos/1.0/comments", R"({"comment":"x"})", 400, "video_id");
    row("path true", "POST", "/videos/true/comments", text, 400, "video_id");
    row("path get 2^64+1", "GET", "/videos/18446744073709551617", {}, 400, "video_id");
    row("path history alias 2^64+1", "GET", "/comments/18446744073709551617", {}, 400, "video_id");
    row("comment id 2^64+1", "DELETE", "/videos/VID/comments/18446744073709551617", {}, 400,
        "comment_id");
    row("comment id 1e3", "DELETE", "/videos/VID/comments/1e3", {}, 400, "comment_id");
    row("before 2^64+1", "GET", "/videos/VID/comments?before=18446744073709551617", {}, 400,
        "before");
    row("after 1e3", "GET", "/videos/VID/comments?after=1e3", {}, 400, "after");
    row("cursor -1", "GET", "/comments/VID?cursor=-1", {}, 400, "cursor");
}

void TstBodies::hostileIds()
{
    QFETCH(QByteArray, method);
    QFETCH(QString, path);
    QFETCH(QByteArray, body);
    QFETCH(int, status);
    QFETCH(QString, field);
    path.replace(QStringLiteral("VID"), QString::number(m_video));
    body.replace("VID", QByteArray::number(m_video));
    const HttpReply r = send(method, path, body);
    if (status == 201) {
        QVERIFY2(r.status == 201, qPrintable(QString::number(r.status) + ' ' + r.body));
        QCOMPARE(r.json().value("video_id").toInt(), m_video);
        return;
    }
    QVERIFY2(checkError(r, status).isEmpty(), qPrintable(checkError(r, status) + ' ' + r.body));
    QCOMPARE(r.errorCode(), QStringLiteral("invalid_field"));
    QVERIFY2(r.errorMessage().startsWith(field + ':'), qPrintable(r.errorMessage()));
}

void TstBodies::wrappedIdsStoreNothing()
{
    // None of the hostile rows may have landed on the videos a wrapped id points at.
    QCOMPARE(storedTexts(m_video1), QStringList());
    QCOMPARE(storedTexts(m_video2), QStringList());
}

void TstBodies::malformedBodies_data()
{
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QString>("code");
    QTest::newRow("deep nesting") << QByteArray(5000, '[') + QByteArray(5000, ']')
                                  << QStringLiteral("bad_json");
    QTest::newRow("deep object") << QByteArray(R"({"text":"x","a":)") + QByteArray(40, '[')
            + QByteArray(40, ']')
            + "}" << QStringLiteral("bad_json");
    QTest::newRow("trailing garbage")
        << QByteArray(R"({"text":"x"} {})") << QStringLiteral("bad_json");
    QTest::newRow("invalid utf-8")
        << QByteArray("{\"text\":\"\xff\xfe\"}") << QStringLiteral("bad_json");
    QTest::newRow("lone surrogate")
        << QByteArray(R"({"text":"\ud800"})") << QStringLiteral("bad_json");
    QTest::newRow("array body") << QByteArray(R"(["text"])") << QStringLiteral("invalid_field");
    QTest::newRow("text number") << QByteArray(R"({"text":5})") << QStringLiteral("invalid_field");
    QTest::newRow("text null") << QByteArray(R"({"text":null})") << QStringLiteral("invalid_field");
}

void TstBodies::malformedBodies()
{
    QFETCH(QByteArray, body);
    QFETCH(QString, code);
    const HttpReply r = send("POST", QStringLiteral("/videos/%1/comments").arg(m_video), body);
    QVERIFY2(checkError(r, 400).isEmpty(), qPrintable(checkError(r, 400) + ' ' + r.body));
    QCOMPARE(r.errorCode(), code);
}

void TstBodies::idempotencyKeyMismatch()
{
    const qint32 video = createVideo(m_server->baseUrl(), m_alice, "idempotency");
    const HeaderList key { { "Idempotency-Key",
        "mismatch-" + QByteArray::number(QDateTime::currentMSecsSinceEpoch()) } };
    const QString path = QStringLiteral("/videos/%1/comments").arg(video);
    const HttpReply first = send("POST", path, R"({"text":"first"})", key);
    QCOMPARE(first.status, 201);
    // Same key, different text: refused, not a replay of "first".
    const HttpReply other = send("POST", path, R"({"text":"second"})", key);
    QVERIFY2(checkError(other, 422).isEmpty(), qPrintable(checkError(other, 422) + other.body));
    QCOMPARE(other.errorCode(), QStringLiteral("idempotency_key_mismatch"));
    // The same key through another body shape with different text: refused too.
    const HttpReply alias = send("PUT", path, R"({"comment":"third"})", key);
    QCOMPARE(alias.status, 422);
    const HttpReply create = send("POST", QStringLiteral("/comment/create"),
        QStringLiteral(R"({"liveVideoId":%1,"message":"fourth"})").arg(video).toUtf8(), key);
    QCOMPARE(create.status, 422);
    // The same content (re-serialised: other key order, whitespace, CRLF) still replays.
    const HttpReply again
        = send("POST", path, "{ \"user_id\" : \"7\", \"text\" : \"first\\r\\n\" }", key);
    QVERIFY2(again.status == 201, again.body);
    QCOMPARE(again.header("idempotent-replayed"), QByteArray("true"));
    QCOMPARE(again.json().value("id").toString(), first.json().value("id").toString());
    const HttpReply viaCreate = send("POST", QStringLiteral("/comment/create"),
        QStringLiteral(R"({"message":"first","liveVideoId":"%1"})").arg(video).toUtf8(), key);
    QCOMPARE(viaCreate.status, 201);
    QCOMPARE(viaCreate.json().value("id").toString(), first.json().value("id").toString());
    QCOMPARE(storedTexts(video), QStringList { QStringLiteral("first") });
}

void TstBodies::idempotencyKeyMismatchOnVideos()
{
    const HeaderList key { { "Idempotency-Key",
        "video-" + QByteArray::number(QDateTime::currentMSecsSinceEpoch()) } };
    const HttpReply first = send("POST", QStringLiteral("/videos"), R"({"title":"alpha"})", key);
    QCOMPARE(first.status, 201);
    const HttpReply other = send("POST", QStringLiteral("/videos"), R"({"title":"beta"})", key);
    QVERIFY2(checkError(other, 422).isEmpty(), qPrintable(checkError(other, 422) + other.body));
    QCOMPARE(other.errorCode(), QStringLiteral("idempotency_key_mismatch"));
    const HttpReply again = send("POST", QStringLiteral("/videos"), R"({"title":"alpha"})", key);
    QCOMPARE(again.status, 201);
    QCOMPARE(again.json().value("id").toInt(), first.json().value("id").toInt());
}

void TstBodies::refusedCharacters_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("codePoint"); // named in the message
    const QString lead = QStringLiteral("abc");
    QTest::newRow("RLO U+202E") << lead + QChar(0x202E) + "gnp.exe" << QStringLiteral("U+202E");
    QTest::newRow("LRE U+202A") << lead + QChar(0x202A) << QStringLiteral("U+202A");
    QTest::newRow("PDF U+202C") << lead + QChar(0x202C) << QStringLiteral("U+202C");
    QTest::newRow("LRI U+2066") << lead + QChar(0x2066) + "x" << QStringLiteral("U+2066");
    QTest::newRow("PDI U+2069") << lead + QChar(0x2069) + "x" << QStringLiteral("U+2069");
    QTest::newRow("RLM U+200F") << lead + QChar(0x200F) + "x" << QStringLiteral("U+200F");
    QTest::newRow("ALM U+061C") << lead + QChar(0x061C) + "x" << QStringLiteral("U+061C");
    QTest::newRow("ZWSP U+200B") << lead + QChar(0x200B) + "x" << QStringLiteral("U+200B");
    QTest::newRow("word joiner U+2060") << lead + QChar(0x2060) + "x" << QStringLiteral("U+2060");
    QTest::newRow("BOM U+FEFF") << QString(QChar(0xFEFF)) + "x" << QStringLiteral("U+FEFF");
    QTest::newRow("BEL") << lead + QChar(0x07) + "x" << QStringLiteral("U+0007");
    QTest::newRow("tab") << lead + QChar(0x09) + "x" << QStringLiteral("U+0009");
    QTest::newRow("NEL U+0085") << lead + QChar(0x85) + "x" << QStringLiteral("U+0085");
    QTest::newRow("DEL") << lead + QChar(0x7F) + "x" << QStringLiteral("U+007F");
}

void TstBodies::refusedCharacters()
{
    QFETCH(QString, text);
    QFETCH(QString, codePoint);
    const QByteArray body
        = QJsonDocument(QJsonObject { { "text", text } }).toJson(QJsonDocument::Compact);
    const HttpReply r = send("POST", QStringLiteral("/videos/%1/comments").arg(m_video), body);
    QVERIFY2(checkError(r, 400).isEmpty(), qPrintable(checkError(r, 400) + r.body));
    QVERIFY2(r.errorMessage().startsWith("text: "), qPrintable(r.errorMessage()));
    QVERIFY2(r.errorMessage().contains(codePoint), qPrintable(r.errorMessage()));
    // Titles follow the same rules.
    const QByteArray title
        = QJsonDocument(QJsonObject { { "title", text } }).toJson(QJsonDocument::Compact);
    const HttpReply v = send("POST", QStringLiteral("/videos"), title);
    QVERIFY2(checkError(v, 400).isEmpty(), qPrintable(checkError(v, 400) + v.body));
    QVERIFY2(v.errorMessage().startsWith("title: "), qPrintable(v.errorMessage()));
}

void TstBodies::normalisedText_data()
{
    QTest::addColumn<QString>("sent");
    QTest::addColumn<QString>("stored");
    QTest::newRow("CRLF") << QStringLiteral("a\r\nb") << QStringLiteral("a\nb");
    QTest::newRow("lone CR") << QStringLiteral("a\rb\r\rc") << QStringLiteral("a\nb\n\nc");
    QTest::newRow("U+2028") << QStringLiteral("a") + QChar(0x2028) + "b" << QStringLiteral("a\nb");
    QTest::newRow("U+2029") << QStringLiteral("a") + QChar(0x2029) + "b" << QStringLiteral("a\nb");
    QTest::newRow("markup stays text") << QStringLiteral("<b>x</b><img src=x onerror=alert(1)>")
                                       << QStringLiteral("<b>x</b><img src=x onerror=alert(1)>");
    // ZWJ inside an emoji sequence and ZWNJ in Persian are kept.
    const QString family = QString::fromUtf8("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9");
    QTest::newRow("ZWJ emoji") << family << family;
    const QString persian
        = QString::fromUtf8("\xD9\x85\xDB\x8C\xE2\x80\x8C\xD8\xB1\xD9\x88\xD9\x85");
    QTest::newRow("ZWNJ Persian") << persian << persian;
}

void TstBodies::normalisedText()
{
    QFETCH(QString, sent);
    QFETCH(QString, stored);
    const HttpReply r = postComment(m_server->baseUrl(), m_alice, m_video, sent);
    QVERIFY2(r.status == 201, qPrintable(QString::number(r.status) + ' ' + r.body));
    QCOMPARE(r.json().value("text").toString(), stored);
}

QTEST_GUILESS_MAIN(TstBodies)
#include "tst_bodies.moc"
