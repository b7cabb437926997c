// SPDX-License-Identifier: MIT
// The fan-out engine. See docs/fanout.md for the design; the short version:
//  - N loop threads, each with its own epoll fd, an eventfd for wake-ups and exclusive ownership
//    of its subscribers' sockets. Other threads talk to a loop only through its inbox.
//  - A frame is encoded once (FramePtr) and queued by pointer on every subscriber.
//  - Each subscriber's queue is written with one non-blocking writev of up to 1024 frames: the
//    per-write syscall is the wall (measured in docs/performance.md: writing once per
//    delivery is several times slower than coalesced writes), so under load the frames that pile up
//    while a loop is busy go out together, while at light load a frame is written as soon as the
//    loop drains its inbox.
//  - Sockets are registered edge-triggered for IN|OUT|RDHUP once, so a busy stream costs no
//    epoll_ctl calls; a socket that returned EAGAIN is "blocked" until its EPOLLOUT edge.
#include "fanout_engine.h"

#include "model/clock.h"
#include "model/thread_name.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace livecomments::server::fanout {

namespace {

constexpr std::uint32_t kWakeSlot = 0xFFFFFFFFu; ///< epoll tag of the loop's eventfd
constexpr int kMaxIov = 1024; ///< Linux UIO_MAXIOV
constexpr int kMaxEvents = 256;
constexpr std::int64_t kCloseFlushMs = 5000; ///< close(): give up flushing after this
constexpr int kMaxDrainReads = 64; ///< inbound reads per event before we stop listening
constexpr std::size_t kShrinkCapacity = 32; ///< idle queues above this capacity are freed
/// Shaping on: a sampled-in comment that waited longer than this in a loop's inbox is shed for
/// that loop's streams (the loop is behind; a backlog would only grow every stream's latency).
constexpr std::int64_t kShedLagMs = 150;
/// Shaping on: a flush pass that took this long means the loop is busy; the next pass then waits
/// until kCoalesceMs after this one began, so that each writev carries several frames.
constexpr std::int64_t kBusyFlushMs = 8;
constexpr std::int64_t kCoalesceMs = 30;
/// Shaping on: the streams of a hot video (one that shaped a comment out within kHotHoldMs) are
/// written once per kShapedTickMs instead of as soon as a frame arrives. A shaped stream gets at
/// most the cap (30/s), so writing at once costs one writev per frame; on the tick one writev
/// carries the frames of the last 50 ms, and the added delay stays far under the 250 ms target.
/// (100 ms measured no cheaper per delivery and worse in p99: docs/performance.md.)
constexpr std::int64_t kShapedTickMs = 50;
constexpr std::int64_t kHotHoldMs = 1000;
/// `stats` is spread over its interval in this many slices (a power of two, see statsSlot()).
constexpr unsigned kStatsSliceBits = 7;
constexpr unsigned kStatsSlices = 1u << kStatsSliceBits;

/// The slot residue served by slice `tick` of the stats interval: the bit-reversed tick, so that
/// a loop with few subscribers (dense low slots) still spreads them over the whole interval
/// instead of the first slices.
unsigned statsSlot(std::uint64_t tick)
{
    unsigned in = static_cast<unsigned>(tick % kStatsSlices), out = 0;
    for (unsigned b = 0; b < kStatsSliceBits; ++b)
        out |= ((in >> b) & 1u) << (kStatsSliceBits - 1 - b);
    return out;
}

/// `event: stats` with `"skipped":K` appended to the object `json` (shaping on), or as is.
std::string statsFrameBytes(const std::string& json, std::optional<std::uint64_t> skipped)
{
    std::string out = "event: stats\ndata: ";
    if (skipped && !json.empty() && json.back() == '}') {
        out.append(json, 0, json.size() - 1);
        out += json.size() > 2 ? ",\"skipped\":" : "\"skipped\":";
        out += std::to_string(*skipped);
        out += '}';
    } else {
        out += json;
    }
    out += "\n\n";
    return out;
}

const FramePtr& heartbeatFrame()
{
    static const FramePtr frame = makeFrame(0, ": hb\n\n");
    return frame;
}

std::uint64_t epollTag(std::uint32_t slot, std::uint64_t serial)
{
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(serial)) << 32) | slot;
}

enum class CloseReason { Client, Slow, Server };

/// How a published frame is shaped: Raw (not a comment, or shaping off), In (sampled in; shed
/// anyway by a loop that is behind), Out (skipped but for the author's streams), Privileged
/// (always sent).
enum class Shape : std::uint8_t { Raw, In, Out, Privileged };

/// Loop-thread-only state of one stream. Kept small: ~120 bytes plus the queue's buffer.
struct Subscriber {
    std::vector<FramePtr> queue; ///< unsent frames are [head, size)
    std::unique_ptr<std::vector<FramePtr>> held; ///< non-null while HELD: frames awaiting resume
    std::string subscriptionId;
    std::string userId; ///< empty = anonymous; its own comments are never shaped out
    std::uint64_t droppedBase = 0; ///< the video's shaped-out count when this stream opened
    std::uint64_t exceptions = 0; ///< shaped-out comments it got anyway (its own)
    std::int64_t lastWriteMs = 0;
    std::uint64_t serial = 0; ///< unique per open(), guards against slot reuse
    std::size_t unsentBytes = 0; ///< queue from head/offset on + held
    int fd = -1;
    std::uint32_t videoId = 0;
    std::uint32_t posInVideo = 0; ///< index in the loop's list for videoId (O(1) removal)
    std::uint32_t head = 0;
    std::uint32_t offset = 0; ///< bytes of queue[head] already written
    bool blocked = false; ///< writev said EAGAIN; wait for the EPOLLOUT edge
    bool dirty = false; ///< in the loop's dirty list
    bool batched = false; ///< in the loop's list for the next shaped tick
    bool closing = false; ///< close after the queue drains
    bool doomed = false; ///< over the cap; removed after the current batch
    bool registered = true; ///< still in the engine's registry
};

struct Command {
    enum class Kind : std::uint8_t { Publish, Open, Resume, Close, Shutdown, Stats };
    struct Extra {
        std::string subscriptionId;
        std::string userId; ///< Open: the viewer; Publish (shaped out): the author; Stats: JSON
        std::vector<FramePtr> replay;
        std::int64_t deadlineMs = 0;
    };
    Kind kind = Kind::Publish;
    Shape shape = Shape::Raw; ///< Publish
    int fd = -1;
    std::uint32_t videoId = 0;
    std::uint32_t slot = 0;
    std::uint64_t serial = 0;
    std::int64_t postedMs = 0; ///< Publish with shaping: when publish() queued it
    FramePtr frame;
    std::unique_ptr<Extra> extra;
};

struct RegistryEntry {
    SubscriberInfo info;
    unsigned loop = 0;
    std::uint32_t slot = 0;
    std::uint64_t serial = 0;
};

} // namespace

class Engine::Impl {
public:
    class Loop;

    Impl(Engine& owner, EngineOptions options);
    ~Impl();

    void start();
    bool open(int fd, SubscriberInfo info, std::string preamble);
    void resume(const std::string& subscriptionId, std::vector<FramePtr> replay);
    void publish(std::uint32_t videoId, FramePtr frame);
    void publishComment(
        std::uint32_t videoId, FramePtr frame, const std::string& authorId, bool privileged);
    void setStats(std::uint32_t videoId, std::string json);
    bool close(const std::string& subscriptionId);
    std::optional<SubscriberInfo> find(const std::string& subscriptionId) const;
    std::size_t viewers(std::uint32_t videoId) const;
    EngineStats stats() const;
    void shutdown(std::vector<std::string> finalVariants, std::chrono::milliseconds flushTimeout);

    // Called by loops.
    void unregister(const std::string& subscriptionId, std::uint64_t serial);
    void reconcileVideo(std::uint32_t videoId);
    void statsTick();

    Engine& m_owner;
    const EngineOptions m_options;
    std::vector<std::unique_ptr<Loop>> m_loops;
    std::atomic<std::uint64_t> m_framesPublished { 0 };
    std::atomic<std::uint64_t> m_openStreams { 0 };
    std::atomic<bool> m_closed { false }; ///< shutdown() began: publish() becomes a no-op

private:
    void post(std::uint32_t videoId, FramePtr frame, Shape shape, const std::string& authorId);
    bool sampleIn(std::uint32_t videoId, bool privileged);
    void releaseEntry(std::unordered_map<std::string, RegistryEntry>::iterator it);

    mutable std::mutex m_registryMutex; ///< guards the three members below
    std::unordered_map<std::string, RegistryEntry> m_registry;
    std::unordered_map<std::uint32_t, std::uint32_t> m_videoCounts;
    bool m_accepting = false;
    std::uint64_t m_nextSerial = 0;

    std::mutex m_activeMutex; ///< serialises onVideoActive; guards m_announced
    std::unordered_set<std::uint32_t> m_announced;

    /// Hot-stream shaping: one token bucket per video (tokens refill at viewerRateCap/s).
    struct Bucket {
        double tokens = 0;
        std::int64_t lastNs = 0;
    };
    std::mutex m_shapeMutex; ///< guards m_buckets
    std::unordered_map<std::uint32_t, Bucket> m_buckets;

    std::mutex m_lifecycleMutex; ///< serialises start/shutdown
    bool m_started = false;
    bool m_stopped = false;
};

/// One epoll loop thread. Public members marked "any thread" are the inbox and the slot allocator;
/// everything else is touched only by the loop's own thread.
class Engine::Impl::Loop {
public:
    Loop(Impl& impl, unsigned index);
    ~Loop();

    void startThread()
    {
        m_thread = std::thread([this] {
            setThreadName("lc-fanout-" + std::to_string(m_index));
            run();
        });
    }
    void join()
    {
        if (m_thread.joinable())
            m_thread.join();
    }

    /// Any thread: appends to the inbox and wakes the loop unless a wake-up is already pending.
    void post(Command command);
    /// Any thread: reserves a subscriber slot (the loop fills it when it handles Open).
    std::uint32_t allocSlot();

    std::atomic<std::uint32_t> m_load { 0 }; ///< subscribers assigned (for least-loaded open)
    std::atomic<std::uint64_t> m_deliveries { 0 }, m_bytesWritten { 0 }, m_slow { 0 },
        m_client { 0 }, m_heartbeats { 0 }, m_shed { 0 };

private:
    void run();
    void processInbox();
    void handleEvent(std::uint64_t tag, std::uint32_t events);
    void handleOpen(Command& c);
    void handlePublish(const Command& c);
    void handleResume(Command& c);
    void handleClose(const Command& c);
    void handleShutdown(const Command& c);
    void handleStats(Command& c);
    bool deliver(std::uint32_t slot, const FramePtr& frame, bool batch);
    void flushBatched();
    void batchForTick(std::uint32_t slot);
    void statsSlice(unsigned residue);
    void sweep();
    void flushDirty();
    void flush(std::uint32_t slot);
    void markDirty(std::uint32_t slot);
    void enqueue(std::uint32_t slot, const FramePtr& frame);
    void releaseHeld(Subscriber& s);
    void remove(std::uint32_t slot, CloseReason reason);
    void freeSlot(std::uint32_t slot);
    Subscriber* lookup(std::uint32_t slot, std::uint64_t serial);

    Impl& m_impl;
    const unsigned m_index;
    int m_epoll = -1;
    int m_wakeFd = -1;
    std::thread m_thread;

    std::mutex m_inboxMutex; ///< guards m_inbox and m_wakePending
    std::vector<Command> m_inbox;
    bool m_wakePending = false;

    std::mutex m_slotMutex; ///< guards m_freeSlots and m_nextSlot
    std::vector<std::uint32_t> m_freeSlots;
    std::uint32_t m_nextSlot = 0;

    // Loop thread only.
    std::vector<Subscriber> m_subs;
    /// This loop's streams of one video.
    struct VideoState {
        std::vector<std::uint32_t> slots;
        /// Signed-in streams by user id: where a shaped-out comment still goes (its author's).
        std::unordered_map<std::string, std::vector<std::uint32_t>> byUser;
        std::uint64_t dropped = 0; ///< shaped-out comments since this state was made
        std::int64_t hotUntil = 0; ///< shaped a comment out lately: deliveries wait for the tick
        std::string statsJson; ///< from setStats(); empty = no `stats` yet
        FramePtr statsFrame; ///< the shared `stats` frame (shaping off, or nothing skipped)
    };
    std::unordered_map<std::uint32_t, VideoState> m_byVideo;
    std::vector<std::uint32_t> m_dirty, m_dirtyWork;
    std::vector<std::uint32_t> m_batched; ///< streams of hot videos written on the next tick
    std::int64_t m_nextTick = 0; ///< when m_batched is written
    std::vector<std::pair<std::uint32_t, std::uint64_t>> m_doomed; ///< (slot, serial) over the cap
    std::vector<Command> m_work;
    struct Closing {
        std::uint32_t slot;
        std::uint64_t serial;
        std::int64_t deadlineMs;
    };
    std::vector<Closing> m_closing;
    std::uint32_t m_live = 0;
    std::int64_t m_now = 0;
    std::int64_t m_nextSweep = 0;
    std::int64_t m_nextStats = 0;
    std::int64_t m_flushDeferredUntil = 0; ///< busy loop (shaping on): next flush pass not before
    std::int64_t m_statsStart = 0; ///< start of slice 0 of the per-stream stats schedule
    std::uint64_t m_statsTick = 0; ///< next stats slice to serve
    bool m_shuttingDown = false;
    std::int64_t m_shutdownDeadline = 0;
};

// ---------------------------------------------------------------------------------------------
// Loop

Engine::Impl::Loop::Loop(Impl& impl, unsigned index)
    : m_impl(impl)
    , m_index(index)
{
    m_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    m_wakeFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_epoll < 0 || m_wakeFd < 0)
        throw std::system_error(errno, std::generic_category(), "fanout: epoll/eventfd");
    epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeSlot;
    if (::epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wakeFd, &ev) != 0)
        throw std::system_error(errno, std::generic_category(), "fanout: epoll_ctl");
}

Engine::Impl::Loop::~Loop()
{
    join();
    // Sockets still owned: normally none (shutdown closes all), but an engine destroyed without
    // start() may hold Open commands, and a loop that never ran holds nothing else.
    for (auto& c : m_inbox)
        if (c.kind == Command::Kind::Open && c.fd >= 0)
            ::close(c.fd);
    for (auto& s : m_subs)
        if (s.fd >= 0)
            ::close(s.fd);
    ::close(m_wakeFd);
    ::close(m_epoll);
}

void Engine::Impl::Loop::post(Command command)
{
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(m_inboxMutex);
        m_inbox.push_back(std::move(command));
        wake = !m_wakePending;
        m_wakePending = true;
    }
    if (wake) {
        const std::uint64_t one = 1;
        // EAGAIN only if the counter would overflow, i.e. the loop is already awake.
        [[maybe_unused]] auto n = ::write(m_wakeFd, &one, sizeof one);
    }
}

std::uint32_t Engine::Impl::Loop::allocSlot()
{
    std::lock_guard<std::mutex> lock(m_slotMutex);
    if (!m_freeSlots.empty()) {
        const auto slot = m_freeSlots.back();
        m_freeSlots.pop_back();
        return slot;
    }
    return m_nextSlot++;
}

void Engine::Impl::Loop::freeSlot(std::uint32_t slot)
{
    std::lock_guard<std::mutex> lock(m_slotMutex);
    m_freeSlots.push_back(slot);
}

Subscriber* Engine::Impl::Loop::lookup(std::uint32_t slot, std::uint64_t serial)
{
    if (slot >= m_subs.size())
        return nullptr;
    Subscriber& s = m_subs[slot];
    return (s.fd >= 0 && s.serial == serial) ? &s : nullptr;
}

void Engine::Impl::Loop::run()
{
    const EngineOptions& o = m_impl.m_options;
    const std::int64_t sweepMs = o.heartbeatMs > 0
        ? std::max<std::int64_t>(1, std::min<std::int64_t>(1000, o.heartbeatMs / 4))
        : 1000;
    m_now = steadyMs();
    m_nextSweep = m_now + sweepMs;
    m_nextStats = m_now + std::max(1, o.statsMs);
    m_statsStart = m_now;
    const auto sliceDue = [&](std::uint64_t tick) {
        return m_statsStart + static_cast<std::int64_t>(tick * o.statsMs / kStatsSlices);
    };
    epoll_event events[kMaxEvents];

    for (;;) {
        std::int64_t next = m_nextSweep;
        if (m_index == 0 && o.statsMs > 0)
            next = std::min(next, m_nextStats);
        if (o.statsMs > 0)
            next = std::min(next, sliceDue(m_statsTick));
        if (m_shuttingDown)
            next = std::min(next, m_shutdownDeadline);
        if (!m_dirty.empty())
            next = std::min(next, m_flushDeferredUntil);
        if (!m_batched.empty())
            next = std::min(next, m_nextTick);
        const int timeout = static_cast<int>(std::clamp<std::int64_t>(next - m_now, 0, 60000));

        const int n = ::epoll_wait(m_epoll, events, kMaxEvents, timeout);
        m_now = steadyMs();
        bool woken = false;
        for (int i = 0; i < n; ++i) {
            if (events[i].data.u64 == kWakeSlot) {
                std::uint64_t count = 0;
                [[maybe_unused]] auto r = ::read(m_wakeFd, &count, sizeof count);
                woken = true;
            } else {
                handleEvent(events[i].data.u64, events[i].events);
            }
        }
        if (woken)
            processInbox();
        for (const auto& [slot, serial] : m_doomed)
            if (lookup(slot, serial))
                remove(slot, CloseReason::Slow);
        m_doomed.clear();

        if (m_now >= m_nextSweep) {
            m_nextSweep = m_now + sweepMs;
            sweep();
        }
        // Each stream gets `stats` in its own slice of the interval: a few writes per tick
        // instead of one write per stream at the same instant, which comments queued behind.
        if (o.statsMs > 0 && m_now >= sliceDue(m_statsTick)) {
            for (unsigned n = 0; n < kStatsSlices && m_now >= sliceDue(m_statsTick); ++n)
                statsSlice(statsSlot(m_statsTick++));
            if (m_now >= sliceDue(m_statsTick)) { // stalled for a whole interval: skip ahead
                m_statsStart = m_now;
                m_statsTick = 0;
            }
        }
        // Light load: this flush runs right after the inbox drained, so one frame costs one
        // writev and no added latency. Heavy load: frames queued during the previous flush are
        // all written by this one writev per subscriber. With shaping on a viewer gets at most
        // the cap (30/s), which alone would leave about one frame per writev while the loop is
        // busy (the per-write syscall is the cost), so a busy loop spaces its passes kCoalesceMs
        // apart; shed comments (kShedLagMs) keep that from turning into a backlog.
        if (m_shuttingDown || m_now >= m_flushDeferredUntil) {
            const std::int64_t began = m_now;
            flushDirty();
            if (o.viewerRateCap > 0 && steadyMs() - began >= kBusyFlushMs)
                m_flushDeferredUntil = began + kCoalesceMs;
        }
        if (!m_batched.empty() && (m_shuttingDown || m_now >= m_nextTick))
            flushBatched();
        if (m_index == 0 && o.statsMs > 0 && m_now >= m_nextStats) {
            m_nextStats = m_now + o.statsMs;
            if (!m_shuttingDown)
                m_impl.statsTick();
        }
        if (m_shuttingDown && (m_live == 0 || m_now >= m_shutdownDeadline)) {
            for (std::uint32_t slot = 0; slot < m_subs.size(); ++slot)
                remove(slot, CloseReason::Server);
            return;
        }
    }
}

void Engine::Impl::Loop::processInbox()
{
    {
        std::lock_guard<std::mutex> lock(m_inboxMutex);
        m_work.swap(m_inbox);
        m_wakePending = false;
    }
    for (auto& c : m_work) {
        switch (c.kind) {
        case Command::Kind::Publish:
            handlePublish(c);
            break;
        case Command::Kind::Open:
            handleOpen(c);
            break;
        case Command::Kind::Resume:
            handleResume(c);
            break;
        case Command::Kind::Close:
            handleClose(c);
            break;
        case Command::Kind::Shutdown:
            handleShutdown(c);
            break;
        case Command::Kind::Stats:
            handleStats(c);
            break;
        }
    }
    m_work.clear(); // keeps capacity: the two vectors ping-pong without allocating
}

void Engine::Impl::Loop::handleOpen(Command& c)
{
    if (c.slot >= m_subs.size())
        m_subs.resize(static_cast<std::size_t>(c.slot) + 1);
    Subscriber& s = m_subs[c.slot];
    s = Subscriber {};
    s.fd = c.fd;
    c.fd = -1;
    s.serial = c.serial;
    s.videoId = c.videoId;
    s.subscriptionId = std::move(c.extra->subscriptionId);
    s.userId = std::move(c.extra->userId);
    s.lastWriteMs = m_now;
    s.held = std::make_unique<std::vector<FramePtr>>();
    ++m_live;

    auto& video = m_byVideo[s.videoId];
    s.posInVideo = static_cast<std::uint32_t>(video.slots.size());
    video.slots.push_back(c.slot);
    s.droppedBase = video.dropped;
    if (!s.userId.empty())
        video.byUser[s.userId].push_back(c.slot);

    epoll_event ev {};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = epollTag(c.slot, c.serial);
    if (m_shuttingDown || ::epoll_ctl(m_epoll, EPOLL_CTL_ADD, s.fd, &ev) != 0) {
        remove(c.slot, CloseReason::Server);
        return;
    }
    if (c.frame && !c.frame->bytes.empty())
        enqueue(c.slot, c.frame);
    m_impl.reconcileVideo(s.videoId);
}

void Engine::Impl::Loop::enqueue(std::uint32_t slot, const FramePtr& frame)
{
    Subscriber& s = m_subs[slot];
    s.queue.push_back(frame);
    s.unsentBytes += frame->bytes.size();
    markDirty(slot);
}

void Engine::Impl::Loop::markDirty(std::uint32_t slot)
{
    Subscriber& s = m_subs[slot];
    if (!s.dirty && !s.blocked) {
        s.dirty = true;
        m_dirty.push_back(slot);
    }
}

inline bool Engine::Impl::Loop::deliver(std::uint32_t slot, const FramePtr& frame, bool batch)
{
    Subscriber& s = m_subs[slot];
    if (s.doomed || s.closing)
        return false;
    if (s.held)
        s.held->push_back(frame);
    else
        s.queue.push_back(frame);
    s.unsentBytes += frame->bytes.size();
    if (s.unsentBytes > m_impl.m_options.queueCapBytes) {
        s.doomed = true;
        m_doomed.emplace_back(slot, s.serial);
    } else if (!s.held && !batch) {
        markDirty(slot);
    } else if (!s.held) {
        batchForTick(slot);
    }
    return true;
}

void Engine::Impl::Loop::batchForTick(std::uint32_t slot)
{
    Subscriber& s = m_subs[slot];
    if (s.batched)
        return;
    // The first frame batched after a pass waits one tick. (A fixed period, not pushed back by
    // a long pass, measured worse: more writes, ~10% more CPU per delivery, no better p99.)
    if (m_batched.empty())
        m_nextTick = m_now + kShapedTickMs;
    s.batched = true;
    m_batched.push_back(slot);
}

void Engine::Impl::Loop::flushBatched()
{
    // Written in the order they were batched, as one pass: each writev carries every frame the
    // stream got since the last tick. A slot freed and reused meanwhile is harmless (a fresh
    // stream has batched == false, and markDirty() ignores duplicates).
    for (const auto slot : m_batched) {
        Subscriber& s = m_subs[slot];
        if (s.fd >= 0 && s.batched) {
            s.batched = false;
            markDirty(slot);
        }
    }
    m_batched.clear();
    flushDirty();
}

void Engine::Impl::Loop::handlePublish(const Command& c)
{
    if (m_shuttingDown)
        return;
    const auto it = m_byVideo.find(c.videoId);
    if (it == m_byVideo.end())
        return;
    VideoState& video = it->second;
    std::uint64_t delivered = 0;
    bool out = c.shape == Shape::Out;
    if (c.shape == Shape::In && m_now - c.postedMs > kShedLagMs) {
        out = true; // this loop is behind: shed instead of growing every stream's backlog
        m_shed.fetch_add(1, std::memory_order_relaxed);
    }
    const bool hot = out || m_now < video.hotUntil;
    if (out)
        video.hotUntil = m_now + kHotHoldMs;
    if (out) {
        // Skipped for everyone (O(1): the per-stream skip count is derived from `dropped`),
        // except the author's own streams, which always see their comments.
        ++video.dropped;
        if (c.extra) {
            const auto own = video.byUser.find(c.extra->userId);
            if (own != video.byUser.end()) {
                for (const auto slot : own->second) {
                    if (deliver(slot, c.frame, hot)) {
                        ++m_subs[slot].exceptions;
                        ++delivered;
                    }
                }
            }
        }
    } else {
        for (const auto slot : video.slots)
            delivered += deliver(slot, c.frame, hot) ? 1 : 0;
    }
    m_deliveries.fetch_add(delivered, std::memory_order_relaxed);
}

void Engine::Impl::Loop::handleStats(Command& c)
{
    const auto it = m_byVideo.find(c.videoId);
    if (it == m_byVideo.end())
        return; // no stream here: the next setStats() reaches the ones that open later
    VideoState& video = it->second;
    video.statsJson = std::move(c.extra->userId);
    const bool shaping = m_impl.m_options.viewerRateCap > 0;
    video.statsFrame = makeFrame(0,
        statsFrameBytes(video.statsJson,
            shaping ? std::optional<std::uint64_t>(0) : std::optional<std::uint64_t>()));
}

void Engine::Impl::Loop::statsSlice(unsigned residue)
{
    if (m_shuttingDown)
        return;
    const bool shaping = m_impl.m_options.viewerRateCap > 0;
    std::uint64_t delivered = 0;
    for (std::size_t slot = residue; slot < m_subs.size(); slot += kStatsSlices) {
        Subscriber& s = m_subs[slot];
        if (s.fd < 0 || s.held || s.closing || s.doomed)
            continue;
        const auto it = m_byVideo.find(s.videoId);
        if (it == m_byVideo.end() || !it->second.statsFrame)
            continue;
        const VideoState& video = it->second;
        const std::uint64_t skipped = video.dropped - s.droppedBase - s.exceptions;
        // Nothing skipped (or shaping off): the video's shared frame, no allocation.
        FramePtr frame = !shaping || skipped == 0
            ? video.statsFrame
            : makeFrame(0, statsFrameBytes(video.statsJson, skipped));
        // A hot stream's `stats` rides with its next tick instead of costing a writev of its own.
        if (shaping && m_now < video.hotUntil) {
            s.unsentBytes += frame->bytes.size();
            s.queue.push_back(std::move(frame));
            batchForTick(static_cast<std::uint32_t>(slot));
        } else {
            enqueue(static_cast<std::uint32_t>(slot), frame);
        }
        ++delivered;
    }
    m_deliveries.fetch_add(delivered, std::memory_order_relaxed);
}

void Engine::Impl::Loop::releaseHeld(Subscriber& s)
{
    if (!s.held)
        return;
    auto held = std::move(s.held);
    for (auto& f : *held)
        s.queue.push_back(std::move(f));
}

void Engine::Impl::Loop::handleResume(Command& c)
{
    Subscriber* s = lookup(c.slot, c.serial);
    if (!s || !s->held || s->closing || s->doomed)
        return;
    auto held = std::move(s->held);
    std::vector<std::uint64_t> replayIds;
    std::uint64_t delivered = 0;
    for (auto& f : c.extra->replay) {
        if (!f || f->bytes.empty())
            continue;
        if (f->id != 0)
            replayIds.push_back(f->id);
        s->unsentBytes += f->bytes.size();
        s->queue.push_back(std::move(f));
        ++delivered;
    }
    std::sort(replayIds.begin(), replayIds.end());
    for (auto& f : *held) {
        if (f->id != 0 && std::binary_search(replayIds.begin(), replayIds.end(), f->id)) {
            s->unsentBytes -= f->bytes.size();
            continue;
        }
        s->queue.push_back(std::move(f));
    }
    m_deliveries.fetch_add(delivered, std::memory_order_relaxed);
    markDirty(c.slot); // flush() applies the cap once the socket took what it could
}

void Engine::Impl::Loop::handleClose(const Command& c)
{
    Subscriber* s = lookup(c.slot, c.serial);
    if (!s)
        return;
    s->registered = false; // close() already took it out of the registry
    if (!s->closing) {
        s->closing = true;
        releaseHeld(*s);
        m_closing.push_back({ c.slot, c.serial, m_now + kCloseFlushMs });
        markDirty(c.slot);
    }
    m_impl.reconcileVideo(c.videoId);
}

void Engine::Impl::Loop::handleShutdown(const Command& c)
{
    m_shuttingDown = true;
    m_shutdownDeadline = c.extra->deadlineMs;
    for (std::uint32_t slot = 0; slot < m_subs.size(); ++slot) {
        Subscriber& s = m_subs[slot];
        if (s.fd < 0 || s.doomed)
            continue;
        releaseHeld(s);
        s.closing = true;
        // Variants are dealt round-robin so that, e.g., `retry:` values differ between streams and
        // the clients' reconnects spread out instead of arriving as one storm.
        const auto& variants = c.extra->replay;
        const FramePtr& last = variants.empty() ? c.frame : variants[slot % variants.size()];
        if (last && !last->bytes.empty())
            enqueue(slot, last);
        else
            markDirty(slot);
    }
}

void Engine::Impl::Loop::handleEvent(std::uint64_t tag, std::uint32_t events)
{
    const auto slot = static_cast<std::uint32_t>(tag);
    if (slot >= m_subs.size())
        return;
    Subscriber& s = m_subs[slot];
    if (s.fd < 0 || static_cast<std::uint32_t>(s.serial) != static_cast<std::uint32_t>(tag >> 32))
        return; // stale event of a socket closed earlier in this batch
    if (events & EPOLLIN) {
        // A stream carries nothing from the client after its request: discard, but notice EOF.
        char buf[4096];
        for (int i = 0;; ++i) {
            const ssize_t r = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0 && i < kMaxDrainReads)
                continue;
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                || r > 0) { // EOF, error, or a client flooding us
                remove(slot, CloseReason::Client);
                return;
            }
            break;
        }
    }
    if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        remove(slot, CloseReason::Client);
        return;
    }
    if ((events & EPOLLOUT) && s.blocked) {
        s.blocked = false;
        markDirty(slot);
    }
}

void Engine::Impl::Loop::flushDirty()
{
    while (!m_dirty.empty()) {
        m_dirtyWork.swap(m_dirty);
        for (const auto slot : m_dirtyWork)
            flush(slot);
        m_dirtyWork.clear();
    }
}

void Engine::Impl::Loop::flush(std::uint32_t slot)
{
    Subscriber& s = m_subs[slot];
    s.dirty = false;
    if (s.fd < 0 || s.doomed)
        return;
    iovec iov[kMaxIov];
    while (!s.blocked && s.head < s.queue.size()) {
        int n = 0;
        for (std::size_t i = s.head; i < s.queue.size() && n < kMaxIov; ++i, ++n) {
            const std::string& b = s.queue[i]->bytes;
            const std::size_t off = (i == s.head) ? s.offset : 0;
            iov[n].iov_base = const_cast<char*>(b.data() + off);
            iov[n].iov_len = b.size() - off;
        }
        const ssize_t w = ::writev(s.fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s.blocked = true; // the EPOLLOUT edge resumes us
                break;
            }
            remove(slot, CloseReason::Client); // EPIPE, ECONNRESET, ...
            return;
        }
        m_bytesWritten.fetch_add(static_cast<std::uint64_t>(w), std::memory_order_relaxed);
        s.unsentBytes -= static_cast<std::size_t>(w);
        s.lastWriteMs = m_now;
        std::size_t left = static_cast<std::size_t>(w);
        while (s.head < s.queue.size()) {
            const std::size_t rest = s.queue[s.head]->bytes.size() - s.offset;
            if (left < rest) {
                s.offset += static_cast<std::uint32_t>(left);
                break;
            }
            left -= rest;
            s.queue[s.head].reset();
            ++s.head;
            s.offset = 0;
        }
        // A partial write means the socket buffer is full; the next writev returns EAGAIN and
        // arms the wait (one extra syscall, but no reliance on how partial writes set NOSPACE).
    }
    if (s.head == s.queue.size()) {
        s.queue.clear(); // keeps capacity: steady state allocates nothing
        s.head = 0;
        s.offset = 0;
        if (s.closing) {
            remove(slot, CloseReason::Server);
            return;
        }
    } else if (s.head >= 64 && s.head * 2 >= s.queue.size()) {
        s.queue.erase(s.queue.begin(), s.queue.begin() + s.head);
        s.head = 0;
    }
    if (s.unsentBytes > m_impl.m_options.queueCapBytes && !s.closing)
        remove(slot, CloseReason::Slow);
}

void Engine::Impl::Loop::sweep()
{
    const int heartbeatMs = m_impl.m_options.heartbeatMs;
    std::uint64_t beats = 0;
    for (std::uint32_t slot = 0; slot < m_subs.size(); ++slot) {
        Subscriber& s = m_subs[slot];
        if (s.fd < 0)
            continue;
        const bool idle = s.head == s.queue.size();
        if (idle && s.queue.capacity() > kShrinkCapacity)
            std::vector<FramePtr>().swap(s.queue); // give a burst's buffer back
        if (heartbeatMs > 0 && idle && !s.held && !s.closing && !s.doomed && !s.blocked
            && m_now - s.lastWriteMs >= heartbeatMs) {
            enqueue(slot, heartbeatFrame());
            ++beats;
        }
    }
    m_heartbeats.fetch_add(beats, std::memory_order_relaxed);
    // close() that could not flush in time: give up on the peer.
    auto end = std::remove_if(m_closing.begin(), m_closing.end(), [this](const Closing& c) {
        if (!lookup(c.slot, c.serial))
            return true;
        if (m_now < c.deadlineMs)
            return false;
        remove(c.slot, CloseReason::Server);
        return true;
    });
    m_closing.erase(end, m_closing.end());
}

void Engine::Impl::Loop::remove(std::uint32_t slot, CloseReason reason)
{
    Subscriber& s = m_subs[slot];
    if (s.fd < 0)
        return;
    ::epoll_ctl(m_epoll, EPOLL_CTL_DEL, s.fd, nullptr);
    // Unread input at close() makes Linux send RST and drop what is still unsent (RFC 2525
    // 2.17), so drain it, then send FIN with shutdown() before closing.
    char buf[4096];
    for (int i = 0; i<kMaxDrainReads&& ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT)> 0; ++i) { }
    if (reason == CloseReason::Server)
        ::shutdown(s.fd, SHUT_WR);
    ::close(s.fd);
    if (reason == CloseReason::Slow)
        m_slow.fetch_add(1, std::memory_order_relaxed);
    else if (reason == CloseReason::Client)
        m_client.fetch_add(1, std::memory_order_relaxed);

    auto it = m_byVideo.find(s.videoId);
    if (it != m_byVideo.end()) {
        auto& list = it->second.slots;
        const auto last = list.back();
        list[s.posInVideo] = last;
        m_subs[last].posInVideo = s.posInVideo;
        list.pop_back();
        if (!s.userId.empty()) {
            auto& byUser = it->second.byUser;
            const auto own = byUser.find(s.userId);
            if (own != byUser.end()) {
                auto& slots = own->second;
                slots.erase(std::remove(slots.begin(), slots.end(), slot), slots.end());
                if (slots.empty())
                    byUser.erase(own);
            }
        }
        if (list.empty())
            m_byVideo.erase(it);
    }
    const bool registered = s.registered;
    const std::string subscriptionId = std::move(s.subscriptionId);
    const std::uint32_t videoId = s.videoId;
    const std::uint64_t serial = s.serial;
    s = Subscriber {}; // drops its frame references now
    --m_live;
    freeSlot(slot);
    m_load.fetch_sub(1, std::memory_order_relaxed);
    m_impl.m_openStreams.fetch_sub(1, std::memory_order_relaxed);
    if (registered)
        m_impl.unregister(subscriptionId, serial);
    m_impl.reconcileVideo(videoId);
    if (m_impl.m_owner.onStreamClosed) {
        const char* why = reason == CloseReason::Client ? "client"
            : reason == CloseReason::Slow               ? "slow"
                                                        : "server";
        m_impl.m_owner.onStreamClosed(subscriptionId, videoId, why);
    }
}

// ---------------------------------------------------------------------------------------------
// Impl

Engine::Impl::Impl(Engine& owner, EngineOptions options)
    : m_owner(owner)
    , m_options(options)
{
    unsigned n = m_options.loops ? m_options.loops : std::thread::hardware_concurrency();
    n = std::max(1u, n);
    for (unsigned i = 0; i < n; ++i)
        m_loops.push_back(std::make_unique<Loop>(*this, i));
}

Engine::Impl::~Impl()
{
    shutdown({}, std::chrono::milliseconds(0));
}

void Engine::Impl::start()
{
    std::lock_guard<std::mutex> lifecycle(m_lifecycleMutex);
    if (m_started || m_stopped)
        return;
    // writev() has no MSG_NOSIGNAL: a peer that vanished must give EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    m_started = true;
    for (auto& loop : m_loops)
        loop->startThread();
    std::lock_guard<std::mutex> lock(m_registryMutex);
    m_accepting = true;
}

bool Engine::Impl::open(int fd, SubscriberInfo info, std::string preamble)
{
    if (fd < 0)
        return false;
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        ::close(fd);
        return false;
    }
    const int one = 1; // small frames must not wait for Nagle; fails harmlessly on AF_UNIX
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    Command c;
    c.kind = Command::Kind::Open;
    c.fd = fd;
    c.videoId = info.videoId;
    c.frame = preamble.empty() ? FramePtr {} : makeFrame(0, std::move(preamble));
    c.extra = std::make_unique<Command::Extra>();
    c.extra->subscriptionId = info.subscriptionId;
    c.extra->userId = info.userId;

    unsigned best = 0;
    for (unsigned i = 1; i < m_loops.size(); ++i)
        if (m_loops[i]->m_load.load(std::memory_order_relaxed)
            < m_loops[best]->m_load.load(std::memory_order_relaxed))
            best = i;
    Loop& loop = *m_loops[best];

    std::lock_guard<std::mutex> lock(m_registryMutex);
    if (!m_accepting || m_registry.count(info.subscriptionId)) {
        ::close(fd);
        return false;
    }
    c.slot = loop.allocSlot();
    c.serial = ++m_nextSerial;
    const auto videoId = info.videoId;
    auto key = info.subscriptionId;
    m_registry.emplace(std::move(key), RegistryEntry { std::move(info), best, c.slot, c.serial });
    ++m_videoCounts[videoId];
    loop.m_load.fetch_add(1, std::memory_order_relaxed);
    m_openStreams.fetch_add(1, std::memory_order_relaxed);
    // Posted under the registry lock so that it is ordered before shutdown()'s command.
    loop.post(std::move(c));
    return true;
}

void Engine::Impl::resume(const std::string& subscriptionId, std::vector<FramePtr> replay)
{
    Command c;
    c.kind = Command::Kind::Resume;
    unsigned loop = 0;
    {
        std::lock_guard<std::mutex> lock(m_registryMutex);
        const auto it = m_registry.find(subscriptionId);
        if (it == m_registry.end())
            return;
        loop = it->second.loop;
        c.slot = it->second.slot;
        c.serial = it->second.serial;
        c.videoId = it->second.info.videoId;
    }
    c.extra = std::make_unique<Command::Extra>();
    c.extra->replay = std::move(replay);
    m_loops[loop]->post(std::move(c));
}

void Engine::Impl::publish(std::uint32_t videoId, FramePtr frame)
{
    post(videoId, std::move(frame), Shape::Raw, std::string());
}

void Engine::Impl::publishComment(
    std::uint32_t videoId, FramePtr frame, const std::string& authorId, bool privileged)
{
    if (m_options.viewerRateCap <= 0 || !frame || frame->bytes.empty()) {
        post(videoId, std::move(frame), Shape::Raw, std::string()); // shaping off: the raw path
        return;
    }
    const bool in = sampleIn(videoId, privileged);
    post(videoId, std::move(frame),
        privileged ? Shape::Privileged
            : in   ? Shape::In
                   : Shape::Out,
        authorId);
}

void Engine::Impl::post(
    std::uint32_t videoId, FramePtr frame, Shape shape, const std::string& authorId)
{
    // After shutdown the loops stop draining their inboxes; a bus still delivering must not
    // make them grow.
    if (!frame || frame->bytes.empty() || m_closed.load(std::memory_order_relaxed))
        return;
    m_framesPublished.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t now = shape == Shape::Raw ? 0 : steadyMs();
    for (auto& loop : m_loops) {
        Command c;
        c.kind = Command::Kind::Publish;
        c.videoId = videoId;
        c.frame = frame;
        c.shape = shape;
        c.postedMs = now;
        if ((shape == Shape::In || shape == Shape::Out) && !authorId.empty()) {
            c.extra = std::make_unique<Command::Extra>();
            c.extra->userId = authorId;
        }
        loop->post(std::move(c));
    }
}

bool Engine::Impl::sampleIn(std::uint32_t videoId, bool privileged)
{
    // One decision per frame for the whole video: a viewer sees the same fair sample as every
    // other viewer (a systematic sample of the arrivals at the cap), and the loops pay nothing
    // per stream for a skipped frame. The burst is a fifth of a second's worth, so a video just
    // above the cap is shaped at once rather than after a long burst.
    const double cap = m_options.viewerRateCap;
    const double burst = std::max(1.0, cap / 5);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::lock_guard<std::mutex> lock(m_shapeMutex);
    Bucket& b = m_buckets[videoId];
    if (b.lastNs == 0)
        b.tokens = burst;
    else
        b.tokens = std::min(burst, b.tokens + static_cast<double>(now - b.lastNs) * 1e-9 * cap);
    b.lastNs = now;
    if (privileged) {
        // Always sent, and counted: a token is borrowed (at most a second's worth of debt), so
        // the crowd's share shrinks and the viewer's total stays at the cap.
        b.tokens = std::max(-cap, b.tokens - 1);
        return true;
    }
    if (b.tokens >= 1) {
        b.tokens -= 1;
        return true;
    }
    return false;
}

void Engine::Impl::setStats(std::uint32_t videoId, std::string json)
{
    if (m_closed.load(std::memory_order_relaxed))
        return;
    for (auto& loop : m_loops) {
        Command c;
        c.kind = Command::Kind::Stats;
        c.videoId = videoId;
        c.extra = std::make_unique<Command::Extra>();
        c.extra->userId = json;
        loop->post(std::move(c));
    }
}

void Engine::Impl::releaseEntry(std::unordered_map<std::string, RegistryEntry>::iterator it)
{
    const auto count = m_videoCounts.find(it->second.info.videoId);
    if (count != m_videoCounts.end() && --count->second == 0)
        m_videoCounts.erase(count);
    m_registry.erase(it);
}

bool Engine::Impl::close(const std::string& subscriptionId)
{
    Command c;
    c.kind = Command::Kind::Close;
    unsigned loop = 0;
    {
        std::lock_guard<std::mutex> lock(m_registryMutex);
        const auto it = m_registry.find(subscriptionId);
        if (it == m_registry.end())
            return false;
        loop = it->second.loop;
        c.slot = it->second.slot;
        c.serial = it->second.serial;
        c.videoId = it->second.info.videoId;
        releaseEntry(it);
    }
    m_loops[loop]->post(std::move(c));
    return true;
}

void Engine::Impl::unregister(const std::string& subscriptionId, std::uint64_t serial)
{
    std::lock_guard<std::mutex> lock(m_registryMutex);
    const auto it = m_registry.find(subscriptionId);
    if (it != m_registry.end() && it->second.serial == serial)
        releaseEntry(it);
}

void Engine::Impl::reconcileVideo(std::uint32_t videoId)
{
    if (!m_owner.onVideoActive)
        return;
    // Every loop reports the state it observes under m_activeMutex, so the callbacks form an
    // alternating true/false sequence that always ends in the current state, whichever loop
    // thread saw which change first.
    std::lock_guard<std::mutex> active(m_activeMutex);
    bool has = false;
    {
        std::lock_guard<std::mutex> lock(m_registryMutex);
        has = m_videoCounts.count(videoId) != 0;
    }
    const bool announced = m_announced.count(videoId) != 0;
    if (has == announced)
        return;
    if (!has) {
        std::lock_guard<std::mutex> shape(m_shapeMutex);
        m_buckets.erase(videoId);
    }
    if (has)
        m_announced.insert(videoId);
    else
        m_announced.erase(videoId);
    m_owner.onVideoActive(videoId, has);
}

void Engine::Impl::statsTick()
{
    if (m_owner.onStatsTick)
        m_owner.onStatsTick();
}

std::optional<SubscriberInfo> Engine::Impl::find(const std::string& subscriptionId) const
{
    std::lock_guard<std::mutex> lock(m_registryMutex);
    const auto it = m_registry.find(subscriptionId);
    if (it == m_registry.end())
        return std::nullopt;
    return it->second.info;
}

std::size_t Engine::Impl::viewers(std::uint32_t videoId) const
{
    std::lock_guard<std::mutex> lock(m_registryMutex);
    const auto it = m_videoCounts.find(videoId);
    return it == m_videoCounts.end() ? 0 : it->second;
}

EngineStats Engine::Impl::stats() const
{
    EngineStats s;
    s.openStreams = m_openStreams.load(std::memory_order_relaxed);
    s.framesPublished = m_framesPublished.load(std::memory_order_relaxed);
    for (const auto& loop : m_loops) {
        s.deliveries += loop->m_deliveries.load(std::memory_order_relaxed);
        s.bytesWritten += loop->m_bytesWritten.load(std::memory_order_relaxed);
        s.slowDisconnects += loop->m_slow.load(std::memory_order_relaxed);
        s.clientDisconnects += loop->m_client.load(std::memory_order_relaxed);
        s.heartbeats += loop->m_heartbeats.load(std::memory_order_relaxed);
        s.overloadSheds += loop->m_shed.load(std::memory_order_relaxed);
    }
    return s;
}

void Engine::Impl::shutdown(
    std::vector<std::string> finalVariants, std::chrono::milliseconds flushTimeout)
{
    std::lock_guard<std::mutex> lifecycle(m_lifecycleMutex);
    if (m_stopped)
        return;
    m_stopped = true;
    m_closed = true;
    if (!m_started)
        return;
    std::vector<FramePtr> finalFrames;
    for (auto& bytes : finalVariants) {
        if (!bytes.empty())
            finalFrames.push_back(makeFrame(0, std::move(bytes)));
    }
    const std::int64_t deadline = steadyMs() + std::max<std::int64_t>(0, flushTimeout.count());
    {
        std::lock_guard<std::mutex> lock(m_registryMutex);
        m_accepting = false;
        for (auto& loop : m_loops) {
            Command c;
            c.kind = Command::Kind::Shutdown;
            c.extra = std::make_unique<Command::Extra>();
            c.extra->replay = finalFrames;
            c.extra->deadlineMs = deadline;
            loop->post(std::move(c));
        }
    }
    for (auto& loop : m_loops)
        loop->join();
}

// ---------------------------------------------------------------------------------------------
// Engine

Engine::Engine(EngineOptions options)
    : m_impl(std::make_unique<Impl>(*this, options))
{ }

Engine::~Engine()
{
    m_impl.reset();
}

void Engine::start()
{
    m_impl->start();
}

bool Engine::open(int fd, SubscriberInfo info, std::string preamble)
{
    return m_impl->open(fd, std::move(info), std::move(preamble));
}

void Engine::resume(const std::string& subscriptionId, std::vector<FramePtr> replay)
{
    m_impl->resume(subscriptionId, std::move(replay));
}

void Engine::publish(std::uint32_t videoId, FramePtr frame)
{
    m_impl->publish(videoId, std::move(frame));
}

void Engine::publishComment(
    std::uint32_t videoId, FramePtr frame, const std::string& authorId, bool privileged)
{
    m_impl->publishComment(videoId, std::move(frame), authorId, privileged);
}

void Engine::setStats(std::uint32_t videoId, std::string json)
{
    m_impl->setStats(videoId, std::move(json));
}

bool Engine::close(const std::string& subscriptionId)
{
    return m_impl->close(subscriptionId);
}

std::optional<SubscriberInfo> Engine::find(const std::string& subscriptionId) const
{
    return m_impl->find(subscriptionId);
}

std::size_t Engine::viewers(std::uint32_t videoId) const
{
    return m_impl->viewers(videoId);
}

EngineStats Engine::stats() const
{
    return m_impl->stats();
}

void Engine::shutdown(std::string finalBytes, std::chrono::milliseconds flushTimeout)
{
    std::vector<std::string> variants;
    variants.push_back(std::move(finalBytes));
    m_impl->shutdown(std::move(variants), flushTimeout);
}

void Engine::shutdown(
    std::vector<std::string> finalVariants, std::chrono::milliseconds flushTimeout)
{
    m_impl->shutdown(std::move(finalVariants), flushTimeout);
}

} // namespace livecomments::server::fanout
