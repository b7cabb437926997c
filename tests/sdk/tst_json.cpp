// SPDX-License-Identifier: MIT
// The SDK's internal strict JSON reader/writer (sdk/core/src/json).
#include "json/json.h"

#include <QtTest>

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
    void decodesEscapesAndSurrogates();
    void quotesEveryByte_data();
    void quotesEveryByte();
    void quotedOutputAlwaysParses();
    void serializeRoundTrip();
};

void TstJson::parsesValid_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("canonical");
    QTest::newRow("object") << QByteArray(R"( {"a" : 1, "b":[true,false,null]} )")
                            << QByteArray(R"({"a":1,"b":[true,false,null]})");
    QTest::newRow("nested") << QByteArray(R"({"x":{"y":{"z":[[],{}]}}})")
                            << QByteArray(R"({"x":{"y":{"z":[[],{}]}}})");
    QTest::newRow("numbers") << QByteArray("[0,-0,1.5,-2e10,3E+2,4e-1]")
                             << QByteArray("[0,-0,1.5,-2e10,3E+2,4e-1]");
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

QTEST_GUILESS_MAIN(TstJson)
#include "tst_json.moc"
