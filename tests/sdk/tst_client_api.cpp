// SPDX-License-Identifier: MIT
// Hostile and malformed input to every public entry point of livecomments::core, calls after
// close, calls from many threads, lifetimes (handles outliving the Client, destruction from
// inside a callback). Needs no server: a local port with nothing listening stands in for one.
#include "livecomments/livecomments.h"
#include "sdk_test_util.h"

#include <QTcpServer>
#include <QtTest>

#include <atomic>
#include <set>
#include <thread>

using namespace livecomments;

namespace {
/// A base URL where nothing listens (connections are refused at once).
QUrl deadServer()
{
    QTcpServer probe;
    probe.listen(QHostAddress::LocalHost, 0);
    const quint16 port = probe.serverPort();
    probe.close();
    return QUrl(QStringLiteral("http://127.0.0.1:%1").arg(port));
}
} // namespace

class TstClientApi : public QObject {
    Q_OBJECT
private slots:
    void errorAndResultValues();
    void parseCommentIdRejectsJunk_data();
    void parseCommentIdRejectsJunk();
    void createRejectsBadConfig_data();
    void createRejectsBadConfig();
    void rejectsBadVideoIds();
    void rejectsBadPosts();
    void rejectsBadEventSources();
    void rejectsBadHistoryQueries();
    void callsAfterClose();
    void handlesOutliveClient();
    void connectionRefusedIsRecoverable();
    void manyThreads();
    void destroyFromInsideCallback();
    void noCallbackAfterDestructor();
};

void TstClientApi::errorAndResultValues()
{
    const std::pair<ErrorCode, bool> table[] = { { ErrorCode::InvalidArgument, false },
        { ErrorCode::Network, true }, { ErrorCode::Timeout, true },
        { ErrorCode::ServerError, true }, { ErrorCode::RateLimited, true },
        { ErrorCode::Unauthorized, false }, { ErrorCode::Forbidden, false },
        { ErrorCode::NotFound, false }, { ErrorCode::Conflict, false },
        { ErrorCode::PayloadTooLarge, false }, { ErrorCode::HttpError, false },
        { ErrorCode::Protocol, false }, { ErrorCode::Cache, false }, { ErrorCode::Closed, false },
        { ErrorCode::Internal, false } };
    for (const auto& [code, recoverable] : table) {
        Error e { code, "m", 0, -1 };
        QCOMPARE(e.isRecoverable(), recoverable);
        QVERIFY(!errorCodeName(code).empty());
    }
    Result<int> ok(5);
    QVERIFY(ok.has_value());
    QVERIFY(bool(ok));
    QCOMPARE(ok.value(), 5);
    QCOMPARE(ok.value_or(7), 5);
    Result<int> bad(Error { ErrorCode::NotFound, "nope", 404, -1 });
    QVERIFY(!bad);
    QCOMPARE(bad.error().httpStatus, 404);
    QCOMPARE(bad.value_or(7), 7);
    Result<void> v;
    QVERIFY(v);
    Result<void> verr(Error { ErrorCode::Closed, "x", 0, -1 });
    QVERIFY(!verr);
    QCOMPARE(verr.error().code, ErrorCode::Closed);
}

void TstClientApi::parseCommentIdRejectsJunk_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<quint64>("expected");
    QTest::newRow("ok") << "73839302734299136" << quint64(73839302734299136ULL);
    QTest::newRow("max") << "18446744073709551615" << quint64(18446744073709551615ULL);
    QTest::newRow("overflow") << "18446744073709551616" << quint64(0);
    QTest::newRow("zero") << "0" << quint64(0);
    QTest::newRow("empty") << "" << quint64(0);
    QTest::newRow("negative") << "-1" << quint64(0);
    QTest::newRow("space") << " 1" << quint64(0);
    QTest::newRow("hex") << "0x10" << quint64(0);
}

void TstClientApi::parseCommentIdRejectsJunk()
{
    QFETCH(QString, text);
    QFETCH(quint64, expected);
    const auto id = parseCommentId(text.toStdString());
    QCOMPARE(id.value_or(0), expected);
}

void TstClientApi::createRejectsBadConfig_data()
{
    QTest::addColumn<QString>("url");
    QTest::newRow("empty") << "";
    QTest::newRow("no scheme") << "127.0.0.1:8080";
    QTest::newRow("ftp") << "ftp://example.com";
    QTest::newRow("scheme only") << "http://";
    QTest::newRow("whitespace") << "http://a b";
    QTest::newRow("newline injection") << "http://host\r\nX: y";
}

void TstClientApi::createRejectsBadConfig()
{
    QFETCH(QString, url);
    ClientConfig cfg;
    cfg.baseUrl = url.toStdString();
    auto client = Client::create(cfg);
    QVERIFY(!client);
    QCOMPARE(client.error().code, ErrorCode::InvalidArgument);
    QVERIFY(!client.error().message.empty());
}

void TstClientApi::rejectsBadVideoIds()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    for (VideoId bad : { 0, -1, std::numeric_limits<VideoId>::min() }) {
        auto sub = (*client)->subscribe(bad, {});
        QVERIFY(!sub);
        QCOMPARE(sub.error().code, ErrorCode::InvalidArgument);
        auto tl = (*client)->openTimeline(bad, {});
        QVERIFY(!tl);
        QCOMPARE(tl.error().code, ErrorCode::InvalidArgument);
        auto post = (*client)->post(bad, "hi");
        QVERIFY(!post);
        QCOMPARE(post.error().code, ErrorCode::InvalidArgument);
    }
    TimelineOptions opts;
    opts.pageSize = 0;
    QVERIFY(!(*client)->openTimeline(1, {}, opts));
    opts.pageSize = 201;
    QVERIFY(!(*client)->openTimeline(1, {}, opts));
    std::optional<Result<Video>> video;
    (*client)->fetchVideo(-3, [&](Result<Video> r) { video = std::move(r); });
    QTRY_VERIFY(video.has_value());
    QCOMPARE(video->error().code, ErrorCode::InvalidArgument);
}

void TstClientApi::rejectsBadPosts()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    const std::string tenMegabytes(10 * 1024 * 1024, 'a');
    const std::pair<std::string, const char*> cases[] = { { "", "empty" }, { "   \n\t ", "blank" },
        { tenMegabytes, "10 MB" }, { std::string("\xff\xfe"), "invalid UTF-8" },
        { std::string("a\xed\xa0\x80"), "UTF-8 surrogate" } };
    for (const auto& [text, what] : cases) {
        auto r = (*client)->post(1, text);
        QVERIFY2(!r, what);
        QCOMPARE(r.error().code, ErrorCode::InvalidArgument);
    }
    QVERIFY((*client)->pendingPosts().empty());
    // A valid one is accepted at once (and stays pending: nothing listens).
    auto ok = (*client)->post(1, "fine \xf0\x9f\x98\x80");
    QVERIFY(ok);
    QCOMPARE(ok->size(), std::size_t(32));
    QCOMPARE((*client)->pendingPosts().size(), std::size_t(1));
    // Keys are random 128-bit values: no repeats.
    std::set<std::string> keys { *ok };
    for (int i = 0; i < 200; ++i)
        QVERIFY(keys.insert(*(*client)->post(1, "again")).second);
    (*client)->cancelPost("no-such-key"); // harmless
}

void TstClientApi::rejectsBadEventSources()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    auto expectInvalid = [&](EventSourceRequest r, const char* what) {
        auto es = (*client)->openEventSource(std::move(r), {});
        QVERIFY2(!es, what);
        QCOMPARE(es.error().code, ErrorCode::InvalidArgument);
    };
    EventSourceRequest r;
    expectInvalid(r, "empty URL");
    r.url = "not a url";
    expectInvalid(r, "junk URL");
    r.url = "http://127.0.0.1:1/x";
    r.headers = { { "X-Evil", "a\r\nInjected: 1" } };
    expectInvalid(r, "CRLF in header value");
    r.headers = { { "Bad Name", "v" } };
    expectInvalid(r, "space in header name");
    r.headers = { { "", "v" } };
    expectInvalid(r, "empty header name");
    r.headers.clear();
    r.method = "DELETE";
    expectInvalid(r, "method");
    r.method = "GET";
    r.lastEventId = std::string("a\nb");
    expectInvalid(r, "newline in last event id");
}

void TstClientApi::rejectsBadHistoryQueries()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    std::vector<Error> errors;
    auto collect = [&](Result<HistoryPage> r) {
        QVERIFY(!r);
        errors.push_back(r.error());
    };
    HistoryQuery both;
    both.before = "5";
    both.after = "3";
    (*client)->fetchHistory(1, both, collect);
    HistoryQuery junk;
    junk.before = "12abc";
    (*client)->fetchHistory(1, junk, collect);
    HistoryQuery limit;
    limit.limit = 0;
    (*client)->fetchHistory(1, limit, collect);
    limit.limit = 100000;
    (*client)->fetchHistory(1, limit, collect);
    (*client)->fetchHistory(0, {}, collect);
    QTRY_COMPARE(errors.size(), std::size_t(5));
    for (const auto& e : errors)
        QCOMPARE(e.code, ErrorCode::InvalidArgument);
    // A valid query against a dead server fails as a recoverable network error.
    std::optional<Error> net;
    (*client)->fetchHistory(1, {}, [&](Result<HistoryPage> r) {
        QVERIFY(!r);
        net = r.error();
    });
    QTRY_VERIFY(net.has_value());
    QCOMPARE(net->code, ErrorCode::Network);
    QVERIFY(net->isRecoverable());
}

void TstClientApi::callsAfterClose()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    (*client)->close();
    (*client)->close(); // idempotent
    auto sub = (*client)->subscribe(1, {});
    QVERIFY(!sub);
    QCOMPARE(sub.error().code, ErrorCode::Closed);
    QCOMPARE((*client)->post(1, "x").error().code, ErrorCode::Closed);
    QCOMPARE((*client)->openTimeline(1, {}).error().code, ErrorCode::Closed);
    EventSourceRequest r;
    r.url = "http://127.0.0.1:1/";
    QCOMPARE((*client)->openEventSource(r, {}).error().code, ErrorCode::Closed);
    bool called = false;
    (*client)->fetchHistory(1, {}, [&](Result<HistoryPage>) { called = true; });
    (*client)->fetchVideo(1, [&](Result<Video>) { called = true; });
    (*client)->createVideo("t", [&](Result<Video>) { called = true; });
    (*client)->cancelPost("x");
    QTest::qWait(100); // give a (wrong) late callback a chance to show up
    QVERIFY(!called);
}

void TstClientApi::handlesOutliveClient()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    auto sub = (*client)->subscribe(1, {});
    QVERIFY(sub);
    auto tl = (*client)->openTimeline(1, {});
    QVERIFY(tl);
    EventSourceRequest r;
    r.url = deadServer().toString().toStdString() + "/x";
    auto es = (*client)->openEventSource(r, {});
    QVERIFY(es);
    QTRY_VERIFY((*sub)->connectionAttempts() >= 1);
    client = Error {}; // destroys the Client
    QCOMPARE((*sub)->status().state, StreamState::Closed);
    QCOMPARE((*es)->status().state, StreamState::Closed);
    (*sub)->close();
    (*tl)->loadOlder();
    (*tl)->setReaderPosition(0);
    (*tl)->close();
    QCOMPARE((*tl)->size(), std::size_t(0));
    (*es)->close();
}

void TstClientApi::connectionRefusedIsRecoverable()
{
    auto client = Client::create(sdktest::testConfig(deadServer()));
    QVERIFY(client);
    std::vector<StreamStatus> states;
    SubscriptionCallbacks cbs;
    cbs.onStatus = [&](const StreamStatus& s) { states.push_back(s); };
    auto sub = (*client)->subscribe(7, cbs);
    QVERIFY(sub);
    QTRY_VERIFY(states.size() >= 4);
    QCOMPARE(states[0].state, StreamState::Connecting);
    for (std::size_t i = 1; i < states.size(); ++i) {
        QCOMPARE(states[i].state, StreamState::Reconnecting);
        QCOMPARE(states[i].attempt, int(i));
        QVERIFY(states[i].error.has_value());
        QCOMPARE(states[i].error->code, ErrorCode::Network);
        QVERIFY(states[i].delay.count() >= 20);
        QVERIFY(states[i].delay.count() <= 800);
    }
}

void TstClientApi::manyThreads()
{
    // No executor: callbacks arrive on the I/O thread while 8 threads hammer the API.
    auto cfg = sdktest::testConfig(deadServer());
    cfg.executor = nullptr;
    std::atomic<int> updates { 0 };
    cfg.onOutbox = [&](const OutboxEntry&) { ++updates; };
    auto client = Client::create(cfg);
    QVERIFY(client);
    Client& c = **client;
    std::atomic<int> accepted { 0 };
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 40; ++i) {
                if (c.post(1 + t, "thread " + std::to_string(t) + " #" + std::to_string(i)))
                    ++accepted;
                auto sub = c.subscribe(1 + i, {});
                SubscriptionCallbacks cbs;
                cbs.onStatus = [](const StreamStatus&) {};
                auto sub2 = c.subscribe(2, cbs);
                auto tl = c.openTimeline(3, {});
                if (tl) {
                    (*tl)->setReaderPosition(static_cast<std::size_t>(i));
                    (*tl)->loadOlder();
                }
                c.fetchHistory(4, {}, [](Result<HistoryPage>) {});
                (void)c.pendingPosts();
                (void)c.requestCount();
                if (i % 10 == 0)
                    c.cancelPost("nothing");
            }
        });
    }
    for (auto& th : threads)
        th.join();
    QCOMPARE(accepted.load(), 8 * 40);
    QTRY_VERIFY(updates.load() >= 8 * 40);
    QCOMPARE(c.pendingPosts().size(), std::size_t(8 * 40));
    client = Error {}; // shutdown while requests are in flight
}

void TstClientApi::destroyFromInsideCallback()
{
    // ~Client() called on the I/O thread itself (no executor): must neither deadlock nor crash.
    auto cfg = sdktest::testConfig(deadServer());
    cfg.executor = nullptr;
    auto holder = std::make_shared<std::unique_ptr<Client>>();
    std::atomic<bool> destroyed { false };
    cfg.onOutbox = [holder, &destroyed](const OutboxEntry& e) {
        if (e.error && *holder) {
            holder->reset();
            destroyed = true;
        }
    };
    auto client = Client::create(cfg);
    QVERIFY(client);
    *holder = std::move(*client);
    QVERIFY((*holder)->post(1, "boom"));
    QTRY_VERIFY(destroyed.load());
}

void TstClientApi::noCallbackAfterDestructor()
{
    for (int round = 0; round < 20; ++round) {
        auto cfg = sdktest::testConfig(deadServer());
        cfg.executor = nullptr; // the hardest case: callbacks on the I/O thread
        auto afterDestructor = std::make_shared<std::atomic<bool>>(false);
        auto late = std::make_shared<std::atomic<int>>(0);
        auto check = [afterDestructor, late] {
            if (afterDestructor->load())
                ++*late;
        };
        cfg.onOutbox = [check](const OutboxEntry&) { check(); };
        auto client = Client::create(cfg);
        QVERIFY(client);
        SubscriptionCallbacks cbs;
        cbs.onStatus = [check](const StreamStatus&) { check(); };
        auto sub = (*client)->subscribe(1, cbs);
        QVERIFY(sub);
        for (int i = 0; i < 20; ++i)
            (void)(*client)->post(1, "x");
        (*client)->fetchHistory(1, {}, [check](Result<HistoryPage>) { check(); });
        if (round % 2)
            QTest::qWait(round * 5);
        client = Error {};
        afterDestructor->store(true);
        QTest::qWait(20);
        QCOMPARE(late->load(), 0);
    }
}

QTEST_GUILESS_MAIN(TstClientApi)
#include "tst_client_api.moc"
