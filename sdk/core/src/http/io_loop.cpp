// SPDX-License-Identifier: MIT
#include "http/io_loop.h"

#include "http/curl_handles.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace livecomments::detail {

struct IoLoop::Transfer {
    TransferId id = 0;
    CurlEasy easy;
    CurlSlist headers;
    HttpRequest request;
    TransferCallbacks callbacks;
    TransferResult result;
    bool headDone = false;
    bool cancelled = false;
    bool added = false;
    char errorBuffer[CURL_ERROR_SIZE] = {};
};

IoLoop::IoLoop()
    : m_multi(curl_multi_init())
{ }

IoLoop::~IoLoop()
{
    // run() has returned (or never ran); transfers were dropped there. Clean whatever is left.
    for (auto& [id, t] : m_transfers) {
        if (t->added)
            curl_multi_remove_handle(m_multi, t->easy.get());
    }
    m_transfers.clear();
    if (m_multi)
        curl_multi_cleanup(m_multi);
}

bool IoLoop::post(std::function<void()> fn)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_stop)
            return false;
        m_commands.push_back(std::move(fn));
    }
    curl_multi_wakeup(m_multi);
    return true;
}

void IoLoop::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    if (m_multi)
        curl_multi_wakeup(m_multi);
}

bool IoLoop::stopped() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_stop;
}

TransferId IoLoop::startTransfer(HttpRequest request, TransferCallbacks callbacks)
{
    auto t = std::make_unique<Transfer>();
    t->id = m_nextTransfer++;
    t->request = std::move(request);
    t->callbacks = std::move(callbacks);
    const TransferId id = t->id;
    m_transfers.emplace(id, std::move(t));
    m_toAdd.push_back(id); // added outside libcurl callbacks (multi calls are not re-entrant)
    return id;
}

void IoLoop::cancelTransfer(TransferId id)
{
    auto it = m_transfers.find(id);
    if (it == m_transfers.end() || it->second->cancelled)
        return;
    it->second->cancelled = true;
    m_toRemove.push_back(id);
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

std::size_t IoLoop::writeCallback(char* data, std::size_t size, std::size_t n, void* user)
{
    // No exception may cross into libcurl: every handler body is wrapped.
    auto* t = static_cast<Transfer*>(user);
    const std::size_t bytes = size * n;
    try {
        if (t->cancelled)
            return 0;
        if (!t->headDone) {
            t->headDone = true;
            if (t->callbacks.onHead && !t->callbacks.onHead(t->result.response)) {
                t->result.abortedByHandler = true;
                return 0;
            }
        }
        if (t->request.stream) {
            if (t->callbacks.onData && !t->callbacks.onData(std::string_view(data, bytes))) {
                t->result.abortedByHandler = true;
                return 0;
            }
        } else {
            t->result.response.body.append(data, bytes);
        }
        return bytes;
    } catch (...) {
        t->result.abortedByHandler = true;
        return 0;
    }
}

std::size_t IoLoop::headerCallback(char* data, std::size_t size, std::size_t n, void* user)
{
    auto* t = static_cast<Transfer*>(user);
    const std::size_t bytes = size * n;
    try {
        std::string_view line(data, bytes);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
            line.remove_suffix(1);
        auto& resp = t->result.response;
        if (line.rfind("HTTP/", 0) == 0) {
            // A new status line (after 1xx or a redirect): start over.
            resp.headers.clear();
            resp.status = 0;
            const auto sp = line.find(' ');
            if (sp != std::string_view::npos && line.size() >= sp + 4)
                resp.status = std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
            return bytes;
        }
        if (line.empty()) {
            // End of a header block. Only the final (non-1xx) one counts.
            if (resp.status >= 200 && !t->headDone) {
                t->headDone = true;
                if (t->callbacks.onHead && !t->cancelled && !t->callbacks.onHead(resp)) {
                    t->result.abortedByHandler = true;
                    return 0;
                }
            }
            return bytes;
        }
        const auto colon = line.find(':');
        if (colon != std::string_view::npos) {
            std::string name(line.substr(0, colon));
            for (auto& c : name)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string_view value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
                value.remove_prefix(1);
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
                value.remove_suffix(1);
            resp.headers.emplace_back(std::move(name), std::string(value));
        }
        return bytes;
    } catch (...) {
        t->result.abortedByHandler = true;
        return 0;
    }
}

void IoLoop::addPending()
{
    auto ids = std::move(m_toAdd);
    m_toAdd.clear();
    for (TransferId id : ids) {
        auto it = m_transfers.find(id);
        if (it == m_transfers.end() || it->second->cancelled)
            continue;
        Transfer& t = *it->second;
        const HttpRequest& r = t.request;
        t.easy.reset(curl_easy_init());
        CURL* e = t.easy.get();
        bool ok = e != nullptr;
        if (ok) {
            curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
            curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
            curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &IoLoop::writeCallback);
            curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
            curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &IoLoop::headerCallback);
            curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
            curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errorBuffer);
            curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
            curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
            curl_easy_setopt(
                e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connectTimeout.count()));
            if (!r.stream && r.timeout.count() > 0)
                curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
            if (!r.userAgent.empty())
                curl_easy_setopt(e, CURLOPT_USERAGENT, r.userAgent.c_str());
            if (r.method == "POST") {
                curl_easy_setopt(e, CURLOPT_POST, 1L);
                curl_easy_setopt(
                    e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
            } else if (r.method != "GET") {
                curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
                if (!r.body.empty()) {
                    curl_easy_setopt(
                        e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
                    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
                }
            }
            for (const auto& [name, value] : r.headers) {
                const std::string line = name + ": " + value;
                ok = ok && appendHeader(t.headers, line.c_str());
            }
            // No "Expect: 100-continue" round trip for small JSON bodies.
            ok = ok && appendHeader(t.headers, "Expect:");
            curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headers.get());
        }
        if (ok && curl_multi_add_handle(m_multi, e) == CURLM_OK) {
            t.added = true;
            ++m_requestCount;
            continue;
        }
        // Could not even start: report it as a failed transfer on the next turn.
        t.cancelled = true;
        m_toRemove.push_back(id);
        auto onDone = std::move(t.callbacks.onDone);
        if (onDone) {
            TransferResult res;
            res.error = Error { ErrorCode::Internal, "could not start HTTP request", 0, -1 };
            m_timers.emplace(m_nextTimer, [onDone, res]() mutable { onDone(res); });
            m_timerQueue.emplace(Clock::now(), m_nextTimer++);
        }
    }
}

void IoLoop::removeCancelled()
{
    auto ids = std::move(m_toRemove);
    m_toRemove.clear();
    for (TransferId id : ids) {
        auto it = m_transfers.find(id);
        if (it == m_transfers.end())
            continue;
        if (it->second->added)
            curl_multi_remove_handle(m_multi, it->second->easy.get());
        m_transfers.erase(it);
    }
}

void IoLoop::finishDone()
{
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m_multi, &queued)) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
        if (!t)
            continue;
        const CURLcode code = msg->data.result;
        curl_multi_remove_handle(m_multi, t->easy.get());
        t->added = false;
        auto node = m_transfers.extract(t->id);
        if (node.empty() || t->cancelled)
            continue;
        TransferResult& res = t->result;
        if (code != CURLE_OK && !res.abortedByHandler)
            res.error = errorFromCurl(code, t->errorBuffer);
        if (res.response.status == 0) {
            long status = 0;
            curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
            res.response.status = static_cast<int>(status);
        }
        if (!t->headDone && !res.error && !res.abortedByHandler && t->callbacks.onHead) {
            // A response without body (e.g. 204) still gets its head callback.
            t->headDone = true;
            if (!t->callbacks.onHead(res.response))
                res.abortedByHandler = true;
        }
        if (t->callbacks.onDone)
            t->callbacks.onDone(res);
    }
}

std::chrono::milliseconds IoLoop::nextTimerDelay() const
{
    // Skip cancelled timers lazily.
    for (const auto& [when, id] : m_timerQueue) {
        if (m_timers.count(id)) {
            const auto d
                = std::chrono::duration_cast<std::chrono::milliseconds>(when - Clock::now());
            return std::max(d + std::chrono::milliseconds(1), std::chrono::milliseconds(0));
        }
    }
    return std::chrono::milliseconds(1000);
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
        removeCancelled();
        addPending();
        int running = 0;
        curl_multi_perform(m_multi, &running);
        finishDone();
        runTimers();
        removeCancelled();
        addPending();
        if (!m_toAdd.empty())
            continue;
        const auto delay = std::min(nextTimerDelay(), std::chrono::milliseconds(1000));
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_stop)
                break;
            if (!m_commands.empty())
                continue;
        }
        curl_multi_poll(m_multi, nullptr, 0, static_cast<int>(delay.count()), nullptr);
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
    for (auto& [id, t] : m_transfers) {
        if (t->added)
            curl_multi_remove_handle(m_multi, t->easy.get());
        t->added = false;
    }
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
