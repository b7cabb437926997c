// SPDX-License-Identifier: MIT
// Unit tests of livecomments-bench's building blocks: the latency histogram must report
// percentiles within its stated 1 % error, the chunked decoder must give the same payload
// however the stream is split, and the JSON escaper must give what a JSON parser reads back.
#include "histogram.h"
#include "http_util.h"
#include "json_text.h"

#include <QJsonArray>
#include <QJsonDocument>

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

using livecomments::bench::ChunkedDecoder;
using livecomments::bench::Histogram;
using livecomments::bench::jsonString;

/// Threading: Qt Test main thread only.
class TstBenchCodec : public QObject {
    Q_OBJECT

private slots:
    void histogramPercentiles_data();
    void histogramPercentiles();
    void histogramMerge();
    void chunkedEverySplit_data();
    void chunkedEverySplit();
    void chunkedRejectsGarbage();
    void jsonStringReadsBack_data();
    void jsonStringReadsBack();
};

void TstBenchCodec::histogramPercentiles_data()
{
    QTest::addColumn<quint64>("scale");
    QTest::newRow("microseconds") << quint64(1);
    QTest::newRow("milliseconds") << quint64(1000);
    QTest::newRow("seconds") << quint64(1000000);
}

void TstBenchCodec::histogramPercentiles()
{
    QFETCH(quint64, scale);
    // Values 1..10000 (× scale) in shuffled order: the exact p-th percentile is p × 10000.
    std::vector<std::uint64_t> values;
    for (std::uint64_t v = 1; v <= 10000; ++v)
        values.push_back(v * scale);
    std::shuffle(values.begin(), values.end(), std::mt19937_64(42));
    Histogram h;
    for (const auto v : values)
        h.record(v);
    QCOMPARE(h.count(), quint64(10000));
    QCOMPARE(h.max(), quint64(10000 * scale));
    for (const double p : { 0.5, 0.9, 0.99, 0.999 }) {
        const double exact = p * 10000.0 * static_cast<double>(scale);
        const double got = static_cast<double>(h.percentile(p));
        QVERIFY2(std::abs(got - exact) <= exact * 0.01 + 1.0,
            qPrintable(QStringLiteral("p%1: %2 vs %3").arg(p).arg(got).arg(exact)));
    }
    QVERIFY(std::abs(h.mean() - 5000.5 * static_cast<double>(scale))
        < 1e-6 * static_cast<double>(scale) + 1e-9);
    QCOMPARE(Histogram().percentile(0.99), quint64(0));
}

void TstBenchCodec::histogramMerge()
{
    Histogram a;
    Histogram b;
    for (std::uint64_t v = 0; v < 100; ++v)
        a.record(v);
    for (std::uint64_t v = 100; v < 200; ++v)
        b.record(v);
    a.merge(b);
    QCOMPARE(a.count(), quint64(200));
    QCOMPARE(a.max(), quint64(199));
    QCOMPARE(a.percentile(0.5), quint64(99)); // exact below 128
}

void TstBenchCodec::chunkedEverySplit_data()
{
    QTest::addColumn<QByteArray>("wire");
    QTest::addColumn<QByteArray>("payload");
    QTest::newRow("two chunks") << QByteArray("5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n")
                                << QByteArray("hello, world");
    QTest::newRow("hex size + extension")
        << QByteArray("1A;name=x\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n")
        << QByteArray("abcdefghijklmnopqrstuvwxyz");
    QTest::newRow("trailer") << QByteArray("3\r\nSSE\r\n0\r\nX-Trailer: 1\r\n\r\n")
                             << QByteArray("SSE");
    QTest::newRow("bare LF") << QByteArray("2\nok\n0\n\n") << QByteArray("ok");
}

void TstBenchCodec::chunkedEverySplit()
{
    QFETCH(QByteArray, wire);
    QFETCH(QByteArray, payload);
    const std::string all = wire.toStdString();
    for (std::size_t cut = 0; cut <= all.size(); ++cut) {
        ChunkedDecoder decoder;
        std::string out;
        auto sink = [&out](std::string_view s) { out.append(s); };
        QVERIFY(decoder.feed(std::string_view(all).substr(0, cut), sink));
        QVERIFY(decoder.feed(std::string_view(all).substr(cut), sink));
        QCOMPARE(QByteArray::fromStdString(out), payload);
        QVERIFY2(decoder.finished(), qPrintable(QStringLiteral("cut at %1").arg(cut)));
    }
}

void TstBenchCodec::chunkedRejectsGarbage()
{
    ChunkedDecoder decoder;
    QVERIFY(!decoder.feed("zz\r\n", [](std::string_view) {}));
    ChunkedDecoder missingCrlf;
    QVERIFY(!missingCrlf.feed("2\r\nokX", [](std::string_view) {}));
    ChunkedDecoder partial;
    QVERIFY(partial.feed("5\r\nhel", [](std::string_view) {}));
    QVERIFY(!partial.finished());
}

void TstBenchCodec::jsonStringReadsBack_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("plain") << QByteArray("bench video 1");
    QTest::newRow("quotes and backslash") << QByteArray(R"(say "hi" \ C:\path)");
    QTest::newRow("newline, tab, CR") << QByteArray("a\nb\tc\rd");
    QTest::newRow("control bytes") << QByteArray("x\x01y\x1fz", 5);
    QTest::newRow("utf-8") << QByteArray("caf\xC3\xA9 \xF0\x9F\x8E\x89");
    QTest::newRow("empty") << QByteArray("");
}

void TstBenchCodec::jsonStringReadsBack()
{
    QFETCH(QByteArray, text);
    const std::string literal = jsonString(text.toStdString());
    // An independent parser (Qt's) must read the literal back as the original text.
    QJsonParseError error {};
    const QJsonDocument doc
        = QJsonDocument::fromJson(QByteArray::fromStdString("[" + literal + "]"), &error);
    QVERIFY2(error.error == QJsonParseError::NoError, literal.c_str());
    QCOMPARE(doc.array().at(0).toString(), QString::fromUtf8(text));
}

QTEST_GUILESS_MAIN(TstBenchCodec)
#include "tst_bench_codec.moc"
