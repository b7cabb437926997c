// SPDX-License-Identifier: MIT
// The front end's request-head parser and chunked decoder on their own: bytes arrive in any
// slicing, so every proper prefix of a valid message must be "incomplete" (never an error, never
// complete), and the limits must bite at their exact boundaries.
#include "frontend/request_head.h"

#include <QTest>

using namespace livecomments::server::frontend;

class TstRequestHead : public QObject {
    Q_OBJECT
private slots:
    void everyPrefixOfAValidHeadIsIncomplete();
    void everyPrefixOfAChunkedBodyIsIncomplete();
    void keepAliveByVersionAndConnection_data();
    void keepAliveByVersionAndConnection();
    void limitBoundaries();
    void contentLengthBoundaries();
};

void TstRequestHead::everyPrefixOfAValidHeadIsIncomplete()
{
    const std::string head = "\r\nPOST /videos/1/comments?x=1 HTTP/1.1\r\nHost: a\r\n"
                             "Content-Length: 2\r\nX-Empty:\r\nX-Ows: \t v \t\r\n\r\n";
    HeadLimits limits;
    RequestHead parsed;
    HeadError error;
    for (std::size_t n = 0; n < head.size(); ++n)
        QVERIFY2(parseRequestHead(std::string_view(head).substr(0, n), limits, parsed, error)
                == ParseResult::Incomplete,
            qPrintable(QString::number(n)));
    QCOMPARE(parseRequestHead(head + "{}", limits, parsed, error), ParseResult::Complete);
    QCOMPARE(parsed.headBytes, head.size());
    QCOMPARE(parsed.method, std::string("POST"));
    QCOMPARE(parsed.target, std::string("/videos/1/comments?x=1"));
    QCOMPARE(parsed.framing, BodyFraming::Length);
    QCOMPARE(parsed.contentLength, std::uint64_t(2));
    QCOMPARE(parsed.fields.size(), std::size_t(4));
    QCOMPARE(parsed.fields[2].second, std::string());
    QCOMPARE(parsed.fields[3].second, std::string("v")); // OWS trimmed on both sides
}

void TstRequestHead::everyPrefixOfAChunkedBodyIsIncomplete()
{
    const std::string body = "3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n";
    std::string decoded;
    std::size_t consumed = 0;
    HeadError error;
    for (std::size_t n = 0; n < body.size(); ++n)
        QVERIFY2(decodeChunked(std::string_view(body).substr(0, n), 1024, decoded, consumed, error)
                == ParseResult::Incomplete,
            qPrintable(QString::number(n)));
    QCOMPARE(decodeChunked(body + "GET", 1024, decoded, consumed, error), ParseResult::Complete);
    QCOMPARE(decoded, std::string("abc0123456789abcdef"));
    QCOMPARE(consumed, body.size()); // the pipelined "GET" is left alone
    // The decoded size, not the encoded one, meets the limit.
    QCOMPARE(decodeChunked(body, 19, decoded, consumed, error), ParseResult::Complete);
    QCOMPARE(decodeChunked(body, 18, decoded, consumed, error), ParseResult::Error);
    QCOMPARE(error.status, 413);
}

void TstRequestHead::keepAliveByVersionAndConnection_data()
{
    QTest::addColumn<QByteArray>("head");
    QTest::addColumn<bool>("keepAlive");
    QTest::newRow("1.1 default") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n\r\n") << true;
    QTest::newRow("1.1 close") << QByteArray(
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n")
                               << false;
    QTest::newRow("1.1 close in a list")
        << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n") << false;
    QTest::newRow("1.0 default") << QByteArray("GET / HTTP/1.0\r\n\r\n") << false;
    QTest::newRow("1.0 keep-alive")
        << QByteArray("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") << true;
}

void TstRequestHead::keepAliveByVersionAndConnection()
{
    QFETCH(QByteArray, head);
    QFETCH(bool, keepAlive);
    RequestHead parsed;
    HeadError error;
    QCOMPARE(
        parseRequestHead(head.toStdString(), HeadLimits {}, parsed, error), ParseResult::Complete);
    QCOMPARE(parsed.keepAlive, keepAlive);
}

void TstRequestHead::limitBoundaries()
{
    HeadLimits limits;
    limits.maxUriBytes = 64;
    limits.maxHeadBytes = 256;
    limits.maxHeaders = 3;
    RequestHead parsed;
    HeadError error;
    auto parse
        = [&](const std::string& text) { return parseRequestHead(text, limits, parsed, error); };
    const std::string uri64 = "/" + std::string(63, 'u');
    QCOMPARE(parse("GET " + uri64 + " HTTP/1.1\r\nHost: a\r\n\r\n"), ParseResult::Complete);
    QCOMPARE(parse("GET " + uri64 + "u HTTP/1.1\r\nHost: a\r\n\r\n"), ParseResult::Error);
    QCOMPARE(error.status, 414);
    QCOMPARE(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"), ParseResult::Complete);
    QCOMPARE(
        parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), ParseResult::Error);
    QCOMPARE(error.status, 431);
    // A head that never ends is refused once it passes the limit, without its end.
    QCOMPARE(parse("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'x')), ParseResult::Error);
    QCOMPARE(error.status, 431);
    QCOMPARE(
        parse("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'x')), ParseResult::Incomplete);
}

void TstRequestHead::contentLengthBoundaries()
{
    HeadLimits limits;
    limits.maxBodyBytes = 100;
    RequestHead parsed;
    HeadError error;
    auto withLength = [&](const std::string& value) {
        return parseRequestHead(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + value + "\r\n\r\n", limits, parsed,
            error);
    };
    QCOMPARE(withLength("100"), ParseResult::Complete);
    QCOMPARE(withLength("0"), ParseResult::Complete);
    QCOMPARE(parsed.framing, BodyFraming::None);
    QCOMPARE(withLength("0100"), ParseResult::Complete); // leading zeros are still 1*DIGIT
    QCOMPARE(parsed.contentLength, std::uint64_t(100));
    QCOMPARE(withLength("101"), ParseResult::Error);
    QCOMPARE(error.status, 413);
    QCOMPARE(withLength("999999999999999999"), ParseResult::Error); // 18 digits: 413, not 400
    QCOMPARE(error.status, 413);
    QCOMPARE(withLength("9999999999999999999"), ParseResult::Error); // 19 digits: malformed
    QCOMPARE(error.status, 400);
}

QTEST_GUILESS_MAIN(TstRequestHead)
#include "tst_request_head.moc"
