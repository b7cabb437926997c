// SPDX-License-Identifier: MIT
// The SDK's internal strict JSON reader/writer (sdk/core/src/json).
#include "client/wire.h"
#include "json/json.h"

#include <QtTest>

#include <cmath>

using livecomments::json::Value;
namespace json = livecomments::json;

class TstJson : public QObject {
    Q_OBJECT
private slots:
    void parsesValid_data();
    void parsesValid();
    void rejectsInvalid_data();
    void rejectsInvalid();
    void keepsInt64Exact();
    void hugeNumbers();
    void rejectsDeepNestingWithoutRecursion_data();
    void rejectsDeepNestingWithoutRecursion();
    void acceptsNestingUpToTheLimit();
    void duplicateKeysLastWins();
    void decodesEscapesAndSurrogates();
    void quotesEveryByte_data();
    void quotesEveryByte();
    void quotedOutputAlwaysParses();
    void serializeRoundTrip();
    void commentAuthorRole_data();
    void commentAuthorRole();
};

void TstJson::parsesValid_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("canonical");
    QTest::newRow("object") << QByteArray(R"( {"a" : 1, "b":[true,false,null]} )")
                            << QByteArray(R"({"a":1,"b":[true,false,null]})");
    QTest::newRow("nested") << QByteArray(R"({"x":{"y":{"z":[[],{}]}}})")
                            << QByteArray(R"({"x":{"y":{"z":[[],{}]}}})");
    // Integers are kept as exact 64-bit values, so an integer "-0" reads as 0; fractions and
    // exponents keep their source text.
    QTest::newRow("numbers") << QByteArray("[0,-0,1.5,-2e10,3E+2,4e-1,-0.0]")
                             << QByteArray("[0,0,1.5,-2e10,3E+2,4e-1,-0.0]");
    QTest::newRow("string") << QByteArray(R"("a\"b\\c\/d\n")") << QByteArray(R"("a\"b\\c/d\n")");
    QTest::newRow("utf8") << QByteArray("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"")
                          << QByteArray("\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
    QTest::newRow("duplicate key: last wins on find")
        << QByteArray(R"({"a":1,"a":2})") << QByteArray(R"({"a":2})");
}

void TstJson::parsesValid()
{
    QFETCH(QByteArray, text);
    QFETCH(QByteArray, canonical);
    std::string err;
    auto v = json::parse(text.toStdString(), &err);
    QVERIFY2(v.has_value(), err.c_str());
    QCOMPARE(QByteArray::fromStdString(json::serialize(*v)), canonical);
}

void TstJson::rejectsInvalid_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("empty") << QByteArray("");
    QTest::newRow("trailing comma array") << QByteArray("[1,]");
    QTest::newRow("trailing comma object") << QByteArray(R"({"a":1,})");
    QTest::newRow("leading zero") << QByteArray("01");
    QTest::newRow("bare fraction") << QByteArray("1.");
    QTest::newRow("plus sign") << QByteArray("+1");
    QTest::newRow("single quotes") << QByteArray("'a'");
    QTest::newRow("control char") << QByteArray("\"a\x01\"");
    QTest::newRow("raw newline") << QByteArray("\"a\nb\"");
    QTest::newRow("bad escape") << QByteArray(R"("\x41")");
    QTest::newRow("lone high surrogate") << QByteArray(R"("\ud83d")");
    QTest::newRow("lone low surrogate") << QByteArray(R"("\ude00")");
    QTest::newRow("invalid utf8") << QByteArray("\"\xff\"");
    QTest::newRow("overlong utf8") << QByteArray("\"\xc0\xaf\"");
    QTest::newRow("utf8 surrogate") << QByteArray("\"\xed\xa0\x80\"");
    QTest::newRow("truncated utf8") << QByteArray("\"\xe2\x82\"");
    QTest::newRow("utf8: lone continuation") << QByteArray("\"a\x80z\"");
    QTest::newRow("utf8: truncated 2-byte before quote") << QByteArray("\"\xc3\"");
    QTest::newRow("utf8: truncated 4-byte") << QByteArray("\"\xf0\x9f\x98\"");
    QTest::newRow("utf8: overlong 3-byte") << QByteArray("\"\xe0\x80\xaf\"");
    QTest::newRow("utf8: overlong 4-byte") << QByteArray("\"\xf0\x80\x80\xaf\"");
    QTest::newRow("utf8: above U+10FFFF") << QByteArray("\"\xf4\x90\x80\x80\"");
    QTest::newRow("utf8: 0xf5 lead") << QByteArray("\"\xf5\x80\x80\x80\"");
    QTest::newRow("utf8: 0xfe") << QByteArray("\"\xfe\"");
    QTest::newRow("utf8: invalid in a key") << QByteArray("{\"k\xff\":1}");
    QTest::newRow("utf8: invalid deep inside")
        << QByteArray("{\"a\":[1,{\"b\":\"ok \xc3\xa9 \xed\xbf\xbf\"}]}");
    QTest::newRow("utf8: raw bytes outside a string") << QByteArray("\xc3\xa9");
    QTest::newRow("surrogate pair reversed") << QByteArray(R"("\ude00\ud83d")");
    QTest::newRow("high surrogate + non-surrogate") << QByteArray(R"("\ud83d\u0041")");
    QTest::newRow("two values") << QByteArray("1 2");
    QTest::newRow("garbage after") << QByteArray("{}x");
    QTest::newRow("unterminated") << QByteArray(R"({"a":)");
    QTest::newRow("NaN") << QByteArray("NaN");
    QTest::newRow("too deep") << QByteArray(200, '[') + QByteArray(200, ']');
    QTest::newRow("missing colon") << QByteArray(R"({"a" 1})");
    QTest::newRow("non-string key") << QByteArray("{1:2}");
    QTest::newRow("tru") << QByteArray("tru");
}

void TstJson::rejectsInvalid()
{
    QFETCH(QByteArray, text);
    std::string err;
    auto v = json::parse(text.toStdString(), &err);
    QVERIFY(!v.has_value());
    QVERIFY(!err.empty());
}

void TstJson::keepsInt64Exact()
{
    auto v = json::parse(
        R"({"id":"73839302734299136","n":9223372036854775807,"big":9223372036854775808,"f":1.5})");
    QVERIFY(v);
    QCOMPARE(v->find("id")->text(), std::string("73839302734299136"));
    QCOMPARE(*v->find("n")->asInt64(), std::int64_t(9223372036854775807LL));
    QVERIFY(!v->find("big")->asInt64().has_value());
    QVERIFY(!v->find("f")->asInt64().has_value());
    QCOMPARE(v->find("f")->asDouble(), 1.5);
    QVERIFY(v->find("missing") == nullptr);
}

void TstJson::hugeNumbers()
{
    // A number beyond double range has no value at all: the document is rejected. Integers
    // beyond int64 (and fractions) are numbers, never ids: they keep their text, asInt64()
    // refuses them, and an id made of one is rejected by the wire decoder.
    for (const char* text : { "1e400", "-1e400", R"({"viewers":1e400})", "[1,2e999]" }) {
        std::string err;
        QVERIFY2(!json::parse(text, &err), text);
        QVERIFY2(err.find("overflow") != std::string::npos, err.c_str());
    }
    auto v = json::parse(R"({"tiny":1e-400,"u64max":18446744073709551615,)"
                         R"("over":18446744073709551617,"under":-9223372036854775809})");
    QVERIFY(v);
    QCOMPARE(v->find("tiny")->asDouble(), 0.0);
    QVERIFY(!v->find("tiny")->asInt64().has_value());
    QCOMPARE(v->find("u64max")->text(), std::string("18446744073709551615"));
    QVERIFY(!v->find("u64max")->asInt64().has_value());
    QCOMPARE(v->find("over")->text(), std::string("18446744073709551617"));
    QVERIFY(!v->find("over")->asInt64().has_value());
    QCOMPARE(v->find("under")->text(), std::string("-9223372036854775809"));
    QVERIFY(!v->find("under")->asInt64().has_value());

    const std::string tail = R"(,"video_id":1,"user":{"id":"7","name":"a"},"text":"t",)"
                             R"("created_at":"2026-01-01T00:00:00.000Z"})";
    QVERIFY(livecomments::detail::parseComment(R"({"id":"5")" + tail));
    QVERIFY(livecomments::detail::parseComment(R"({"id":5)" + tail));
    for (const char* id : { R"("18446744073709551617")", "18446744073709551617",
             "18446744073709551615", "1.5", "-3" }) {
        const auto c = livecomments::detail::parseComment(std::string(R"({"id":)") + id + tail);
        QVERIFY2(!c, id);
        QCOMPARE(c.error().code, livecomments::ErrorCode::Protocol);
    }
}

void TstJson::rejectsDeepNestingWithoutRecursion_data()
{
    QTest::addColumn<QByteArray>("text");
    constexpr int kDeep = 100000;
    QTest::newRow("100000 [") << QByteArray(kDeep, '[');
    QTest::newRow("100000 [ closed") << QByteArray(kDeep, '[') + QByteArray(kDeep, ']');
    QByteArray objects;
    for (int i = 0; i < kDeep; ++i)
        objects += R"({"a":)";
    QTest::newRow("100000 objects") << objects;
    QTest::newRow("129 levels") << QByteArray(129, '[') + QByteArray(129, ']');
}

void TstJson::rejectsDeepNestingWithoutRecursion()
{
    // nlohmann's parser keeps its own stack and the builder stops at 128 levels, so neither the
    // parse nor the destruction of what was built recurses deeper than that.
    QFETCH(QByteArray, text);
    std::string err;
    auto v
        = json::parse(std::string_view(text.constData(), static_cast<size_t>(text.size())), &err);
    QVERIFY(!v.has_value());
    QVERIFY2(err.find("nesting") != std::string::npos, err.c_str());
}

void TstJson::acceptsNestingUpToTheLimit()
{
    const QByteArray text = QByteArray(128, '[') + QByteArray(128, ']');
    auto v = json::parse(text.toStdString());
    QVERIFY(v);
    QCOMPARE(QByteArray::fromStdString(json::serialize(*v)), text);
}

void TstJson::duplicateKeysLastWins()
{
    // Decided in docs/sdk.md "JSON": the last duplicate wins, at every level, and the object
    // keeps one member per name.
    auto v = json::parse(R"({"id":"1","x":{"k":1,"k":[2]},"id":"2"})");
    QVERIFY(v);
    QCOMPARE(v->find("id")->text(), std::string("2"));
    QCOMPARE(v->members().size(), std::size_t(2));
    QCOMPARE(json::serialize(*v->find("x")), std::string(R"({"k":[2]})"));
}

void TstJson::decodesEscapesAndSurrogates()
{
    auto v = json::parse(R"("\u00e9\ud83d\ude00\u0000\t")");
    QVERIFY(v);
    QCOMPARE(v->text(), std::string("\xc3\xa9\xf0\x9f\x98\x80\0\t", 8));
}

void TstJson::quotesEveryByte_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("plain") << QByteArray("Hello") << QByteArray("\"Hello\"");
    QTest::newRow("quote+backslash") << QByteArray("a\"b\\") << QByteArray(R"("a\"b\\")");
    QTest::newRow("controls") << QByteArray("\n\r\t\b\f\x01\x1f\x7f", 8)
                              << QByteArray(R"("\n\r\t\b\f\u0001\u001f\u007f")");
    QTest::newRow("NUL") << QByteArray("a\0b", 3) << QByteArray(R"("a\u0000b")");
    QTest::newRow("valid utf8 kept") << QByteArray("\xe6\x97\xa5\xf0\x9f\x98\x80")
                                     << QByteArray("\"\xe6\x97\xa5\xf0\x9f\x98\x80\"");
    QTest::newRow("lone continuation") << QByteArray("a\x80z") << QByteArray(R"("a\ufffdz")");
    QTest::newRow("0xff") << QByteArray("\xff") << QByteArray(R"("\ufffd")");
    QTest::newRow("truncated 3-byte = one replacement")
        << QByteArray("\xe2\x82z") << QByteArray(R"("\ufffdz")");
    QTest::newRow("truncated at end") << QByteArray("\xf0\x9f\x98") << QByteArray(R"("\ufffd")");
    QTest::newRow("overlong") << QByteArray("\xc0\xaf") << QByteArray(R"("\ufffd\ufffd")");
    QTest::newRow("utf8 surrogate")
        << QByteArray("\xed\xa0\x80") << QByteArray(R"("\ufffd\ufffd\ufffd")");
}

void TstJson::quotesEveryByte()
{
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, expected);
    QCOMPARE(QByteArray::fromStdString(json::quoted(std::string(input.constData(), input.size()))),
        expected);
}

void TstJson::quotedOutputAlwaysParses()
{
    // Every 1- and 2-byte string, plus random longer ones: quoting yields valid JSON whose
    // value is valid UTF-8.
    std::string s;
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; b += 7) {
            s.assign({ static_cast<char>(a), static_cast<char>(b) });
            const std::string q = json::quoted(s);
            auto v = json::parse(q);
            QVERIFY2(v && v->isString(), q.c_str());
            QVERIFY(json::isValidUtf8(v->text()));
        }
    }
    std::mt19937 rng(42);
    for (int i = 0; i < 2000; ++i) {
        s.resize(rng() % 40);
        for (auto& c : s)
            c = static_cast<char>(rng());
        auto v = json::parse(json::quoted(s));
        QVERIFY(v && v->isString());
        if (json::isValidUtf8(s))
            QCOMPARE(v->text(), s);
    }
}

void TstJson::serializeRoundTrip()
{
    Value obj = Value::object();
    obj.set("id", Value::string("1"));
    obj.set("n", Value::number(std::int64_t(-42)));
    Value arr = Value::array();
    arr.append(Value::boolean(true));
    arr.append(Value::null());
    obj.set("a", std::move(arr));
    const std::string text = json::serialize(obj);
    QCOMPARE(text, std::string(R"({"id":"1","n":-42,"a":[true,null]})"));
    auto back = json::parse(text);
    QVERIFY(back);
    QCOMPARE(json::serialize(*back), text);
}

void TstJson::commentAuthorRole_data()
{
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("role");
    QTest::newRow("moderator") << R"({"id":"7","name":"a","role":"moderator"})"
                               << "moderator";
    QTest::newRow("streamer") << R"({"id":"7","name":"a","role":"streamer"})"
                              << "streamer";
    QTest::newRow("viewer") << R"({"id":"7","name":"a","role":"viewer"})"
                            << "viewer";
    QTest::newRow("absent (older server)") << R"({"id":"7","name":"a"})"
                                           << "viewer";
    QTest::newRow("null") << R"({"id":"7","name":"a","role":null})"
                          << "viewer";
    QTest::newRow("number") << R"({"id":"7","name":"a","role":2})"
                            << "viewer";
    QTest::newRow("object") << R"({"id":"7","name":"a","role":{"x":"moderator"}})"
                            << "viewer";
    QTest::newRow("array") << R"({"id":"7","name":"a","role":["moderator"]})"
                           << "viewer";
    QTest::newRow("unknown") << R"({"id":"7","name":"a","role":"admin"})"
                             << "viewer";
    QTest::newRow("other case") << R"({"id":"7","name":"a","role":"Moderator"})"
                                << "viewer";
    QTest::newRow("padded") << R"({"id":"7","name":"a","role":" moderator"})"
                            << "viewer";
    QTest::newRow("nul inside") << R"({"id":"7","name":"a","role":"moderator\u0000x"})"
                                << "viewer";
    QTest::newRow("markup") << R"({"id":"7","name":"a","role":"<b>streamer</b>"})"
                            << "viewer";
    QTest::newRow("huge")
        << QString(R"({"id":"7","name":"a","role":"%1"})").arg(QString(1 << 20, QLatin1Char('m')))
        << "viewer";
    QTest::newRow("duplicate, last wins")
        << R"({"id":"7","name":"a","role":"viewer","role":"moderator"})"
        << "moderator";
}

void TstJson::commentAuthorRole()
{
    QFETCH(QString, user);
    QFETCH(QString, role);
    const std::string body = R"({"id":"5","video_id":1,"user":)" + user.toStdString()
        + R"(,"text":"t","created_at":"2026-01-01T00:00:00.000Z"})";
    const auto c = livecomments::detail::parseComment(body);
    QVERIFY(c);
    QCOMPARE(QString::fromStdString(c->user.role), role);
    // The rest of the author is read whatever the role was.
    QCOMPARE(c->user.id, std::string("7"));
    QCOMPARE(c->user.name, std::string("a"));
}
QTEST_GUILESS_MAIN(TstJson)
#include "tst_json.moc"
