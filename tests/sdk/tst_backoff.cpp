// SPDX-License-Identifier: MIT
//
// Tests for livecomments::Backoff: exponential growth, full jitter with a pinned random source,
// cap, floor, `retry:` base, reset after a stable connection.
#include "livecomments/backoff.h"

#include <QtTest>

#include <limits>
#include <stdexcept>
#include <vector>

using livecomments::Backoff;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

Q_DECLARE_METATYPE(std::vector<long long>)
Q_DECLARE_METATYPE(livecomments::Backoff::Options)

namespace {

Backoff::Options options(long long initial = 1000, long long cap = 30000, long long minimum = 100,
    long long resetAfter = 60000)
{
    Backoff::Options o;
    o.initial = milliseconds(initial);
    o.cap = milliseconds(cap);
    o.minimum = milliseconds(minimum);
    o.resetAfter = milliseconds(resetAfter);
    return o;
}

std::vector<long long> delays(Backoff& backoff, int n)
{
    std::vector<long long> out;
    for (int i = 0; i < n; ++i)
        out.push_back(backoff.nextDelay().count());
    return out;
}

} // namespace

class TstBackoff : public QObject {
    Q_OBJECT

private slots:
    void sequence_data();
    void sequence();
    void retryBase_data();
    void retryBase();
    void resetAfterStableConnection_data();
    void resetAfterStableConnection();
    void attemptCounting();
    void explicitReset();
    void defaultRandomStaysInRange();
    void defaultRandomDiffersBetweenInstances();
    void badRandomSourceIsContained_data();
    void badRandomSourceIsContained();
    void defaultConstructedUsesDocumentedOptions();
};

void TstBackoff::sequence_data()
{
    QTest::addColumn<double>("random");
    QTest::addColumn<Backoff::Options>("opts");
    QTest::addColumn<std::vector<long long>>("expected");

    // delay(n) = random * min(cap, initial * 2^n), floored at minimum, rounded to whole ms.
    QTest::newRow("r=0 always the minimum")
        << 0.0 << options() << std::vector<long long> { 100, 100, 100, 100, 100, 100, 100 };
    QTest::newRow("r=0.5 doubles then caps")
        << 0.5 << options()
        << std::vector<long long> { 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000 };
    QTest::newRow("r=0.999 just below the ceiling")
        << 0.999 << options()
        << std::vector<long long> { 999, 1998, 3996, 7992, 15984, 29970, 29970 };
    QTest::newRow("r=0.05 floored at minimum first")
        << 0.05 << options() << std::vector<long long> { 100, 100, 200, 400, 800, 1500 };
    QTest::newRow("r=0.5 small cap")
        << 0.5 << options(1000, 3000) << std::vector<long long> { 500, 1000, 1500, 1500 };
    QTest::newRow("r=0.5 cap below initial")
        << 0.5 << options(1000, 600) << std::vector<long long> { 300, 300, 300 };
    QTest::newRow("r=0.5 minimum above jittered")
        << 0.5 << options(1000, 30000, 1200) << std::vector<long long> { 1200, 1200, 2000, 4000 };
    QTest::newRow("r=0.999 zero minimum")
        << 0.999 << options(10, 30000, 0) << std::vector<long long> { 10, 20, 40, 80 };
    QTest::newRow("r=0 zero minimum gives zero")
        << 0.0 << options(10, 30000, 0) << std::vector<long long> { 0, 0 };
    QTest::newRow("r=0.25 rounding to nearest ms")
        << 0.25 << options(3, 30000, 0) << std::vector<long long> { 1, 2, 3, 6 };
}

void TstBackoff::sequence()
{
    QFETCH(double, random);
    QFETCH(Backoff::Options, opts);
    QFETCH(std::vector<long long>, expected);

    Backoff backoff(opts, [random] { return random; });
    QCOMPARE(delays(backoff, int(expected.size())), expected);
    QCOMPARE(backoff.attempt(), int(expected.size()));
}

void TstBackoff::retryBase_data()
{
    QTest::addColumn<double>("random");
    QTest::addColumn<int>("attemptsBefore");
    QTest::addColumn<long long>("base");
    QTest::addColumn<std::vector<long long>>("expected");

    // setBase() replaces `initial`; the attempt count is kept, so growth continues from there.
    QTest::newRow("retry 2000 from the start")
        << 0.5 << 0 << 2000LL << std::vector<long long> { 1000, 2000, 4000, 8000, 15000 };
    QTest::newRow("retry 2000 after two attempts")
        << 0.5 << 2 << 2000LL << std::vector<long long> { 4000, 8000, 15000 };
    QTest::newRow("retry above cap is capped")
        << 0.999 << 0 << 120000LL << std::vector<long long> { 29970, 29970 };
    QTest::newRow("retry 0 gives the minimum")
        << 0.999 << 0 << 0LL << std::vector<long long> { 100, 100, 100 };
    QTest::newRow("negative base treated as 0")
        << 0.999 << 0 << -5LL << std::vector<long long> { 100, 100 };
    QTest::newRow("huge retry does not overflow")
        << 0.5 << 0 << std::numeric_limits<long long>::max()
        << std::vector<long long> { 15000, 15000 };
}

void TstBackoff::retryBase()
{
    QFETCH(double, random);
    QFETCH(int, attemptsBefore);
    QFETCH(long long, base);
    QFETCH(std::vector<long long>, expected);

    Backoff backoff(options(), [random] { return random; });
    delays(backoff, attemptsBefore);
    backoff.setBase(milliseconds(base));
    QCOMPARE(delays(backoff, int(expected.size())), expected);
}

void TstBackoff::resetAfterStableConnection_data()
{
    QTest::addColumn<int>("upMs");
    QTest::addColumn<int>("attemptAfter");
    QTest::addColumn<long long>("nextDelay");

    // Three failed attempts, then a connection that stays up for upMs, then it drops.
    QTest::newRow("dropped at once keeps growing") << 0 << 3 << 4000LL;
    QTest::newRow("up 59.999 s keeps growing") << 59999 << 3 << 4000LL;
    QTest::newRow("up exactly 60 s resets") << 60000 << 0 << 500LL;
    QTest::newRow("up 10 min resets") << 600000 << 0 << 500LL;
}

void TstBackoff::resetAfterStableConnection()
{
    QFETCH(int, upMs);
    QFETCH(int, attemptAfter);
    QFETCH(long long, nextDelay);

    Backoff backoff(options(), [] { return 0.5; });
    delays(backoff, 3);
    const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);
    backoff.onConnected(t0);
    QCOMPARE(backoff.attempt(), 3); // connecting alone does not reset
    backoff.onDisconnected(t0 + milliseconds(upMs));
    QCOMPARE(backoff.attempt(), attemptAfter);
    QCOMPARE(backoff.nextDelay().count(), nextDelay);
}

void TstBackoff::attemptCounting()
{
    Backoff backoff(options(), [] { return 0.5; });
    QCOMPARE(backoff.attempt(), 0);
    backoff.nextDelay();
    QCOMPARE(backoff.attempt(), 1);
    backoff.nextDelay();
    QCOMPARE(backoff.attempt(), 2);
    // A disconnect without a preceding connect does not reset.
    backoff.onDisconnected(Clock::time_point() + std::chrono::hours(5));
    QCOMPARE(backoff.attempt(), 2);
    // A second disconnect long after a short connection does not count the gap as uptime.
    const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);
    backoff.onConnected(t0);
    backoff.onDisconnected(t0 + milliseconds(10));
    backoff.onDisconnected(t0 + std::chrono::hours(2));
    QCOMPARE(backoff.attempt(), 2);
    // Many attempts: the delay stays at the jittered cap, no overflow.
    for (int i = 0; i < 5000; ++i)
        QCOMPARE(backoff.nextDelay().count() <= 30000, true);
    QCOMPARE(backoff.attempt(), 5002);
    QCOMPARE(backoff.nextDelay().count(), 15000LL);
}

void TstBackoff::explicitReset()
{
    Backoff backoff(options(), [] { return 0.5; });
    backoff.setBase(milliseconds(400));
    delays(backoff, 4);
    backoff.reset();
    QCOMPARE(backoff.attempt(), 0);
    // The server's base survives reset(): it is a property of the server, not of the attempt.
    QCOMPARE(backoff.nextDelay().count(), 200LL);
}

void TstBackoff::defaultRandomStaysInRange()
{
    Backoff backoff(options(1000, 8000, 0), {});
    for (int round = 0; round < 200; ++round) {
        backoff.reset();
        for (long long ceiling : { 1000LL, 2000LL, 4000LL, 8000LL, 8000LL }) {
            const long long d = backoff.nextDelay().count();
            QVERIFY2(d >= 0 && d <= ceiling, qPrintable(QString::number(d)));
        }
    }
}

void TstBackoff::defaultRandomDiffersBetweenInstances()
{
    // Full jitter only spreads a reconnect storm if clients do not share a seed.
    Backoff a(options(1000000, 1000000, 0), {});
    Backoff b(options(1000000, 1000000, 0), {});
    int equal = 0;
    for (int i = 0; i < 8; ++i) {
        a.reset();
        b.reset();
        if (a.nextDelay() == b.nextDelay())
            ++equal;
    }
    QVERIFY(equal < 8);
}

void TstBackoff::badRandomSourceIsContained_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<long long>("expected");
    QTest::newRow("NaN -> minimum") << 0 << 100LL;
    QTest::newRow("negative -> minimum") << 1 << 100LL;
    QTest::newRow("above 1 -> ceiling") << 2 << 1000LL;
    QTest::newRow("throws -> minimum") << 3 << 100LL;
}

void TstBackoff::badRandomSourceIsContained()
{
    QFETCH(int, kind);
    QFETCH(long long, expected);
    Backoff backoff(options(), [kind]() -> double {
        switch (kind) {
        case 0:
            return std::numeric_limits<double>::quiet_NaN();
        case 1:
            return -3.0;
        case 2:
            return 7.0;
        default:
            throw std::runtime_error("no entropy");
        }
    });
    QCOMPARE(backoff.nextDelay().count(), expected);
    QCOMPARE(backoff.attempt(), 1);
}

void TstBackoff::defaultConstructedUsesDocumentedOptions()
{
    Backoff backoff;
    QCOMPARE(backoff.attempt(), 0);
    for (long long ceiling : { 1000LL, 2000LL, 4000LL, 8000LL, 16000LL, 30000LL, 30000LL }) {
        const long long d = backoff.nextDelay().count();
        QVERIFY(d >= 100 && d <= ceiling);
    }
    QCOMPARE(backoff.attempt(), 7);
}

QTEST_APPLESS_MAIN(TstBackoff)
#include "tst_backoff.moc"
