// SPDX-License-Identifier: MIT
// Unit tests of the fan-out engine against real sockets (socketpair and loopback TCP): no mock of
// the engine, every check reads the bytes a client would receive.
#include "fanout_engine.h"

#include <QtTest>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace livecomments::server::fanout;
using namespace std::chrono_literals;

namespace {

/// The client end of one stream: reads whatever is available without blocking.
struct Peer {
    int fd = -1;
    std::string got;
    bool eof = false;

    Peer() = default;
    explicit Peer(int f)
        : fd(f)
    { }
    Peer(Peer&& o) noexcept
        : fd(std::exchange(o.fd, -1))
        , got(std::move(o.got))
        , eof(o.eof)
    { }
    Peer& operator=(Peer&&) = delete;
    ~Peer()
    {
        if (fd >= 0)
            ::close(fd);
    }

    /// Reads everything available now; returns true so it can sit in a QTRY condition.
    bool pump()
    {
        char buf[65536];
        while (fd >= 0 && !eof) {
            const ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0)
                got.append(buf, static_cast<std::size_t>(r));
            else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                eof = true;
            else
                break;
        }
        return true;
    }

    /// Reads until EOF or `ms` pass, waiting in poll() between reads: a QTRY's 50 ms naps would
    /// let a small socket buffer throttle the writer to a few KB per nap.
    bool drainToEof(int ms)
    {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!eof && std::chrono::steady_clock::now() < deadline) {
            pollfd p { fd, POLLIN, 0 };
            ::poll(&p, 1, 100);
            pump();
        }
        return eof;
    }
};

/// A socketpair: first = the engine's end, second = the client's end.
std::pair<int, Peer> makePair(int bufferBytes = 0)
{
    int sv[2] = { -1, -1 };
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        qFatal("socketpair failed");
    if (bufferBytes > 0) {
        ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufferBytes, sizeof bufferBytes);
        ::setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufferBytes, sizeof bufferBytes);
    }
    return { sv[0], Peer(sv[1]) };
}

/// A loopback TCP listener to make real TCP connections (server end goes to the engine).
class TcpListener {
public:
    TcpListener()
    {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a {};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0
            || ::listen(m_fd, 1024) != 0
            || ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            qFatal("listen failed");
        m_addr = a;
    }
    ~TcpListener() { ::close(m_fd); }

    std::pair<int, Peer> connectPair()
    {
        const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (::connect(client, reinterpret_cast<const sockaddr*>(&m_addr), sizeof m_addr) != 0)
            qFatal("connect failed");
        const int server = ::accept4(m_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (server < 0)
            qFatal("accept failed");
        return { server, Peer(client) };
    }

private:
    int m_fd = -1;
    sockaddr_in m_addr {};
};

std::string commentFrame(std::uint64_t id, const std::string& body = {})
{
    return "id: " + std::to_string(id) + "\nevent: comment\ndata: {\"id\":\"" + std::to_string(id)
        + "\",\"text\":\"" + body + "\"}\n\n";
}

std::string sid(int i)
{
    return "s-test-" + std::to_string(i);
}

/// Opens a stream for `id` on a fresh socketpair and, unless `held`, resumes it with no replay.
/// Returns the client end; its fd is -1 when open() refused.
Peer openStream(Engine& engine, const std::string& id, std::uint32_t video,
    const std::string& preamble, bool held = false)
{
    auto [fd, peer] = makePair();
    if (!engine.open(fd, { id, video, {} }, preamble))
        return Peer();
    if (!held)
        engine.resume(id, {});
    return std::move(peer);
}

constexpr std::size_t kDefaultCap = 1u << 20;

EngineOptions engineOptions(unsigned loops, std::size_t queueCapBytes = kDefaultCap,
    int heartbeatMs = 15000, int statsMs = 5000)
{
    EngineOptions options;
    options.loops = loops;
    options.queueCapBytes = queueCapBytes;
    options.heartbeatMs = heartbeatMs;
    options.statsMs = statsMs;
    return options;
}

} // namespace

class TstFanoutEngine : public QObject {
    Q_OBJECT

private slots:
    void deliversToEverySubscriberOfTheVideoOnly();
    void concurrentPublishersKeepPerPublisherOrder();
    void heldSubscriberResumesWithoutGapOrDuplicate();
    void partialWritesKeepEveryByteInOrder();
    void slowReaderIsClosedWhileOthersKeepReceiving();
    void heartbeatOnIdleStreamOnly();
    void peerCloseIsDetected();
    void churnReusesSlotsWithoutCrossTalk();
    void closeFlushesThenCloses();
    void shutdownAppendsFinalBytesAndClosesAll();
    void shutdownSpreadsFinalVariantsOverStreams();
    void videoActiveFiresOnFirstAndLast();
    void statsTickRuns();
    void statsAreSpreadOverTheInterval();
    void shapingSamplesButKeepsOwnAndPrivileged();
    void shapingOffDeliversEverything();
    void hotStreamIsWrittenPerTick();
    void findAndDuplicateIds();
};

void TstFanoutEngine::deliversToEverySubscriberOfTheVideoOnly()
{
    Engine engine(engineOptions(2));
    engine.start();
    TcpListener listener;

    std::vector<Peer> one, two;
    for (int i = 0; i < 60; ++i) {
        auto [fd, peer] = listener.connectPair();
        const std::uint32_t video = i < 40 ? 1 : 2;
        QVERIFY(engine.open(fd, { sid(i), video, {} }, "pre-" + std::to_string(i) + "\n\n"));
        engine.resume(sid(i), {});
        (video == 1 ? one : two).push_back(std::move(peer));
    }
    QCOMPARE(engine.viewers(1), std::size_t(40));
    QCOMPARE(engine.viewers(2), std::size_t(20));
    QCOMPARE(engine.viewers(3), std::size_t(0));

    std::string expected;
    for (std::uint64_t id = 1; id <= 300; ++id) {
        auto frame = makeFrame(id, commentFrame(id, "hello"));
        expected += frame->bytes;
        engine.publish(1, std::move(frame));
    }
    // A frame for video 2 published last: if anything of video 1 had leaked to video 2, it
    // would show up before it.
    const auto marker = makeFrame(999, commentFrame(999, "video two"));
    engine.publish(2, marker);

    for (int i = 0; i < 40; ++i) {
        Peer& p = one[static_cast<std::size_t>(i)];
        const std::string want = "pre-" + std::to_string(i) + "\n\n" + expected;
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.got.size() >= want.size()), 10000);
        QCOMPARE(p.got, want);
    }
    for (int i = 0; i < 20; ++i) {
        Peer& p = two[static_cast<std::size_t>(i)];
        const std::string want = "pre-" + std::to_string(i + 40) + "\n\n" + marker->bytes;
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.got.size() >= want.size()), 10000);
        QCOMPARE(p.got, want);
    }
    const auto s = engine.stats();
    QCOMPARE(s.framesPublished, std::uint64_t(301));
    QCOMPARE(s.deliveries, std::uint64_t(40 * 300 + 20));
    QCOMPARE(s.openStreams, std::uint64_t(60));
    QCOMPARE(s.slowDisconnects, std::uint64_t(0));
}

void TstFanoutEngine::concurrentPublishersKeepPerPublisherOrder()
{
    Engine engine(engineOptions(2));
    engine.start();

    std::vector<Peer> peers;
    for (int i = 0; i < 8; ++i) {
        peers.push_back(openStream(engine, sid(i), 5, {}));
        QVERIFY(peers.back().fd >= 0);
    }
    constexpr int kThreads = 4;
    constexpr int kPerThread = 400;
    std::vector<std::thread> publishers;
    for (int t = 0; t < kThreads; ++t) {
        publishers.emplace_back([&engine, t] {
            for (int n = 0; n < kPerThread; ++n)
                engine.publish(
                    5, makeFrame(0, "T" + std::to_string(t) + ":" + std::to_string(n) + "\n"));
        });
    }
    for (auto& th : publishers)
        th.join();

    std::size_t total = 0;
    for (int t = 0; t < kThreads; ++t)
        for (int n = 0; n < kPerThread; ++n)
            total += ("T" + std::to_string(t) + ":" + std::to_string(n) + "\n").size();
    for (auto& p : peers) {
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.got.size() >= total), 10000);
        QCOMPARE(p.got.size(), total);
        // Every line exactly once, and each publisher's lines in its order.
        std::vector<int> next(kThreads, 0);
        const auto lines = QString::fromStdString(p.got).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), kThreads * kPerThread);
        for (const auto& line : lines) {
            const auto parts = line.mid(1).split(':');
            const int t = parts.at(0).toInt();
            QCOMPARE(parts.at(1).toInt(), next[static_cast<std::size_t>(t)]);
            ++next[static_cast<std::size_t>(t)];
        }
    }
}

void TstFanoutEngine::heldSubscriberResumesWithoutGapOrDuplicate()
{
    Engine engine(engineOptions(1)); // the live witness and the held stream share a loop
    engine.start();

    auto [liveFd, live] = makePair();
    QVERIFY(engine.open(liveFd, { "live", 9, {} }, {}));
    engine.resume("live", {});
    auto [heldFd, held] = makePair();
    const std::string preamble = "HTTP/1.1 200 OK\r\n\r\nretry: 2000\n\nevent: hello\ndata: {}\n\n";
    QVERIFY(engine.open(heldFd, { "held", 9, "7" }, preamble));

    // Published while held: ids 5..10 and one frame without id (e.g. stats).
    const auto stats = makeFrame(0, "event: stats\ndata: {\"viewers\":2}\n\n");
    std::string publishedBytes;
    for (std::uint64_t id = 5; id <= 10; ++id) {
        auto f = makeFrame(id, commentFrame(id));
        publishedBytes += f->bytes;
        engine.publish(9, std::move(f));
        if (id == 6) {
            engine.publish(9, stats);
            publishedBytes += stats->bytes;
        }
    }
    // Once the live stream has everything, the loop has queued it for the held one too.
    QTRY_VERIFY_WITH_TIMEOUT((live.pump(), live.got.size() >= publishedBytes.size()), 5000);
    QCOMPARE(live.got, publishedBytes);
    held.pump();
    QCOMPARE(held.got, preamble); // the preamble is written; nothing else while held

    // The store replays 1..7 (overlapping 5..7 that were also published while held).
    std::vector<FramePtr> replay;
    std::string expected = preamble;
    for (std::uint64_t id = 1; id <= 7; ++id) {
        replay.push_back(makeFrame(id, commentFrame(id)));
        expected += replay.back()->bytes;
    }
    expected += stats->bytes; // id-less frames are never dropped
    for (std::uint64_t id = 8; id <= 10; ++id)
        expected += commentFrame(id);
    engine.resume("held", std::move(replay));

    const auto after = makeFrame(11, commentFrame(11));
    engine.publish(9, after);
    expected += after->bytes;
    QTRY_VERIFY_WITH_TIMEOUT((held.pump(), held.got.size() >= expected.size()), 5000);
    QCOMPARE(held.got, expected);
}

void TstFanoutEngine::partialWritesKeepEveryByteInOrder()
{
    Engine engine(engineOptions(1, 16u << 20));
    engine.start();

    auto [fd, peer] = makePair(4096); // tiny buffers: the engine must write in pieces
    QVERIFY(engine.open(fd, { "slowpiece", 1, {} }, "pre\n\n"));
    engine.resume("slowpiece", {});

    std::string expected = "pre\n\n";
    std::vector<FramePtr> frames;
    for (std::uint64_t id = 1; id <= 400; ++id) {
        std::string body(1000 + id * 7 % 3000, static_cast<char>('a' + id % 26));
        frames.push_back(makeFrame(id, commentFrame(id, body)));
        expected += frames.back()->bytes;
    }
    for (auto& f : frames)
        engine.publish(1, f);

    // A reader that takes 97 bytes at a time, far less than the engine queues.
    std::string got;
    bool eofEarly = false;
    const int rfd = peer.fd; // a structured binding cannot be captured before C++20
    std::thread reader([&] {
        while (got.size() < expected.size()) {
            pollfd p { rfd, POLLIN, 0 };
            if (::poll(&p, 1, 10000) <= 0)
                return;
            char buf[97];
            const ssize_t r = ::recv(rfd, buf, sizeof buf, 0);
            if (r <= 0) {
                eofEarly = true;
                return;
            }
            got.append(buf, static_cast<std::size_t>(r));
        }
    });
    reader.join();
    QVERIFY(!eofEarly);
    QCOMPARE(got.size(), expected.size());
    QVERIFY(got == expected);
    QCOMPARE(engine.stats().slowDisconnects, std::uint64_t(0));
    QCOMPARE(engine.stats().bytesWritten, std::uint64_t(expected.size()));
}

void TstFanoutEngine::slowReaderIsClosedWhileOthersKeepReceiving()
{
    Engine engine(engineOptions(1, 64 * 1024));
    engine.start();

    auto [fastFd, fast] = makePair(8192);
    auto [slowFd, slow] = makePair(8192);
    QVERIFY(engine.open(fastFd, { "fast", 1, {} }, {}));
    QVERIFY(engine.open(slowFd, { "slow", 1, {} }, {}));
    engine.resume("fast", {});
    engine.resume("slow", {});

    std::string expected;
    std::uint64_t id = 0;
    // Publish in rounds of 16 KiB and let the fast reader catch up after each round; the slow
    // one never reads, so its backlog passes the 64 KiB cap after a few rounds.
    for (int round = 0; round < 20; ++round) {
        for (int k = 0; k < 16; ++k) {
            ++id;
            auto f = makeFrame(id, commentFrame(id, std::string(900, 'x')));
            expected += f->bytes;
            engine.publish(1, std::move(f));
        }
        QTRY_VERIFY_WITH_TIMEOUT((fast.pump(), fast.got.size() >= expected.size()), 5000);
    }
    QCOMPARE(fast.got, expected);
    QTRY_COMPARE_WITH_TIMEOUT(engine.stats().slowDisconnects, std::uint64_t(1), 5000);
    QCOMPARE(engine.viewers(1), std::size_t(1));
    QVERIFY(!engine.find("slow"));
    QVERIFY(engine.find("fast"));
    // The slow client sees a clean prefix of the stream, then EOF.
    QTRY_VERIFY_WITH_TIMEOUT((slow.pump(), slow.eof), 5000);
    QVERIFY(slow.got.size() < expected.size());
    QCOMPARE(slow.got, expected.substr(0, slow.got.size()));

    // The fast one still receives.
    ++id;
    const auto more = makeFrame(id, commentFrame(id));
    engine.publish(1, more);
    expected += more->bytes;
    QTRY_VERIFY_WITH_TIMEOUT((fast.pump(), fast.got.size() >= expected.size()), 5000);
    QCOMPARE(fast.got, expected);
    QCOMPARE(engine.stats().clientDisconnects, std::uint64_t(0));
}

void TstFanoutEngine::heartbeatOnIdleStreamOnly()
{
    Engine engine(engineOptions(1, kDefaultCap, 40));
    engine.start();

    auto [idleFd, idle] = makePair();
    auto [heldFd, held] = makePair();
    QVERIFY(engine.open(idleFd, { "idle", 1, {} }, "pre\n\n"));
    engine.resume("idle", {});
    QVERIFY(engine.open(heldFd, { "held", 1, {} }, "pre\n\n"));

    QTRY_VERIFY_WITH_TIMEOUT(
        (idle.pump(), idle.got.size() >= std::string("pre\n\n: hb\n\n: hb\n\n").size()), 5000);
    QCOMPARE(idle.got.substr(0, 17), std::string("pre\n\n: hb\n\n: hb\n\n"));
    QVERIFY(engine.stats().heartbeats >= 2);
    held.pump();
    QCOMPARE(held.got, std::string("pre\n\n")); // a held stream gets no heartbeat

    // A frame resets the idle timer: the next thing after it is again a heartbeat, never a
    // duplicate of the frame.
    idle.got.clear();
    const auto f = makeFrame(1, commentFrame(1));
    engine.publish(1, f);
    QTRY_VERIFY_WITH_TIMEOUT(
        (idle.pump(), idle.got.find(f->bytes + ": hb\n\n") != std::string::npos), 5000);
}

void TstFanoutEngine::peerCloseIsDetected()
{
    Engine engine(engineOptions(2));
    engine.start();
    TcpListener listener;

    auto [fdA, a] = listener.connectPair();
    auto [fdB, b] = makePair();
    QVERIFY(engine.open(fdA, { "a", 7, "u1" }, "pre\n\n"));
    QVERIFY(engine.open(fdB, { "b", 7, {} }, "pre\n\n"));
    engine.resume("a", {});
    QCOMPARE(engine.viewers(7), std::size_t(2));
    QCOMPARE(engine.stats().openStreams, std::uint64_t(2));
    QTRY_VERIFY_WITH_TIMEOUT((a.pump(), a.got == "pre\n\n"), 5000);

    ::close(a.fd); // TCP peer goes away while live
    a.fd = -1;
    QTRY_COMPARE_WITH_TIMEOUT(engine.viewers(7), std::size_t(1), 5000);
    QVERIFY(!engine.find("a"));
    ::close(b.fd); // a held one too
    b.fd = -1;
    QTRY_COMPARE_WITH_TIMEOUT(engine.viewers(7), std::size_t(0), 5000);
    QCOMPARE(engine.stats().clientDisconnects, std::uint64_t(2));
    QTRY_COMPARE_WITH_TIMEOUT(engine.stats().openStreams, std::uint64_t(0), 5000);
    engine.publish(7, makeFrame(1, commentFrame(1))); // nobody left: must not crash or count
    QCOMPARE(engine.stats().slowDisconnects, std::uint64_t(0));
}

void TstFanoutEngine::churnReusesSlotsWithoutCrossTalk()
{
    Engine engine(engineOptions(2));
    engine.start();

    // 40 streams on video 1 (spread over both loops); every third one leaves, which removes
    // entries from the middle of each loop's per-video list and frees slots.
    std::vector<Peer> first;
    for (int i = 0; i < 40; ++i) {
        first.push_back(openStream(engine, sid(i), 1, "one\n\n"));
        QVERIFY(first.back().fd >= 0);
    }
    for (int i = 0; i < 40; i += 3) {
        ::close(first[static_cast<std::size_t>(i)].fd);
        first[static_cast<std::size_t>(i)].fd = -1;
    }
    QTRY_COMPARE_WITH_TIMEOUT(engine.viewers(1), std::size_t(26), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(engine.stats().openStreams, std::uint64_t(26), 5000);

    // 20 new streams on video 2 take the 14 freed slots and some new ones.
    std::vector<Peer> second;
    for (int i = 100; i < 120; ++i) {
        second.push_back(openStream(engine, sid(i), 2, "two\n\n"));
        QVERIFY(second.back().fd >= 0);
    }
    const auto x = makeFrame(1, commentFrame(1, "for video one"));
    const auto y = makeFrame(2, commentFrame(2, "for video two"));
    engine.publish(1, x);
    engine.publish(2, y);

    for (int i = 0; i < 40; ++i) {
        if (i % 3 == 0)
            continue;
        Peer& p = first[static_cast<std::size_t>(i)];
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.got.size() >= 5 + x->bytes.size()), 5000);
        QCOMPARE(p.got, "one\n\n" + x->bytes);
    }
    for (auto& p : second) {
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.got.size() >= 5 + y->bytes.size()), 5000);
        QCOMPARE(p.got, "two\n\n" + y->bytes);
    }
    QCOMPARE(engine.viewers(1), std::size_t(26));
    QCOMPARE(engine.viewers(2), std::size_t(20));
    QCOMPARE(engine.stats().clientDisconnects, std::uint64_t(14));
    QCOMPARE(engine.stats().deliveries, std::uint64_t(46));
}

void TstFanoutEngine::closeFlushesThenCloses()
{
    Engine engine(engineOptions(1, 16u << 20));
    engine.start();

    auto [fd, peer] = makePair(4096);
    QVERIFY(engine.open(fd, { "c", 3, {} }, "pre\n\n"));
    engine.resume("c", {});
    std::string expected = "pre\n\n";
    for (std::uint64_t id = 1; id <= 50; ++id) {
        auto f = makeFrame(id, commentFrame(id, std::string(10000, 'z')));
        expected += f->bytes;
        engine.publish(3, std::move(f));
    }
    QVERIFY(engine.close("c")); // 500 KB are still queued: they must all arrive before EOF
    QVERIFY(!engine.close("c"));
    QVERIFY(!engine.find("c"));
    QCOMPARE(engine.viewers(3), std::size_t(0));

    // The close flushes for at most 5 s: read as a live client would, not in QTRY naps.
    QVERIFY(peer.drainToEof(10000));
    QCOMPARE(peer.got.size(), expected.size());
    QVERIFY(peer.got == expected);
    QCOMPARE(engine.stats().clientDisconnects, std::uint64_t(0));
    QCOMPARE(engine.stats().slowDisconnects, std::uint64_t(0));
    QTRY_COMPARE_WITH_TIMEOUT(engine.stats().openStreams, std::uint64_t(0), 5000);
}

void TstFanoutEngine::shutdownAppendsFinalBytesAndClosesAll()
{
    Engine engine(engineOptions(2));
    engine.start();

    std::vector<Peer> peers;
    for (int i = 0; i < 6; ++i) {
        // The last one stays held: it still gets the final bytes.
        peers.push_back(openStream(engine, sid(i), 4, "pre\n\n", i == 5));
        QVERIFY(peers.back().fd >= 0);
    }
    const auto f = makeFrame(1, commentFrame(1));
    engine.publish(4, f);
    const std::string finalBytes = "retry: 9000\n\n";
    engine.shutdown(finalBytes, 2000ms);

    for (auto& p : peers) {
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.eof), 5000);
        QCOMPARE(p.got, "pre\n\n" + f->bytes + finalBytes);
    }
    QCOMPARE(engine.viewers(4), std::size_t(0));
    QCOMPARE(engine.stats().openStreams, std::uint64_t(0));

    auto [lateFd, late] = makePair();
    QVERIFY(!engine.open(lateFd, { "late", 4, {} }, "pre\n\n"));
    QTRY_VERIFY_WITH_TIMEOUT((late.pump(), late.eof), 5000); // the engine closed its end
    QCOMPARE(late.got, std::string());
    engine.shutdown(std::string(), 0ms); // idempotent
    const auto published = engine.stats().framesPublished;
    engine.publish(4, f); // after shutdown: dropped, not queued in a stopped loop
    QCOMPARE(engine.stats().framesPublished, published);
}

void TstFanoutEngine::shutdownSpreadsFinalVariantsOverStreams()
{
    Engine engine(engineOptions(1));
    engine.start();

    std::vector<Peer> peers;
    for (int i = 0; i < 8; ++i) {
        peers.push_back(openStream(engine, sid(i), 4, "pre\n\n", false));
        QVERIFY(peers.back().fd >= 0);
    }
    const std::vector<std::string> variants { "retry: 1000\n\n", "retry: 3000\n\n" };
    engine.shutdown(variants, 2000ms);

    std::set<std::string> seen;
    for (auto& p : peers) {
        QTRY_VERIFY_WITH_TIMEOUT((p.pump(), p.eof), 5000);
        const std::string tail = p.got.substr(std::string("pre\n\n").size());
        QVERIFY2(tail == variants[0] || tail == variants[1], tail.c_str());
        seen.insert(tail);
    }
    // Every stream got exactly one variant, and the streams did not all get the same one.
    QCOMPARE(seen.size(), std::size_t(2));
}

void TstFanoutEngine::videoActiveFiresOnFirstAndLast()
{
    Engine engine(engineOptions(2)); // a and b land on different loops
    std::mutex mutex;
    std::vector<std::pair<std::uint32_t, bool>> events;
    engine.onVideoActive = [&](std::uint32_t video, bool has) {
        std::lock_guard<std::mutex> lock(mutex);
        events.emplace_back(video, has);
    };
    auto snapshot = [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return events;
    };
    using Events = std::vector<std::pair<std::uint32_t, bool>>;
    engine.start();

    auto [fdA, a] = makePair();
    QVERIFY(engine.open(fdA, { "a", 3, {} }, "pre\n\n"));
    QTRY_COMPARE_WITH_TIMEOUT(snapshot(), (Events { { 3, true } }), 5000);
    auto [fdB, b] = makePair();
    QVERIFY(engine.open(fdB, { "b", 3, {} }, "pre\n\n"));
    QTRY_VERIFY_WITH_TIMEOUT((b.pump(), b.got == "pre\n\n"), 5000); // b's loop handled its open
    QCOMPARE(engine.viewers(3), std::size_t(2));

    QVERIFY(engine.close("a")); // one left: no event
    QTRY_VERIFY_WITH_TIMEOUT((a.pump(), a.eof), 5000);
    QCOMPARE(snapshot(), (Events { { 3, true } }));

    ::close(b.fd); // the last one leaves
    b.fd = -1;
    QTRY_COMPARE_WITH_TIMEOUT(snapshot(), (Events { { 3, true }, { 3, false } }), 5000);
    QCOMPARE(engine.viewers(3), std::size_t(0));
}

void TstFanoutEngine::statsTickRuns()
{
    Engine engine(engineOptions(2, kDefaultCap, 15000, 20));
    std::atomic<int> ticks { 0 };
    engine.onStatsTick = [&] {
        // The server publishes `stats` from here: calling back into the engine must be fine.
        engine.publish(1,
            makeFrame(0,
                "event: stats\ndata: {\"viewers\":" + std::to_string(engine.viewers(1)) + "}\n\n"));
        ++ticks;
    };
    engine.start();
    Peer peer = openStream(engine, "watcher", 1, {});
    QVERIFY(peer.fd >= 0);
    // The ticks' frames reach a viewer of the video, each one once and whole.
    const std::string frame = "event: stats\ndata: {\"viewers\":1}\n\n";
    auto count = [&] {
        std::size_t n = 0;
        for (auto pos = peer.got.find(frame); pos != std::string::npos;
             pos = peer.got.find(frame, pos + frame.size()))
            ++n;
        return n;
    };
    QTRY_VERIFY_WITH_TIMEOUT((peer.pump(), count() >= 3), 5000);
    QCOMPARE(peer.got.size() % frame.size(), std::size_t(0));
    engine.shutdown(std::string(), 0ms);
    // A tick racing with shutdown() may have its publish dropped, never counted twice.
    QVERIFY(engine.stats().framesPublished <= std::uint64_t(ticks.load()));
    QVERIFY(engine.stats().framesPublished >= 3);
}

/// Occurrences of `needle` in `hay`.
std::size_t countOf(const std::string& hay, const std::string& needle)
{
    std::size_t n = 0;
    for (auto pos = hay.find(needle); pos != std::string::npos;
         pos = hay.find(needle, pos + needle.size()))
        ++n;
    return n;
}

void TstFanoutEngine::statsAreSpreadOverTheInterval()
{
    // One loop, 64 streams of one video, stats every 2 s: each stream's `stats` must come at its
    // own offset in the interval, not all 64 at the same instant.
    constexpr int kStreams = 64;
    constexpr int kStatsMs = 2000;
    Engine engine(engineOptions(1, kDefaultCap, 15000, kStatsMs));
    engine.onStatsTick
        = [&] { engine.setStats(1, "{\"viewers\":" + std::to_string(kStreams) + "}"); };
    engine.start();
    std::vector<Peer> peers;
    for (int i = 0; i < kStreams; ++i) {
        peers.push_back(openStream(engine, sid(i), 1, {}));
        QVERIFY(peers.back().fd >= 0);
    }
    const std::string frame = "event: stats\ndata: {\"viewers\":64}\n\n";
    // Poll every stream every few ms and note when its first `stats` arrived.
    std::vector<std::int64_t> firstMs(kStreams, -1);
    const auto start = std::chrono::steady_clock::now();
    auto elapsedMs = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start)
            .count();
    };
    while (elapsedMs() < 4 * kStatsMs && std::count(firstMs.begin(), firstMs.end(), -1) > 0) {
        for (int i = 0; i < kStreams; ++i) {
            Peer& p = peers[static_cast<std::size_t>(i)];
            p.pump();
            if (firstMs[static_cast<std::size_t>(i)] < 0 && p.got.find(frame) != std::string::npos)
                firstMs[static_cast<std::size_t>(i)] = elapsedMs();
        }
        std::this_thread::sleep_for(2ms); // polling interval of the measurement itself
    }
    QVERIFY2(std::count(firstMs.begin(), firstMs.end(), -1) == 0, "a stream got no stats");
    std::sort(firstMs.begin(), firstMs.end());
    // Spread: the first stats of the 64 streams span most of one interval, and no tenth of the
    // interval holds more than a quarter of them (a single burst would put all 64 in one).
    QVERIFY2(firstMs.back() - firstMs.front() >= kStatsMs / 2,
        qPrintable(QStringLiteral("span %1 ms").arg(firstMs.back() - firstMs.front())));
    std::size_t densest = 0;
    for (std::size_t i = 0; i < firstMs.size(); ++i) {
        const auto end
            = std::upper_bound(firstMs.begin(), firstMs.end(), firstMs[i] + kStatsMs / 10);
        densest = std::max(densest, static_cast<std::size_t>(end - (firstMs.begin() + i)));
    }
    QVERIFY2(densest <= kStreams / 4, qPrintable(QStringLiteral("%1 in one window").arg(densest)));
    // And every stream keeps getting it once per interval.
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(peers.begin(), peers.end(),
                                 [&](Peer& p) { return p.pump() && countOf(p.got, frame) >= 2; }),
        4 * kStatsMs);
    engine.shutdown(std::string(), 0ms);
}

namespace {

/// The comment ids (`id:` lines) in a stream's bytes.
std::set<std::uint64_t> ids(const std::string& got)
{
    std::set<std::uint64_t> out;
    for (auto pos = got.find("id: "); pos != std::string::npos; pos = got.find("id: ", pos + 4))
        out.insert(std::stoull(got.substr(pos + 4)));
    return out;
}

/// The `skipped` of the last `stats` event in a stream's bytes, -1 when there is none.
long long lastSkipped(const std::string& got)
{
    const auto pos = got.rfind("\"skipped\":");
    return pos == std::string::npos ? -1 : std::stoll(got.substr(pos + 10));
}

/// Pumps `p` and tells whether its last `stats` says delivered + skipped = `total`.
bool accountsFor(Peer& p, std::size_t total)
{
    p.pump();
    const long long skipped = lastSkipped(p.got);
    return skipped >= 0 && ids(p.got).size() + static_cast<std::size_t>(skipped) == total;
}

/// How many of `want` are missing from the stream's bytes `got`.
std::size_t missing(const std::string& got, const std::set<std::uint64_t>& want)
{
    const auto have = ids(got);
    return static_cast<std::size_t>(
        std::count_if(want.begin(), want.end(), [&](auto id) { return !have.count(id); }));
}

/// Starts a shaping engine (cap 10/s) whose stats tick gives `video` the stats `json`.
void startShaped(Engine& engine, std::uint32_t video, std::string json)
{
    engine.onStatsTick = [&engine, video, json] { engine.setStats(video, json); };
    engine.start();
}

EngineOptions shapedOptions(unsigned loops, int statsMs)
{
    EngineOptions options = engineOptions(loops, kDefaultCap, 15000, statsMs);
    options.viewerRateCap = 10;
    return options;
}

/// Opens a resumed stream of `video` for `user` on a fresh socketpair.
Peer openUserStream(
    Engine& engine, const std::string& id, std::uint32_t video, const std::string& user)
{
    auto [fd, peer] = makePair();
    if (!engine.open(fd, { id, video, user }, {}))
        return Peer();
    engine.resume(id, {});
    return std::move(peer);
}

} // namespace

void TstFanoutEngine::shapingSamplesButKeepsOwnAndPrivileged()
{
    // Cap 10/s → burst 2. 300 comments published within a few ms: the bucket lets about the
    // burst through; the author's own stream and privileged comments get through regardless.
    Engine engine(shapedOptions(2, 50));
    startShaped(engine, 4, "{\"viewers\":3}");
    Peer anonymous = openUserStream(engine, "s-anon", 4, {});
    Peer alice = openUserStream(engine, "s-alice", 4, "alice");
    Peer bob = openUserStream(engine, "s-bob", 4, "bob");
    QVERIFY(anonymous.fd >= 0 && alice.fd >= 0 && bob.fd >= 0);
    QTRY_COMPARE(engine.viewers(4), std::size_t(3));

    constexpr int kTotal = 300;
    std::set<std::uint64_t> aliceIds, privilegedIds;
    const auto begin = std::chrono::steady_clock::now();
    for (std::uint64_t id = 1; id <= kTotal; ++id) {
        const bool mod = id % 30 == 0;
        const std::string author = id % 20 == 0 ? "alice" : mod ? "mod" : "crowd";
        if (author == "alice")
            aliceIds.insert(id);
        if (mod)
            privilegedIds.insert(id);
        engine.publishComment(4, makeFrame(id, commentFrame(id, author)), author, mod);
    }
    const double seconds
        = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    // Every stream reports delivered + skipped = published once its stats follow the burst.
    for (Peer* p : { &anonymous, &alice, &bob })
        QTRY_VERIFY_WITH_TIMEOUT(accountsFor(*p, kTotal), 5000);
    const std::size_t sampled = static_cast<std::size_t>(2 + seconds * 10) + 1;
    for (Peer* p : { &anonymous, &alice, &bob }) {
        const auto got = ids(p->got);
        QVERIFY2(missing(p->got, privilegedIds) == 0, "a moderator's comment was shaped out");
        std::size_t crowd = 0;
        for (const auto id : got)
            crowd += (!privilegedIds.count(id) && !aliceIds.count(id)) ? 1 : 0;
        QVERIFY2(crowd <= sampled, qPrintable(QString::number(crowd)));
    }
    const auto aliceGot = ids(alice.got);
    for (const auto id : aliceIds)
        QVERIFY2(aliceGot.count(id), "alice's own comment was shaped out of her stream");
    // The same sample for everyone: bob and the anonymous viewer got identical ids.
    QCOMPARE(ids(bob.got), ids(anonymous.got));
    QVERIFY(ids(bob.got).size() < aliceGot.size());
    QVERIFY(ids(bob.got).size() < kTotal / 4);
    engine.shutdown(std::string(), 0ms);
}

void TstFanoutEngine::shapingOffDeliversEverything()
{
    Engine engine(engineOptions(2, kDefaultCap, 15000, 50));
    engine.onStatsTick = [&] { engine.setStats(4, "{\"viewers\":1}"); };
    engine.start();
    Peer peer = openStream(engine, "s-one", 4, {});
    QVERIFY(peer.fd >= 0);
    std::string expected;
    for (std::uint64_t id = 1; id <= 300; ++id) {
        auto frame = makeFrame(id, commentFrame(id));
        expected += frame->bytes;
        engine.publishComment(4, std::move(frame), "crowd", false);
    }
    const std::string stats = "event: stats\ndata: {\"viewers\":1}\n\n";
    auto withoutStats = [&] {
        std::string rest = peer.got;
        for (auto pos = rest.find(stats); pos != std::string::npos; pos = rest.find(stats))
            rest.erase(pos, stats.size());
        return rest;
    };
    // Everything, in order, and `stats` (without "skipped") between comments.
    QTRY_VERIFY_WITH_TIMEOUT((peer.pump(), countOf(peer.got, stats) >= 1), 5000);
    QTRY_VERIFY_WITH_TIMEOUT((peer.pump(), withoutStats().size() >= expected.size()), 5000);
    const std::string comments = withoutStats();
    QCOMPARE(comments, expected);
    engine.shutdown(std::string(), 0ms);
}

void TstFanoutEngine::hotStreamIsWrittenPerTick()
{
    // A video that shapes comments out is hot: its streams are written once per tick (50 ms)
    // with everything they got since the last one, instead of once per frame. 200 comments/s for
    // 1.2 s at a cap of 10/s, half of them privileged (never shaped out, and alone over the cap,
    // so the crowd's are all skipped) and every tenth alice's: a stream gets ~100/s, which
    // written at once would arrive in about as many chunks (the publishes are 5 ms apart); per
    // tick it arrives in ~24 (+ the few `stats`).
    Engine engine(shapedOptions(1, 300));
    startShaped(engine, 5, "{\"viewers\":2}");
    Peer alice = openUserStream(engine, "s-alice", 5, "alice");
    Peer bob = openUserStream(engine, "s-bob", 5, "bob");
    QVERIFY(alice.fd >= 0 && bob.fd >= 0);
    QTRY_COMPARE(engine.viewers(5), std::size_t(2));

    constexpr int kTotal = 240;
    std::set<std::uint64_t> aliceIds, privilegedIds;
    int bobChunks = 0;
    const auto begin = std::chrono::steady_clock::now();
    for (std::uint64_t id = 1; id <= kTotal; ++id) {
        const bool streamer = id % 2 == 0;
        const std::string author = id % 10 == 5 ? "alice" : streamer ? "streamer" : "crowd";
        if (author == "alice")
            aliceIds.insert(id);
        if (streamer)
            privilegedIds.insert(id);
        engine.publishComment(5, makeFrame(id, commentFrame(id, author)), author, streamer);
        // Load pacing, not a wait for a condition: one comment per 5 ms, and bob's end is read
        // in between, so that every separate write shows up as a separate chunk.
        const auto due = begin + std::chrono::milliseconds(5 * id);
        while (std::chrono::steady_clock::now() < due) {
            const std::size_t before = bob.got.size();
            bob.pump();
            bobChunks += bob.got.size() > before ? 1 : 0;
            std::this_thread::sleep_for(1ms);
        }
    }
    for (Peer* p : { &alice, &bob }) {
        QTRY_VERIFY_WITH_TIMEOUT(accountsFor(*p, kTotal), 5000);
        QVERIFY2(missing(p->got, privilegedIds) == 0, "a streamer's comment was shaped out");
    }
    QVERIFY2(missing(alice.got, aliceIds) == 0, "alice's own comment was shaped out of her stream");
    const std::size_t bobComments = ids(bob.got).size();
    qInfo("bob: %zu comments (%zu skipped) in %d chunks", bobComments,
        static_cast<std::size_t>(lastSkipped(bob.got)), bobChunks);
    QVERIFY(bobComments >= privilegedIds.size());
    QVERIFY2(static_cast<std::size_t>(bobChunks) * 3 <= bobComments,
        qPrintable(QStringLiteral("%1 chunks for %2 comments: not batched per tick")
                       .arg(bobChunks)
                       .arg(bobComments)));
    engine.shutdown(std::string(), 0ms);
}

void TstFanoutEngine::findAndDuplicateIds()
{
    Engine engine;
    auto [early, earlyPeer] = makePair();
    QVERIFY(!engine.open(early, { "x", 1, {} }, {})); // not started yet
    QTRY_VERIFY_WITH_TIMEOUT((earlyPeer.pump(), earlyPeer.eof), 5000);
    engine.start();

    auto [fd, peer] = makePair();
    QVERIFY(engine.open(fd, { "x", 12, "user-5" }, {}));
    const auto info = engine.find("x");
    QVERIFY(info);
    QCOMPARE(info->videoId, std::uint32_t(12));
    QCOMPARE(info->userId, std::string("user-5"));
    QCOMPARE(info->subscriptionId, std::string("x"));
    QVERIFY(!engine.find("y"));

    auto [dupFd, dupPeer] = makePair();
    QVERIFY(!engine.open(dupFd, { "x", 12, {} }, {})); // ids are keys: a duplicate is refused
    QTRY_VERIFY_WITH_TIMEOUT((dupPeer.pump(), dupPeer.eof), 5000);
    QCOMPARE(engine.viewers(12), std::size_t(1));
    engine.resume("nope", {}); // unknown: ignored
    QVERIFY(!engine.close("nope"));
}

QTEST_GUILESS_MAIN(TstFanoutEngine)
#include "tst_fanout_engine.moc"
