// SPDX-License-Identifier: MIT
#include "client/client_core.h"

#include "client/redirect.h"
#include "client/wire.h"
#include "json/json.h"

#include <curl/curl.h>

#include <algorithm>
#include <random>

namespace livecomments::detail {

namespace {
std::once_flag g_curlInit;

std::string randomKey()
{
    // 128 random bits as 32 hex digits.
    static thread_local std::mt19937_64 rng([] {
        std::random_device rd;
        std::seed_seq seq { rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd() };
        return std::mt19937_64(seq);
    }());
    static const char kHex[] = "0123456789abcdef";
    std::string key;
    for (int half = 0; half < 2; ++half) {
        std::uint64_t v = rng();
        for (int i = 0; i < 16; ++i) {
            key += kHex[v & 0xF];
            v >>= 4;
        }
    }
    return key;
}

bool validBaseUrl(const std::string& url)
{
    return (url.rfind("http://", 0) == 0 && url.size() > 7)
        || (url.rfind("https://", 0) == 0 && url.size() > 8);
}

Error invalid(std::string what)
{
    return Error { ErrorCode::InvalidArgument, std::move(what), 0, -1 };
}

std::optional<std::string> base64UrlDecode(std::string_view in)
{
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-' || c == '+')
            v = 62;
        else if (c == '_' || c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}
} // namespace

std::string identityOfToken(const std::string& token)
{
    if (token.empty())
        return {};
    // A JWT's payload names the user (`sub`); the SDK only reads it, the server verifies it.
    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 != std::string::npos) {
        if (auto payload
            = base64UrlDecode(std::string_view(token).substr(dot1 + 1, dot2 - dot1 - 1))) {
            if (auto v = json::parse(*payload); v && v->isObject()) {
                if (auto sub = idText(v->find("sub")))
                    return *sub;
            }
        }
    }
    // An opaque token: its own fingerprint (FNV-1a), so two different tokens never share posts.
    std::uint64_t h = 1469598103934665603ull;
    for (const unsigned char c : token) {
        h ^= c;
        h *= 1099511628211ull;
    }
    static const char kHex[] = "0123456789abcdef";
    std::string id = "token:";
    for (int i = 15; i >= 0; --i)
        id += kHex[(h >> (i * 4)) & 0xF];
    return id;
}

Result<std::shared_ptr<ClientCore>> ClientCore::create(ClientConfig config)
{
    if (!validBaseUrl(config.baseUrl))
        return invalid("baseUrl must be an http:// or https:// URL, got '" + config.baseUrl + "'");
    if (config.baseUrl.find_first_of(" \r\n\t") != std::string::npos)
        return invalid("baseUrl contains whitespace");
    while (!config.baseUrl.empty() && config.baseUrl.back() == '/')
        config.baseUrl.pop_back();
    if (!config.tls.caFile.empty() && !config.tls.caPem.empty())
        return invalid("tls: set caFile or caPem, not both");
    if (!config.tls.verifyPeer && config.onLog) {
        config.onLog(LogLevel::Warning,
            "tls.verifyPeer is off: any certificate is accepted (for test setups only)");
    }
    std::call_once(g_curlInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    std::shared_ptr<ClientCore> core(new ClientCore(std::move(config)));
    if (!core->m_loop->valid())
        return Error { ErrorCode::Internal, "cannot start the HTTP backend", 0, -1 };
    // Before the I/O thread exists (so without locking): pendingPosts() right after create()
    // must already list the restored entries.
    core->openCache();
    try {
        core->m_thread = std::thread([core] {
            core->startOnLoop();
            core->m_loop->run();
            // Close handles and release impls and outbox callbacks on this thread, before the
            // core can go away.
            auto handles = std::move(core->m_handles);
            for (auto& w : handles) {
                if (auto h = w.lock())
                    h->shutdownOnLoop();
            }
            core->m_outbox.clear();
            core->m_cache.reset();
        });
    } catch (const std::exception& e) {
        return Error { ErrorCode::Internal, std::string("cannot start I/O thread: ") + e.what(), 0,
            -1 };
    }
    return core;
}

ClientCore::ClientCore(ClientConfig config)
    : m_config(std::move(config))
    , m_loop(std::make_unique<IoLoop>(m_config.httpBackend))
    , m_outboxBackoff(m_config.backoff)
{ }

ClientCore::~ClientCore()
{
    m_loop->stop();
    if (m_thread.joinable()) {
        if (std::this_thread::get_id() == m_thread.get_id())
            m_thread.detach();
        else
            m_thread.join();
    }
}

void ClientCore::openCache()
{
    m_owner.server = m_config.baseUrl;
    m_owner.user = m_config.userId.empty() ? identityOfToken(token()) : m_config.userId;
    if (m_config.cache.path.empty())
        return;
    m_cache
        = Cache::open(m_config.cache.path, m_config.cache.maxBytes, &m_cacheNote, &m_cacheError);
    if (!m_cache)
        return;
    bool cleared = false;
    m_cache->bindServer(m_owner.server, &cleared);
    if (cleared)
        m_cacheNote = "cache file " + m_config.cache.path
            + " was used with another server; its pages were dropped";
    for (auto& e : m_cache->outboxLoad(m_owner)) {
        // Restored entries keep their key: a re-send is deduplicated by the server.
        m_outboxSnapshot.push_back(e);
        m_outbox.push_back(OutboxItem { std::move(e), {} });
    }
    m_cache->enforceLimit();
}

void ClientCore::startOnLoop()
{
    if (!m_cacheNote.empty())
        log(LogLevel::Warning, m_cacheNote);
    if (m_config.onError) {
        auto cb = m_config.onError;
        if (!m_cacheNote.empty()) {
            const std::string note = m_cacheNote;
            deliver(nullptr, [cb, note] { cb(Error { ErrorCode::Cache, note, 0, -1 }); });
        }
        if (!m_cache && !m_config.cache.path.empty()) {
            const Error error = m_cacheError;
            deliver(nullptr, [cb, error] { cb(error); });
        }
    }
    for (const auto& item : m_outbox)
        outboxReport(item);
    if (m_config.onOutboxLoaded) {
        // Queued behind the reports above, so a receiver sees them first.
        auto cb = m_config.onOutboxLoaded;
        const std::size_t restored = m_outbox.size();
        deliver(nullptr, [cb, restored] { cb(restored); });
    }
    outboxPump();
}

bool ClientCore::post(std::function<void()> fn)
{
    if (m_closed)
        return false;
    return m_loop->post(std::move(fn));
}

void ClientCore::deliver(const std::shared_ptr<HandleGate>& handle, std::function<void()> fn)
{
    auto self = shared_from_this();
    auto task = [self, handle, fn = std::move(fn)] {
        std::lock_guard<std::recursive_mutex> lock(self->m_gateMutex);
        if (!self->m_gateOpen || (handle && !handle->open))
            return;
        try {
            fn();
        } catch (...) {
            // User code must not throw into the SDK; the exception stops here.
        }
    };
    if (m_config.executor) {
        try {
            m_config.executor(std::move(task));
        } catch (...) { }
    } else {
        task();
    }
}

void ClientCore::closeGate(HandleGate& handle)
{
    std::lock_guard<std::recursive_mutex> lock(m_gateMutex);
    handle.open = false;
}

void ClientCore::registerHandle(const std::shared_ptr<Closable>& handle)
{
    m_handles.erase(std::remove_if(m_handles.begin(), m_handles.end(),
                        [](const std::weak_ptr<Closable>& w) { return w.expired(); }),
        m_handles.end());
    m_handles.push_back(handle);
}

void ClientCore::shutdown()
{
    {
        std::lock_guard<std::recursive_mutex> lock(m_gateMutex);
        m_gateOpen = false;
    }
    if (m_closed.exchange(true))
        return;
    m_loop->stop();
    if (m_thread.joinable() && std::this_thread::get_id() != m_thread.get_id())
        m_thread.join();
}

std::string ClientCore::url(const std::string& path) const
{
    return m_config.baseUrl + path;
}

std::string ClientCore::token()
{
    {
        std::lock_guard<std::mutex> lock(m_tokenMutex);
        if (m_refreshedToken)
            return *m_refreshedToken;
    }
    if (!m_config.tokenProvider)
        return {};
    try {
        return m_config.tokenProvider();
    } catch (...) {
        return {};
    }
}

void ClientCore::log(LogLevel level, const std::string& message) const
{
    if (!m_config.onLog)
        return;
    try {
        m_config.onLog(level, message);
    } catch (...) {
        // A throwing log hook must not take the I/O thread down.
    }
}

HttpRequest ClientCore::makeRequest(std::string method, const std::string& path)
{
    return makeRequest(std::move(method), path, token());
}

HttpRequest ClientCore::makeRequest(
    std::string method, const std::string& path, const std::string& t)
{
    HttpRequest r;
    r.method = std::move(method);
    r.url = url(path);
    r.connectTimeout = m_config.connectTimeout;
    r.timeout = m_config.requestTimeout;
    r.userAgent = m_config.userAgent;
    r.tls = m_config.tls;
    if (!t.empty() && t.find_first_of("\r\n") == std::string::npos)
        r.headers.emplace_back("Authorization", "Bearer " + t);
    return r;
}

static bool hasAuthorization(const HttpRequest& request)
{
    return std::any_of(request.headers.begin(), request.headers.end(),
        [](const auto& h) { return h.first == "Authorization" || h.first == "authorization"; });
}

void ClientCore::refreshToken(std::function<void(bool)> then)
{
    m_refreshWaiters.push_back(std::move(then));
    if (m_refreshWaiters.size() > 1)
        return; // one refresh at a time; its answer serves every waiter
    log(LogLevel::Info, "HTTP 401: asking the app for a new token");
    std::weak_ptr<ClientCore> weak = shared_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    auto done = [weak, answered](std::string fresh) {
        if (answered->exchange(true))
            return; // a second answer is ignored
        auto self = weak.lock();
        if (!self)
            return;
        self->post([self, fresh = std::move(fresh)] {
            const bool ok = !fresh.empty() && fresh.find_first_of("\r\n") == std::string::npos;
            if (ok) {
                std::lock_guard<std::mutex> lock(self->m_tokenMutex);
                self->m_refreshedToken = fresh;
            }
            auto waiters = std::move(self->m_refreshWaiters);
            self->m_refreshWaiters.clear();
            for (auto& w : waiters)
                w(ok);
        });
    };
    try {
        m_config.tokenRefresher(done);
    } catch (...) {
        done({});
    }
}

void ClientCore::startRequest(
    HttpRequest request, TransferCallbacks callbacks, int hops, bool refreshed)
{
    auto self = shared_from_this();
    auto original = std::make_shared<HttpRequest>(request); // the next hop starts from it
    auto done = std::move(callbacks.onDone);
    callbacks.onDone = [self, original, done, hops, refreshed](TransferResult& r) {
        if (!r.error && r.response.status == 401 && !refreshed && self->m_config.tokenRefresher
            && hasAuthorization(*original) && !self->closed()) {
            // One refresh-and-retry: the same request with the app's new token.
            auto result = std::make_shared<TransferResult>(r);
            self->refreshToken([self, original, done, hops, result](bool ok) {
                if (!ok) {
                    if (done)
                        done(*result);
                    return;
                }
                HttpRequest again = *original;
                auto& h = again.headers;
                h.erase(std::remove_if(h.begin(), h.end(),
                            [](const auto& p) {
                                return p.first == "Authorization" || p.first == "authorization";
                            }),
                    h.end());
                h.emplace_back("Authorization", "Bearer " + self->token());
                TransferCallbacks cbs;
                cbs.onDone = done;
                self->startRequest(std::move(again), std::move(cbs), hops, true);
            });
            return;
        }
        const auto target = r.error ? std::nullopt : redirectTarget(original->url, r.response);
        if (target && hops < kMaxRedirects && !self->closed()) {
            self->log(LogLevel::Debug,
                "HTTP " + std::to_string(r.response.status) + " redirect: " + original->method + " "
                    + original->url + " -> " + *target);
            HttpRequest next = *original;
            applyRedirect(next, r.response.status, *target);
            TransferCallbacks cbs;
            cbs.onDone = done;
            self->startRequest(std::move(next), std::move(cbs), hops + 1, refreshed);
            return;
        }
        if (target && !r.error) {
            r.error = Error { ErrorCode::HttpError,
                "more than " + std::to_string(kMaxRedirects) + " redirects", r.response.status,
                -1 };
        }
        if (done)
            done(r);
    };
    log(LogLevel::Debug, request.method + " " + request.url);
    m_loop->startTransfer(std::move(request), std::move(callbacks));
}

void ClientCore::fetchHistoryOnLoop(
    VideoId video, const HistoryQuery& query, std::function<void(Result<HistoryPage>)> done)
{
    std::string path = "/videos/" + std::to_string(video)
        + "/comments?limit=" + std::to_string(std::clamp(query.limit, 1, 200));
    if (query.before)
        path += "&before=" + urlEncode(*query.before);
    if (query.after)
        path += "&after=" + urlEncode(*query.after);
    HttpRequest req = makeRequest("GET", path);
    req.headers.emplace_back("Accept", "application/json");
    TransferCallbacks cbs;
    cbs.onDone = [done = std::move(done)](TransferResult& r) {
        if (r.error)
            return done(*r.error);
        if (r.response.status != 200)
            return done(errorFromHttp(r.response));
        done(parseHistoryPage(r.response.body));
    };
    startRequest(std::move(req), std::move(cbs));
}

Result<std::string> ClientCore::enqueuePost(
    VideoId video, std::string text, std::function<void(const OutboxEntry&)> onUpdate)
{
    if (m_closed)
        return Error { ErrorCode::Closed, "client is closed", 0, -1 };
    if (video <= 0)
        return invalid("video id must be positive");
    if (text.size() > 64 * 1024)
        return invalid("comment text is too long");
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
        return invalid("comment text is empty");
    if (!json::isValidUtf8(text))
        return invalid("comment text is not valid UTF-8");
    OutboxItem item;
    item.entry.key = randomKey();
    item.entry.videoId = video;
    item.entry.text = std::move(text);
    item.onUpdate = std::move(onUpdate);
    const std::string key = item.entry.key;
    {
        std::lock_guard<std::mutex> lock(m_snapshotMutex);
        m_outboxSnapshot.push_back(item.entry);
    }
    auto self = shared_from_this();
    const bool queued = post([self, item = std::move(item)]() mutable {
        if (self->m_cache)
            self->m_cache->outboxAdd(item.entry, self->m_owner);
        self->m_outbox.push_back(std::move(item));
        self->outboxReport(self->m_outbox.back());
        self->outboxPump();
    });
    if (!queued)
        return Error { ErrorCode::Closed, "client is closed", 0, -1 };
    return key;
}

void ClientCore::cancelPost(const std::string& key)
{
    auto self = shared_from_this();
    post([self, key] {
        auto it = std::find_if(self->m_outbox.begin(), self->m_outbox.end(),
            [&](const OutboxItem& i) { return i.entry.key == key; });
        if (it == self->m_outbox.end())
            return;
        if (it == self->m_outbox.begin() && self->m_outboxInFlight)
            return; // already on the wire; its answer decides
        it->entry.state = PostState::Failed;
        it->entry.error = Error { ErrorCode::Closed, "cancelled", 0, -1 };
        self->outboxReport(*it);
        self->outboxFinish(key);
    });
}

std::vector<OutboxEntry> ClientCore::pendingPosts() const
{
    std::lock_guard<std::mutex> lock(m_snapshotMutex);
    return m_outboxSnapshot;
}

void ClientCore::updateSnapshot(const OutboxEntry& entry, bool remove)
{
    // Entry by entry (never a wholesale copy of m_outbox): post() adds to the snapshot before
    // the loop has seen the entry, and such entries must not disappear meanwhile.
    std::lock_guard<std::mutex> lock(m_snapshotMutex);
    auto it = std::find_if(m_outboxSnapshot.begin(), m_outboxSnapshot.end(),
        [&](const OutboxEntry& e) { return e.key == entry.key; });
    if (remove) {
        if (it != m_outboxSnapshot.end())
            m_outboxSnapshot.erase(it);
    } else if (it != m_outboxSnapshot.end()) {
        *it = entry;
    } else {
        m_outboxSnapshot.push_back(entry);
    }
}

void ClientCore::outboxReport(const OutboxItem& item)
{
    const OutboxEntry entry = item.entry;
    updateSnapshot(entry, entry.state != PostState::Pending);
    if (item.onUpdate) {
        auto cb = item.onUpdate;
        deliver(nullptr, [cb, entry] { cb(entry); });
    }
    if (m_config.onOutbox) {
        auto cb = m_config.onOutbox;
        deliver(nullptr, [cb, entry] { cb(entry); });
    }
    // Timelines showing own posts as pending (a copy: a handle may register meanwhile).
    auto handles = m_handles;
    for (auto& w : handles) {
        if (auto h = w.lock())
            h->outboxChangedOnLoop(entry);
    }
}

void ClientCore::outboxFinish(const std::string& key)
{
    if (m_cache)
        m_cache->outboxRemove(key);
    m_outbox.erase(std::remove_if(m_outbox.begin(), m_outbox.end(),
                       [&](const OutboxItem& i) { return i.entry.key == key; }),
        m_outbox.end());
}

void ClientCore::serverReachable()
{
    if (m_outboxTimer && !m_outboxInFlight) {
        m_loop->cancelTimer(m_outboxTimer);
        m_outboxTimer = 0;
        outboxPump();
    }
}

bool ClientCore::tokenIsOwners(const std::string& token) const
{
    const std::string id = identityOfToken(token);
    if (id == m_owner.user)
        return true;
    // An explicit ClientConfig::userId with an opaque token: nothing to compare, trust the app.
    return !m_config.userId.empty() && id.rfind("token:", 0) == 0;
}

template <typename Fn> void forEachHandle(std::vector<std::weak_ptr<Closable>>& handles, Fn fn)
{
    // A copy: a handle may register or close others from inside.
    const auto copy = handles;
    for (const auto& w : copy) {
        if (auto h = w.lock())
            fn(*h);
    }
}

void ClientCore::suspendOnLoop()
{
    if (m_suspended)
        return;
    log(LogLevel::Info, "suspended: streams closed, outbox paused");
    m_suspended = true;
    forEachHandle(m_handles, [](Closable& h) { h.suspendOnLoop(); });
    // A post on the wire finishes (its answer is kept); a waiting retry waits for resume().
    if (m_outboxTimer)
        m_loop->cancelTimer(m_outboxTimer);
    m_outboxTimer = 0;
}

void ClientCore::resumeOnLoop()
{
    if (!m_suspended)
        return;
    log(LogLevel::Info, "resumed");
    m_suspended = false;
    forEachHandle(m_handles, [](Closable& h) { h.resumeOnLoop(); });
    m_outboxBackoff.reset();
    outboxPump();
}

void ClientCore::reconnectNowOnLoop()
{
    if (m_suspended)
        return;
    log(LogLevel::Info, "reconnecting now (network changed or asked)");
    forEachHandle(m_handles, [](Closable& h) { h.reconnectNowOnLoop(); });
    m_outboxBackoff.reset();
    serverReachable();
}

void ClientCore::outboxPump()
{
    if (m_outboxInFlight || m_outboxTimer || m_outbox.empty() || m_closed || m_suspended)
        return;
    OutboxItem& item = m_outbox.front();
    const std::string key = item.entry.key;
    const std::string t = token();
    if (!tokenIsOwners(t)) {
        // The token now names another user: this entry is not theirs to send. It waits (in
        // memory and in the cache) until the token is its owner's again.
        item.entry.error = Error { ErrorCode::Forbidden,
            "the current token belongs to another user than the one who wrote this comment", 403,
            -1 };
        outboxReport(item);
        auto self = shared_from_this();
        m_outboxTimer = m_loop->addTimer(m_outboxBackoff.nextDelay(), [self] {
            self->m_outboxTimer = 0;
            self->outboxPump();
        });
        return;
    }
    HttpRequest req
        = makeRequest("POST", "/videos/" + std::to_string(item.entry.videoId) + "/comments", t);
    req.headers.emplace_back("Content-Type", "application/json");
    req.headers.emplace_back("Accept", "application/json");
    req.headers.emplace_back("Idempotency-Key", key);
    req.body = "{\"text\":" + json::quoted(item.entry.text) + "}";
    ++item.entry.attempts;
    if (m_cache)
        m_cache->outboxSetAttempts(key, item.entry.attempts);
    m_outboxInFlight = true;
    auto self = shared_from_this();
    TransferCallbacks cbs;
    cbs.onDone = [self, key](TransferResult& r) {
        self->m_outboxInFlight = false;
        auto it = std::find_if(self->m_outbox.begin(), self->m_outbox.end(),
            [&](const OutboxItem& i) { return i.entry.key == key; });
        if (it == self->m_outbox.end())
            return self->outboxPump();
        OutboxItem& item = *it;
        std::optional<Error> error = r.error;
        if (!error && (r.response.status == 200 || r.response.status == 201)) {
            auto comment = parseComment(r.response.body);
            item.entry.state = PostState::Sent;
            item.entry.error.reset();
            if (comment)
                item.entry.comment = *comment;
            self->m_outboxBackoff.reset();
            self->outboxReport(item);
            self->outboxFinish(key);
            return self->outboxPump();
        }
        if (!error)
            error = errorFromHttp(r.response);
        item.entry.error = *error;
        if (!error->isRecoverable()) {
            self->log(LogLevel::Error, "post " + key + " failed for good: " + error->message);
            item.entry.state = PostState::Failed;
            self->outboxReport(item);
            self->outboxFinish(key);
            return self->outboxPump();
        }
        // Recoverable: same key again after a backoff delay (Retry-After wins when longer).
        self->outboxReport(item);
        self->log(LogLevel::Warning,
            "post " + key + " not sent (attempt " + std::to_string(item.entry.attempts)
                + "): " + error->message);
        if (self->m_suspended)
            return; // resume() pumps again
        auto delay = self->m_outboxBackoff.nextDelay();
        if (error->retryAfterMs > delay.count())
            delay = std::chrono::milliseconds(error->retryAfterMs);
        self->m_outboxTimer = self->m_loop->addTimer(delay, [self] {
            self->m_outboxTimer = 0;
            self->outboxPump();
        });
    };
    startRequest(std::move(req), std::move(cbs));
}

} // namespace livecomments::detail
