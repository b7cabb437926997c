// SPDX-License-Identifier: MIT
//
// Tests for livecomments::SseParser against the WHATWG HTML event-stream rules (§9.2.5, §9.2.6).
// Every table row runs in several feeding modes (whole, 1-byte and 2-byte chunks, plus 3 and 7 so
// the three-byte BOM and CRLF pairs are split at every offset).
#include "livecomments/sse_parser.h"

#include <QtTest>

#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using livecomments::SseEvent;
using livecomments::SseParser;

namespace {

/// One entry of the parser's output log, rendered as bytes so rows can list them literally.
QByteArray ev(const QByteArray& type, const QByteArray& data, const QByteArray& id = {})
{
    return "event[" + type + "] data[" + data + "] id[" + id + "]";
}
QByteArray retry(qint64 ms)
{
    return "retry " + QByteArray::number(ms);
}
QByteArray comment(const QByteArray& text)
{
    return "comment[" + text + "]";
}

QByteArray toBytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<int>(s.size()));
}

/// A parser plus everything it reported, in order.
struct Harness {
    QByteArrayList log;
    std::vector<SseEvent> events;
    SseParser parser;

    explicit Harness(std::size_t maxEventBytes = SseParser::kDefaultMaxEventBytes)
        : parser(callbacks(), maxEventBytes)
    { }

    SseParser::Callbacks callbacks()
    {
        SseParser::Callbacks cb;
        cb.onEvent = [this](const SseEvent& e) {
            log.append(ev(toBytes(e.type), toBytes(e.data), toBytes(e.lastEventId)));
            events.push_back(e);
        };
        cb.onRetry = [this](std::chrono::milliseconds ms) { log.append(retry(ms.count())); };
        cb.onComment = [this](std::string_view text) { log.append(comment(toBytes(text))); };
        return cb;
    }

    /// Feeds @p input in chunks of @p chunk bytes (0 = all at once); returns false as soon as
    /// feed() does.
    bool feed(const QByteArray& input, int chunk)
    {
        if (chunk <= 0)
            return parser.feed(std::string_view(input.constData(), input.size()));
        for (int pos = 0; pos < input.size(); pos += chunk) {
            const int n = std::min<int>(chunk, input.size() - pos);
            if (!parser.feed(std::string_view(input.constData() + pos, n)))
                return false;
        }
        return true;
    }
};

const int kModes[] = { 0, 1, 2, 3, 7 };

QByteArray modeName(int chunk)
{
    return chunk == 0 ? QByteArray("whole") : QByteArray::number(chunk) + "-byte";
}

} // namespace

class TstSseParser : public QObject {
    Q_OBJECT

private:
    /// Adds one row per feeding mode.
    static void row(const char* name, const QByteArray& input, const QByteArrayList& expected,
        const QByteArray& lastId = {})
    {
        for (int chunk : kModes) {
            QTest::newRow(QByteArray(name) + " / " + modeName(chunk))
                << input << chunk << expected << lastId;
        }
    }

private slots:
    void interpretation_data();
    void interpretation();
    void crAtChunkEndDispatchesImmediately_data();
    void crAtChunkEndDispatchesImmediately();
    void crLfSplitAcrossChunksIsOneLineEnd();
    void bomOnlyAtStreamStart();
    void bomRearmedByEndOfStream();
    void lastEventIdPersistsAcrossEndOfStream();
    void incompleteIdDiscardedAtEndOfStream();
    void setLastEventIdIsUsed();
    void utf8SplitAcrossChunks();
    void maxEventBytes_data();
    void maxEventBytes();
    void overflowIsStickyUntilEndOfStream();
    void tenMegabyteEvent_data();
    void tenMegabyteEvent();
    void manyEventsInOneChunk();
    void randomChunkingMatchesWholeFeed();
    void throwingCallbackDoesNotEscape();
    void missingCallbacksAreSkipped();
    void endOfStreamFromCallback();
    void reentrantFeedRefused();
    void unlimitedMaxEventBytes();
};

void TstSseParser::interpretation_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<QByteArrayList>("expected");
    QTest::addColumn<QByteArray>("lastId");

    // --- basic fields ---
    row("single data line", "data: hello\n\n", { ev("message", "hello") });
    row("two data lines joined with LF", "data: a\ndata: b\n\n", { ev("message", "a\nb") });
    row("named event", "event: add\ndata: x\n\n", { ev("add", "x") });
    row("event type reset after dispatch", "event: add\ndata: 1\n\ndata: 2\n\n",
        { ev("add", "1"), ev("message", "2") });
    row("empty event field gives message", "event:\ndata: x\n\n", { ev("message", "x") });
    row("last event field wins", "event: a\nevent: b\ndata: x\n\n", { ev("b", "x") });
    row("id attached to event", "id: 42\ndata: x\n\n", { ev("message", "x", "42") }, "42");
    row("id persists across events", "id: 7\ndata: a\n\ndata: b\n\n",
        { ev("message", "a", "7"), ev("message", "b", "7") }, "7");
    row("empty id clears last id", "id: 7\ndata: a\n\nid\ndata: b\n\n",
        { ev("message", "a", "7"), ev("message", "b", "") }, "");
    row("id with colon and empty value clears", "id: 7\ndata: a\n\nid:\ndata: b\n\n",
        { ev("message", "a", "7"), ev("message", "b", "") }, "");
    row("id with NUL ignored", QByteArray("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n", 32),
        { ev("message", "a", "1"), ev("message", "b", "1") }, "1");
    row("id only block updates last id", "id: 9\n\n", {}, "9");
    row("id only then event", "id: 9\n\ndata: x\n\n", { ev("message", "x", "9") }, "9");
    row("id value keeps inner spaces", "id:  5 \ndata: x\n\n", { ev("message", "x", " 5 ") },
        " 5 ");

    // --- colon and space handling ---
    row("no space after colon", "data:hello\n\n", { ev("message", "hello") });
    row("only one leading space removed", "data:  two\n\n", { ev("message", " two") });
    row("trailing space kept", "data: x \n\n", { ev("message", "x ") });
    row("colon inside value kept", "data: a:b: c\n\n", { ev("message", "a:b: c") });
    row("line without colon is field with empty value", "data\ndata\n\n", { ev("message", "\n") });
    row("data without colon then text", "data\ndata: x\n\n", { ev("message", "\nx") });
    row("tab is not stripped", "data:\tx\n\n", { ev("message", "\tx") });

    // --- comments, unknown fields ---
    row("comment", ": ping\n\n", { comment(" ping") });
    row("comment then event", ":hb\ndata: x\n\n", { comment("hb"), ev("message", "x") });
    row("empty comment", ":\n", { comment("") });
    row("comment inside event", "data: a\n: c\ndata: b\n\n",
        { comment(" c"), ev("message", "a\nb") });
    row("unknown field ignored", "foo: bar\ndata: x\n\n", { ev("message", "x") });
    row("field names are case-sensitive", "Data: x\nDATA: y\nEvent: e\ndata: z\n\n",
        { ev("message", "z") });
    row("field name with space is unknown", "data : x\ndata: y\n\n", { ev("message", "y") });

    // --- dispatch rules ---
    row("no data no dispatch", "event: a\n\n", {});
    row("empty data line dispatches empty string", "data\n\n", { ev("message", "") });
    row("data: with nothing dispatches empty", "data:\n\n", { ev("message", "") });
    row("only trailing LF removed", "data: a\ndata:\n\n", { ev("message", "a\n") });
    row("multiple blank lines", "data: a\n\n\n\ndata: b\n\n",
        { ev("message", "a"), ev("message", "b") });
    row("event type of undispatched block reset", "event: x\n\ndata: y\n\n",
        { ev("message", "y") });
    row("incomplete event at EOF discarded", "data: a\n\ndata: b\n", { ev("message", "a") });
    row("unterminated last line discarded", "data: a\n\ndata: b", { ev("message", "a") });
    row("field line at EOF without blank", "data: a", {});

    // --- retry ---
    row("retry digits", "retry: 1500\n", { retry(1500) });
    row("retry zero", "retry: 0\n", { retry(0) });
    row("retry leading zeros", "retry: 007\n", { retry(7) });
    row("retry with letters ignored", "retry: 15s\nretry: 1e3\n", {});
    row("retry negative ignored", "retry: -1\n", {});
    row("retry with inner space ignored", "retry: 1 000\n", {});
    row("retry with two leading spaces ignored", "retry:  100\n", {});
    row("retry empty ignored", "retry:\nretry\n", {});
    row("retry non-ASCII digit ignored", "retry: \xd9\xa1\n", {}); // ARABIC-INDIC DIGIT ONE
    row("retry huge saturates", "retry: 99999999999999999999999999\n",
        { retry(std::numeric_limits<std::chrono::milliseconds::rep>::max()) });
    row("retry takes effect at once, no blank line", "retry: 5\ndata: x\n\n",
        { retry(5), ev("message", "x") });

    // --- line endings ---
    row("CRLF", "data: a\r\ndata: b\r\n\r\n", { ev("message", "a\nb") });
    row("CR", "data: a\rdata: b\r\r", { ev("message", "a\nb") });
    row("LF CR mixture", "data: a\n\rdata: b\r\n\n", { ev("message", "a"), ev("message", "b") });
    row("CR LF CRLF mixture", "data: 1\rdata: 2\ndata: 3\r\n\r\rdata: 4\n\r\n",
        { ev("message", "1\n2\n3"), ev("message", "4") });
    row("LFCR is two line ends", "data: a\n\r", { ev("message", "a") });
    row("CRCRLF is two line ends then one", "data: a\r\r\ndata: b\r\n\r\n",
        { ev("message", "a"), ev("message", "b") });
    row("CRLF inside comment", ": x\r\ndata: y\r\n\r\n", { comment(" x"), ev("message", "y") });
    row("CR only events back to back", "data: a\r\rdata: b\r\r",
        { ev("message", "a"), ev("message", "b") });

    // --- BOM ---
    row("BOM stripped",
        "\xEF\xBB\xBF"
        "data: x\n\n",
        { ev("message", "x") });
    row("second BOM is data",
        "\xEF\xBB\xBF\xEF\xBB\xBF"
        "data: x\n\n",
        {}); // the line's field name is "\uFEFFdata": unknown
    row("BOM after first line is data",
        "data: a\n\n\xEF\xBB\xBF"
        "data: b\n\n",
        { ev("message", "a") });
    row("BOM inside value kept", "data: \xEF\xBB\xBFx\n\n", { ev("message", "\xEF\xBB\xBFx") });
    row("partial BOM is data",
        "\xEF\xBB"
        "data: x\n\n",
        {}); // invalid UTF-8 + "data" = unknown field
    row("BOM then comment", "\xEF\xBB\xBF: hi\n", { comment(" hi") });
    row("BOM then blank then event", "\xEF\xBB\xBF\ndata: x\n\n", { ev("message", "x") });

    // --- UTF-8 ---
    row("multibyte UTF-8 passes intact", "data: h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80\n\n",
        { ev("message", "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80") });
    row("invalid byte replaced",
        "data: a\xFF"
        "b\n\n",
        { ev("message",
            "a\xEF\xBF\xBD"
            "b") });
    row("truncated sequence at line end replaced", "data: \xE2\x82\n\n",
        { ev("message", "\xEF\xBF\xBD") });
    row("truncated sequence then ASCII", "data: \xE2\x82x\n\n", { ev("message", "\xEF\xBF\xBDx") });
    row("overlong encoding replaced per byte", "data: \xC0\xAF\n\n",
        { ev("message", "\xEF\xBF\xBD\xEF\xBF\xBD") });
    row("surrogate replaced", "data: \xED\xA0\x80\n\n",
        { ev("message", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") });
    row("above U+10FFFF replaced", "data: \xF4\x90\x80\x80\n\n",
        { ev("message", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") });
    row("max code point kept", "data: \xF4\x8F\xBF\xBF\n\n", { ev("message", "\xF4\x8F\xBF\xBF") });
    row("invalid UTF-8 in event type replaced", "event: \xFE\ndata: x\n\n",
        { ev("\xEF\xBF\xBD", "x") });
    row("invalid UTF-8 in id replaced", "id: \x80\ndata: x\n\n",
        { ev("message", "x", "\xEF\xBF\xBD") }, "\xEF\xBF\xBD");
    row("NUL in data kept", QByteArray("data: a\0b\n\n", 11),
        { ev("message", QByteArray("a\0b", 3)) });

    // --- WHATWG HTML §9.2.6 examples ---
    row("spec example: stock ticker", "data: YHOO\ndata: +2\ndata: 10\n\n",
        { ev("message", "YHOO\n+2\n10") });
    row("spec example: four blocks",
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third "
        "event\n\n",
        { comment(" test stream"), ev("message", "first event", "1"),
            ev("message", "second event", ""), ev("message", " third event", "") },
        "");
    row("spec example: two events, empty data",
        "data\n\ndata\ndata\n\ndata:", { ev("message", ""), ev("message", "\n") });
    row("spec example: identical events", "data:test\n\ndata: test\n\n",
        { ev("message", "test"), ev("message", "test") });
    row("spec example: named events",
        "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
        { ev("add", "73857293"), ev("remove", "2153"), ev("add", "113411") });
}

void TstSseParser::interpretation()
{
    QFETCH(QByteArray, input);
    QFETCH(int, chunk);
    QFETCH(QByteArrayList, expected);
    QFETCH(QByteArray, lastId);

    Harness h;
    QVERIFY(h.feed(input, chunk));
    h.parser.endOfStream();
    QCOMPARE(h.log, expected);
    QCOMPARE(toBytes(h.parser.lastEventId()), lastId);
}

void TstSseParser::crAtChunkEndDispatchesImmediately_data()
{
    QTest::addColumn<QByteArray>("first");
    QTest::addColumn<QByteArray>("second");
    QTest::addColumn<QByteArrayList>("afterFirst");
    QTest::addColumn<QByteArrayList>("afterSecond");

    QTest::newRow("CR CR at end") << QByteArray("data: a\r\r") << QByteArray("\ndata: b\n\n")
                                  << QByteArrayList { ev("message", "a") }
                                  << QByteArrayList { ev("message", "a"), ev("message", "b") };
    QTest::newRow("LF CR at end") << QByteArray("data: a\n\r") << QByteArray("\n")
                                  << QByteArrayList { ev("message", "a") }
                                  << QByteArrayList { ev("message", "a") };
    QTest::newRow("CRLF CR at end")
        << QByteArray("data: a\r\n\r") << QByteArray("\ndata: b\r\n\r\n")
        << QByteArrayList { ev("message", "a") }
        << QByteArrayList { ev("message", "a"), ev("message", "b") };
    QTest::newRow("retry line ended by CR")
        << QByteArray("retry: 10\r") << QByteArray("\n") << QByteArrayList { retry(10) }
        << QByteArrayList { retry(10) };
    QTest::newRow("comment ended by CR")
        << QByteArray(": hb\r") << QByteArray("") << QByteArrayList { comment(" hb") }
        << QByteArrayList { comment(" hb") };
    // The skipped LF is only one byte: a second LF is a blank line of its own.
    QTest::newRow("CR then LF LF") << QByteArray("data: a\r") << QByteArray("\n\n")
                                   << QByteArrayList {} << QByteArrayList { ev("message", "a") };
    // Something other than LF after the CR is kept.
    QTest::newRow("CR then data") << QByteArray("data: a\r") << QByteArray("data: b\n\n")
                                  << QByteArrayList {} << QByteArrayList { ev("message", "a\nb") };
    QTest::newRow("CR then CR") << QByteArray("data: a\r") << QByteArray("\r") << QByteArrayList {}
                                << QByteArrayList { ev("message", "a") };
}

void TstSseParser::crAtChunkEndDispatchesImmediately()
{
    QFETCH(QByteArray, first);
    QFETCH(QByteArray, second);
    QFETCH(QByteArrayList, afterFirst);
    QFETCH(QByteArrayList, afterSecond);

    Harness h;
    QVERIFY(h.feed(first, 0));
    QCOMPARE(h.log, afterFirst); // nothing waits for the byte after the CR
    QVERIFY(h.feed(second, 0));
    QCOMPARE(h.log, afterSecond);
}

void TstSseParser::crLfSplitAcrossChunksIsOneLineEnd()
{
    // "data: a\r" | "\n" | "\r" | "\n": the pairs are CRLF, CRLF -> exactly one blank line, one
    // event, and the LF after the last CR must not start a further blank line.
    Harness h;
    for (const char* part : { "data: a\r", "\n", "\r", "\n", "data: b\r", "\n", "\r", "\n" })
        QVERIFY(h.parser.feed(part));
    QCOMPARE(h.log, (QByteArrayList { ev("message", "a"), ev("message", "b") }));
    // An empty chunk in between must not lose the pending-LF state.
    Harness h2;
    for (const char* part : { "data: c\r", "", "\n", "\r", "", "\n" })
        QVERIFY(h2.parser.feed(part));
    QCOMPARE(h2.log, (QByteArrayList { ev("message", "c") }));
}

void TstSseParser::bomOnlyAtStreamStart()
{
    // BOM split at both inner offsets, then a second BOM in its own chunk is data.
    Harness h;
    QVERIFY(h.parser.feed("\xEF"));
    QVERIFY(h.parser.feed("\xBB"));
    QVERIFY(h.parser.feed("\xBF"
                          "data: a\n\n"));
    QVERIFY(h.parser.feed("\xEF\xBB\xBF"
                          "data: b\n\n"));
    QCOMPARE(h.log, (QByteArrayList { ev("message", "a") }));
}

void TstSseParser::bomRearmedByEndOfStream()
{
    Harness h;
    QVERIFY(h.parser.feed("\xEF\xBB\xBF"
                          "data: a\n\n"));
    h.parser.endOfStream();
    // A new connection may start with a BOM again; half a BOM at EOF is discarded.
    QVERIFY(h.parser.feed("\xEF\xBB"));
    h.parser.endOfStream();
    QVERIFY(h.parser.feed("\xEF\xBB\xBF"
                          "data: b\n\n"));
    QCOMPARE(h.log, (QByteArrayList { ev("message", "a"), ev("message", "b") }));
}

void TstSseParser::lastEventIdPersistsAcrossEndOfStream()
{
    Harness h;
    QVERIFY(h.parser.feed("id: 5\ndata: a\n\n"));
    h.parser.endOfStream();
    QCOMPARE(h.parser.lastEventId(), std::string("5"));
    // Next connection: events without `id:` still carry the persisted id.
    QVERIFY(h.parser.feed("data: b\n\n"));
    QCOMPARE(h.log, (QByteArrayList { ev("message", "a", "5"), ev("message", "b", "5") }));
    // A pending CR from the old connection does not eat the new connection's first LF.
    QVERIFY(h.parser.feed("data: c\r"));
    h.parser.endOfStream();
    QVERIFY(h.parser.feed("\ndata: d\n\n"));
    QCOMPARE(h.log.size(), 3);
    QCOMPARE(h.log.last(), ev("message", "d", "5"));
}

void TstSseParser::incompleteIdDiscardedAtEndOfStream()
{
    Harness h;
    QVERIFY(h.parser.feed("id: 1\n\nid: 2\ndata: half\n"));
    h.parser.endOfStream();
    QCOMPARE(h.parser.lastEventId(), std::string("1"));
    QVERIFY(h.parser.feed("data: next\n\n"));
    QCOMPARE(h.log, (QByteArrayList { ev("message", "next", "1") }));
}

void TstSseParser::setLastEventIdIsUsed()
{
    Harness h;
    h.parser.setLastEventId("restored-17");
    QCOMPARE(h.parser.lastEventId(), std::string("restored-17"));
    QVERIFY(h.parser.feed("data: a\n\nid: 18\ndata: b\n\n"));
    QCOMPARE(
        h.log, (QByteArrayList { ev("message", "a", "restored-17"), ev("message", "b", "18") }));
}

void TstSseParser::utf8SplitAcrossChunks()
{
    // Every split point of a line mixing 2-, 3- and 4-byte sequences (and an invalid byte) gives
    // the same result as the whole line.
    const QByteArray input
        = "event: \xC3\xA9v\ndata: \xE2\x82\xAC\xF0\x9F\x98\x80\xC3\xA9\xFFz\n\n";
    Harness whole;
    QVERIFY(whole.feed(input, 0));
    QCOMPARE(whole.log,
        (QByteArrayList { ev("\xC3\xA9v", "\xE2\x82\xAC\xF0\x9F\x98\x80\xC3\xA9\xEF\xBF\xBDz") }));
    for (int a = 1; a < input.size(); ++a) {
        for (int b = a; b < input.size(); ++b) {
            Harness h;
            QVERIFY(h.parser.feed(std::string_view(input.constData(), a)));
            QVERIFY(h.parser.feed(std::string_view(input.constData() + a, b - a)));
            QVERIFY(h.parser.feed(std::string_view(input.constData() + b, input.size() - b)));
            QCOMPARE(h.log, whole.log);
        }
    }
}

void TstSseParser::maxEventBytes_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("chunk");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<int>("events");

    const int max = 100;
    const QByteArray exact(max, 'x');
    const QByteArray over(max + 1, 'x');
    const QByteArray half(max / 2, 'y');
    struct Case {
        const char* name;
        QByteArray input;
        bool ok;
        int events;
    };
    const Case cases[] = {
        { "data of exactly max", "data: " + exact + "\n\n", true, 1 },
        { "data of max+1", "data: " + over + "\n\n", false, 0 },
        { "two lines summing to max", "data: " + half.left(49) + "\ndata: " + half + "\n\n", true,
            1 },
        { "two lines over max", "data: " + half + "\ndata: " + half + "\n\n", false, 0 },
        { "many events each under max", ("data: " + half + "\n\n").repeated(20), true, 20 },
        { "unterminated huge line", "data: " + QByteArray(max * 3, 'z'), false, 0 },
        { "huge comment", ": " + QByteArray(max * 3, 'c') + "\n", false, 0 },
        { "event before oversized one delivered", "data: a\n\ndata: " + over + "\n\n", false, 1 },
    };
    for (const Case& c : cases) {
        for (int chunk : kModes)
            QTest::newRow(QByteArray(c.name) + " / " + modeName(chunk))
                << c.input << chunk << c.ok << c.events;
    }
}

void TstSseParser::maxEventBytes()
{
    QFETCH(QByteArray, input);
    QFETCH(int, chunk);
    QFETCH(bool, ok);
    QFETCH(int, events);

    Harness h(100);
    QCOMPARE(h.feed(input, chunk), ok);
    QCOMPARE(int(h.events.size()), events);
    for (const SseEvent& e : h.events)
        QVERIFY(e.data.size() <= 100);
}

void TstSseParser::overflowIsStickyUntilEndOfStream()
{
    Harness h(10);
    QVERIFY(!h.parser.feed("data: 0123456789abc\n\n"));
    // Until the caller ends the stream, everything is refused (the rest of the oversized event
    // must not be parsed as new lines).
    QVERIFY(!h.parser.feed("data: ok\n\n"));
    QVERIFY(h.log.isEmpty());
    h.parser.endOfStream();
    QVERIFY(h.parser.feed("id: 3\ndata: ok\n\n"));
    QCOMPARE(h.log, (QByteArrayList { ev("message", "ok", "3") }));
}

void TstSseParser::tenMegabyteEvent_data()
{
    QTest::addColumn<int>("chunk");
    QTest::newRow("one chunk") << 0;
    QTest::newRow("4 KiB chunks") << 4096;
    QTest::newRow("4097-byte chunks") << 4097; // CR/LF pairs split at varying offsets
}

void TstSseParser::tenMegabyteEvent()
{
    // 10 MiB of data as one line plus 10 MiB spread over 64-byte lines with CRLF endings. Linear
    // parsing is what makes this finish inside the test timeout; quadratic rescanning of the
    // buffer (eventsource-parser #28) would take hours for 4 KiB chunks.
    QFETCH(int, chunk);
    const int kSize = 10 * 1024 * 1024;
    QByteArray body(kSize, 'a');
    for (int i = 0; i < kSize; i += 997)
        body[i] = char('a' + (i % 26));
    QByteArray lines;
    lines.reserve(kSize + kSize / 4);
    for (int i = 0; i < kSize; i += 64)
        lines += "data: " + body.mid(i, 64) + "\r\n";
    const QByteArray input = "id: big\ndata: " + body + "\n\n" + lines + "\r\n";

    Harness h;
    QVERIFY(h.feed(input, chunk));
    QCOMPARE(int(h.events.size()), 2);
    QCOMPARE(h.events[0].data.size(), std::size_t(kSize));
    QVERIFY(toBytes(h.events[0].data) == body);
    QCOMPARE(h.events[0].lastEventId, std::string("big"));
    QCOMPARE(h.events[1].data.size(), std::size_t(kSize + kSize / 64 - 1));
    QCOMPARE(toBytes(h.events[1].data).left(130), body.left(64) + "\n" + body.mid(64, 64) + "\n");
}

void TstSseParser::manyEventsInOneChunk()
{
    QByteArray input;
    QByteArrayList expected;
    for (int i = 0; i < 5000; ++i) {
        const QByteArray n = QByteArray::number(i);
        input += "id: " + n + "\nevent: comment\ndata: {\"n\":" + n + "}\n\n";
        expected += ev("comment", "{\"n\":" + n + "}", n);
    }
    Harness h;
    QVERIFY(h.feed(input, 0));
    QCOMPARE(h.log, expected);
    QCOMPARE(h.parser.lastEventId(), std::string("4999"));
}

void TstSseParser::randomChunkingMatchesWholeFeed()
{
    // A long stream mixing every construct, fed whole and then cut at random points (seeded and
    // printed, so a failure is reproducible).
    std::mt19937 gen(20261123u);
    const char* pieces[] = { "data: plain\n", "data: crlf\r\n", "data: cr\r", "event: add\n",
        "id: 12\n", "id\n", ": heartbeat\n", "retry: 250\n", "retry: x\n", "\n", "\r\n", "\r",
        "data:\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\n", "data: \xFF\xC3\n", "unknown: v\n", "data\n",
        "data:  two spaces\n", "id: a\0b\n" };
    QByteArray stream = "\xEF\xBB\xBF";
    std::uniform_int_distribution<int> pick(0, int(std::size(pieces)) - 1);
    for (int i = 0; i < 20000; ++i) {
        const char* piece = pieces[pick(gen)];
        const int len = std::strcmp(piece, "id: a") == 0 ? 8 : int(std::strlen(piece));
        stream.append(piece, len);
    }
    stream += "\n\n";

    Harness whole;
    QVERIFY(whole.feed(stream, 0));
    QVERIFY(whole.events.size() > 100);

    for (int round = 0; round < 20; ++round) {
        const unsigned seed = gen();
        std::mt19937 cut(seed);
        std::uniform_int_distribution<int> len(0, round < 10 ? 8 : 600);
        Harness h;
        int pos = 0;
        while (pos < stream.size()) {
            const int n = std::min(len(cut), int(stream.size()) - pos);
            QVERIFY(h.parser.feed(std::string_view(stream.constData() + pos, n)));
            pos += n;
        }
        if (h.log != whole.log)
            qWarning("chunking seed %u differs", seed);
        QCOMPARE(h.log, whole.log);
        QCOMPARE(h.parser.lastEventId(), whole.parser.lastEventId());
    }
}

void TstSseParser::throwingCallbackDoesNotEscape()
{
    int calls = 0;
    SseParser::Callbacks cb;
    cb.onEvent = [&calls](const SseEvent&) {
        ++calls;
        throw std::runtime_error("user code");
    };
    cb.onRetry = [](std::chrono::milliseconds) { throw 42; };
    cb.onComment = [](std::string_view) { throw std::bad_alloc(); };
    SseParser parser(cb);
    bool ok = false;
    try {
        ok = parser.feed(": c\nretry: 1\ndata: a\n\ndata: b\n\n");
    } catch (...) {
        QFAIL("exception escaped feed()");
    }
    QVERIFY(ok);
    QCOMPARE(calls, 2); // parsing continued after the first throw
}

void TstSseParser::missingCallbacksAreSkipped()
{
    SseParser parser(SseParser::Callbacks {});
    QVERIFY(parser.feed(": c\nretry: 1\nid: 4\ndata: a\n\n"));
    QCOMPARE(parser.lastEventId(), std::string("4"));
}

void TstSseParser::endOfStreamFromCallback()
{
    // A client that closes the connection while handling an event (e.g. on a `reset` event) ends
    // the stream from inside the callback: the rest of the chunk is dropped, the id persists, the
    // parser is ready for the next connection.
    std::vector<std::string> seen;
    SseParser* self = nullptr;
    SseParser::Callbacks cb;
    cb.onEvent = [&](const SseEvent& e) {
        seen.push_back(e.type + "/" + e.data + "/" + e.lastEventId);
        if (e.type == "reset")
            self->endOfStream();
    };
    SseParser parser(cb);
    self = &parser;
    // The long line is buffered across chunks (m_line) before the reset is dispatched.
    const std::string tail = "data: " + std::string(3u << 20, 'q');
    QVERIFY(parser.feed("data: a\n\nid: 9\nevent: reset\ndata: r\r"));
    QVERIFY(parser.feed(tail));
    QVERIFY(parser.feed("\n\nid: 10\nevent: reset\ndata: r2\n\ndata: dropped\n\n"));
    QCOMPARE(seen.size(), std::size_t(2));
    QCOMPARE(seen[0], std::string("message/a/"));
    QVERIFY(seen[1] == "reset/r\n" + tail.substr(6) + "/9");
    QCOMPARE(parser.lastEventId(), std::string("9")); // "id: 10" came after the end
    // Next connection: BOM re-armed, pending CR forgotten.
    QVERIFY(parser.feed("\xEF\xBB\xBF\ndata: b\n\n"));
    QCOMPARE(seen.size(), std::size_t(3));
    QCOMPARE(seen[2], std::string("message/b/9"));
}

void TstSseParser::reentrantFeedRefused()
{
    SseParser* self = nullptr;
    int events = 0;
    bool inner = true;
    SseParser::Callbacks cb;
    cb.onEvent = [&](const SseEvent&) {
        ++events;
        inner = self->feed("data: nested\n\n");
    };
    SseParser parser(cb);
    self = &parser;
    QVERIFY(parser.feed("data: a\n\n"));
    QCOMPARE(events, 1);
    QVERIFY(!inner);
}

void TstSseParser::unlimitedMaxEventBytes()
{
    Harness h(std::numeric_limits<std::size_t>::max());
    QVERIFY(h.feed("data: a\n\ndata: " + QByteArray(100000, 'b') + "\n\n", 4096));
    QCOMPARE(int(h.events.size()), 2);
    QCOMPARE(h.events[1].data.size(), std::size_t(100000));
}

QTEST_APPLESS_MAIN(TstSseParser)
#include "tst_sse_parser.moc"
