// SPDX-License-Identifier: MIT
#include "http/io_loop.h"

#include <algorithm>

namespace livecomments::detail {

struct IoLoop::Transfer {
    bool stream = false;
    TransferCallbacks callbacks;
    TransferResult result;
};

/// The link from backend sinks to the loop. A backend may report after the loop is gone (its
/// thread races the Client's shutdown), so sinks reach the loop only through this, under a lock.
struct IoLoop::SinkHub {
    std::mutex mutex;
    IoLoop* loop = nullptr;
};

/// Queues every backend event as a loop command (copying the bytes), which wakes the loop.
class IoLoop::Sink final : public HttpBackendSink {
public:
    Sink(std::shared_ptr<SinkHub> hub, TransferId id)
        : m_hub(std::move(hub))
        , m_id(id)
    { }
    void onHead(int status, HttpHeaders headers) override
    {
        send([id = m_id, status, headers = std::move(headers)](
                 IoLoop& l) mutable { l.onHead(id, status, std::move(headers)); });
    }
    void onData(std::string_view chunk) override
    {
        send([id = m_id, bytes = std::string(chunk)](IoLoop& l) { l.onData(id, bytes); });
    }
    void onDone(std::optional<Error> error) override
    {
        send([id = m_id, error = std::move(error)](IoLoop& l) { l.onDone(id, error); });
    }

private:
    template <typename Fn> void send(Fn fn)
    {
        std::lock_guard<std::mutex> lock(m_hub->mutex);
        if (IoLoop* loop = m_hub->loop)
            loop->post([loop, fn = std::move(fn)]() mutable { fn(*loop); });
    }
    std::shared_ptr<SinkHub> m_hub;
    TransferId m_id;
};

IoLoop::IoLoop(std::shared_ptr<HttpBackend> backend)
    : m_backend(backend ? std::move(backend) : makeCurlBackend())
    , m_hub(std::make_shared<SinkHub>())
{
    m_hub->loop = this;
}

IoLoop::~IoLoop()
{
    {
        std::lock_guard<std::mutex> lock(m_hub->mutex);
        m_hub->loop = nullptr;
    }
    // run() has returned (or never ran) and cancelled its transfers; whatever is left goes too.
    if (m_backend) {
        for (auto& [id, t] : m_transfers)
            m_backend->cancel(id);
    }
    m_transfers.clear();
    m_backend.reset(); // ends the backend's I/O (joins its thread) before the loop goes
}

bool IoLoop::post(std::function<void()> fn)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stop)
            return false;
        m_commands.push_back(std::move(fn));
    }
    m_wake.notify_one();
    return true;
}

void IoLoop::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_one();
}

bool IoLoop::stopped() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_stop;
}

TransferId IoLoop::startTransfer(HttpRequest request, TransferCallbacks callbacks)
{
    const TransferId id = m_nextTransfer++;
    auto t = std::make_unique<Transfer>();
    t->stream = request.stream;
    t->callbacks = std::move(callbacks);
    m_transfers.emplace(id, std::move(t));
    ++m_requestCount;
    m_backend->start(id, std::move(request), std::make_shared<Sink>(m_hub, id));
    return id;
}

void IoLoop::cancelTransfer(TransferId id)
{
    if (m_transfers.erase(id))
        m_backend->cancel(id);
}

void IoLoop::onHead(TransferId id, int status, Headers headers)
{
    auto it = m_transfers.find(id);
    if (it == m_transfers.end())
        return;
    Transfer& t = *it->second;
    t.result.response.status = status;
    t.result.response.headers = std::move(headers);
    if (t.callbacks.onHead && !t.callbacks.onHead(t.result.response))
        abortByHandler(id);
}

void IoLoop::onData(TransferId id, const std::string& bytes)
{
    auto it = m_transfers.find(id);
    if (it == m_transfers.end())
        return;
    Transfer& t = *it->second;
    if (!t.stream) {
        t.result.response.body += bytes;
        return;
    }
    if (t.callbacks.onData && !t.callbacks.onData(bytes))
        abortByHandler(id);
}

void IoLoop::onDone(TransferId id, std::optional<Error> error)
{
    auto node = m_transfers.extract(id);
    if (node.empty())
        return;
    Transfer& t = *node.mapped();
    t.result.error = std::move(error);
    if (t.callbacks.onDone)
        t.callbacks.onDone(t.result);
}

void IoLoop::abortByHandler(TransferId id)
{
    // A handler may have cancelled (or replaced) the transfer itself meanwhile.
    auto node = m_transfers.extract(id);
    if (node.empty())
        return;
    m_backend->cancel(id);
    Transfer& t = *node.mapped();
    t.result.abortedByHandler = true;
    if (t.callbacks.onDone)
        t.callbacks.onDone(t.result);
}

TimerId IoLoop::addTimer(std::chrono::milliseconds delay, std::function<void()> fn)
{
    const TimerId id = m_nextTimer++;
    m_timers.emplace(id, std::move(fn));
    m_timerQueue.emplace(Clock::now() + std::max(delay, std::chrono::milliseconds(0)), id);
    return id;
}

void IoLoop::cancelTimer(TimerId id)
{
    m_timers.erase(id);
}

Clock::time_point IoLoop::nextTimerTime() const
{
    // Cancelled timers are skipped lazily; wake at least once a second regardless.
    const auto cap = Clock::now() + std::chrono::seconds(1);
    for (const auto& [when, id] : m_timerQueue) {
        if (m_timers.count(id))
            return std::min(when, cap);
    }
    return cap;
}

void IoLoop::runTimers()
{
    const auto now = Clock::now();
    while (!m_timerQueue.empty() && m_timerQueue.begin()->first <= now) {
        const TimerId id = m_timerQueue.begin()->second;
        m_timerQueue.erase(m_timerQueue.begin());
        auto it = m_timers.find(id);
        if (it == m_timers.end())
            continue;
        auto fn = std::move(it->second);
        m_timers.erase(it);
        fn();
    }
}

void IoLoop::run()
{
    m_threadId = std::this_thread::get_id();
    for (;;) {
        std::vector<std::function<void()>> commands;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_stop)
                break;
            commands.swap(m_commands);
        }
        for (auto& c : commands)
            c();
        commands.clear();
        runTimers();
        const auto until = nextTimerTime();
        std::unique_lock<std::mutex> lock(m_mutex);
        m_wake.wait_until(lock, until, [this] { return m_stop || !m_commands.empty(); });
    }
    // Commands queued before stop() still run once (e.g. a post() that returned its key must
    // reach the outbox table); whatever they start is dropped below.
    for (int round = 0; round < 4; ++round) {
        std::vector<std::function<void()>> pending;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            pending.swap(m_commands);
        }
        if (pending.empty())
            break;
        for (auto& c : pending)
            c();
    }
    // Drop everything on this thread; no callback is called any more.
    for (auto& [id, t] : m_transfers)
        m_backend->cancel(id);
    m_transfers.clear();
    m_timers.clear();
    m_timerQueue.clear();
    std::vector<std::function<void()>> commands;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        commands.swap(m_commands);
    }
    commands.clear();
}

} // namespace livecomments::detail
