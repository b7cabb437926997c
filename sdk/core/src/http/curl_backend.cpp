// SPDX-License-Identifier: MIT
// The default HttpBackend: a libcurl multi handle driven by a thread of its own
// (curl_multi_poll + curl_multi_wakeup). It only moves bytes; the core's I/O loop interprets them.
#include "http/curl_handles.h"
#include "http/http.h"

#include <cctype>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace livecomments {

namespace {

std::once_flag g_curlGlobalInit;

class CurlBackend final : public HttpBackend {
public:
    CurlBackend()
    {
        std::call_once(g_curlGlobalInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
        m_multi.reset(curl_multi_init());
        if (m_multi)
            m_thread = std::thread([this] { run(); });
    }

    ~CurlBackend() override
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_stop = true;
        }
        if (m_multi)
            curl_multi_wakeup(m_multi.get());
        if (m_thread.joinable())
            m_thread.join();
        for (auto& [id, t] : m_transfers) {
            if (t->added)
                curl_multi_remove_handle(m_multi.get(), t->easy.get());
        }
        m_transfers.clear();
    }

    bool valid() const { return m_multi != nullptr && m_thread.joinable(); }

    void start(
        RequestId id, HttpBackendRequest request, std::shared_ptr<HttpBackendSink> sink) override
    {
        auto t = std::make_shared<Transfer>();
        t->id = id;
        t->request = std::move(request);
        t->sink = std::move(sink);
        queue([this, t] { add(t); });
    }

    void cancel(RequestId id) override
    {
        queue([this, id] { remove(id); });
    }

    const char* name() const override { return "curl"; }

private:
    struct Transfer {
        RequestId id = 0;
        detail::CurlEasy easy;
        detail::CurlSlist headerList;
        HttpBackendRequest request;
        std::shared_ptr<HttpBackendSink> sink;
        int status = 0;
        HttpHeaders headers;
        bool headDone = false;
        bool added = false;
        char errorBuffer[CURL_ERROR_SIZE] = {};
    };

    void queue(std::function<void()> command)
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_stop)
                return;
            m_commands.push_back(std::move(command));
        }
        curl_multi_wakeup(m_multi.get());
    }

    static void deliverHead(Transfer& t)
    {
        if (t.headDone)
            return;
        t.headDone = true;
        t.sink->onHead(t.status, std::move(t.headers));
        t.headers.clear();
    }

    static std::size_t writeCallback(char* data, std::size_t size, std::size_t n, void* user)
    {
        // Nothing may throw into libcurl; a failing sink ends the transfer.
        auto* t = static_cast<Transfer*>(user);
        try {
            if (!t->headDone)
                deliverHead(*t);
            t->sink->onData(std::string_view(data, size * n));
            return size * n;
        } catch (...) {
            return 0;
        }
    }

    static std::size_t headerCallback(char* data, std::size_t size, std::size_t n, void* user)
    {
        auto* t = static_cast<Transfer*>(user);
        const std::size_t bytes = size * n;
        try {
            std::string_view line(data, bytes);
            while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
                line.remove_suffix(1);
            if (line.rfind("HTTP/", 0) == 0) {
                // A new status line (after 1xx): start over.
                t->headers.clear();
                t->status = 0;
                const auto sp = line.find(' ');
                if (sp != std::string_view::npos && line.size() >= sp + 4)
                    t->status = std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
                return bytes;
            }
            if (line.empty()) {
                // End of a header block; only the final (non-1xx) one is reported.
                if (t->status >= 200)
                    deliverHead(*t);
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
                t->headers.emplace_back(std::move(name), std::string(value));
            }
            return bytes;
        } catch (...) {
            return 0;
        }
    }

    static void setUpTls(CURL* e, const TlsOptions& tls)
    {
        // A CA of the app's replaces the system store (CAINFO and CAPATH): the same trust
        // QSslConfiguration::setCaCertificates() gives the Qt backend.
        if (!tls.caFile.empty() || !tls.caPem.empty())
            curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
        if (!tls.caFile.empty())
            curl_easy_setopt(e, CURLOPT_CAINFO, tls.caFile.c_str());
        if (!tls.caPem.empty()) {
            curl_easy_setopt(e, CURLOPT_CAINFO, nullptr);
            curl_blob blob {};
            blob.data = const_cast<char*>(tls.caPem.data());
            blob.len = tls.caPem.size();
            blob.flags = CURL_BLOB_COPY;
            curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        }
        if (!tls.verifyPeer) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }

    bool setUp(Transfer& t)
    {
        const HttpBackendRequest& r = t.request;
        t.easy.reset(curl_easy_init());
        CURL* e = t.easy.get();
        if (!e)
            return false;
        curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
        curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlBackend::writeCallback);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlBackend::headerCallback);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
        // libcurl honours the standard proxy variables (https_proxy, all_proxy, no_proxy, …) and
        // tunnels https:// through an HTTP proxy with CONNECT. The proxy's own answer ("200
        // Connection established", no headers) must not reach headerCallback() as the server's.
        curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errorBuffer);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connectTimeout.count()));
        if (!r.stream && r.timeout.count() > 0)
            curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
        if (!r.userAgent.empty())
            curl_easy_setopt(e, CURLOPT_USERAGENT, r.userAgent.c_str());
        setUpTls(e, r.tls);
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
        bool ok = true;
        for (const auto& [name, value] : r.headers) {
            const std::string line = name + ": " + value;
            ok = ok && detail::appendHeader(t.headerList, line.c_str());
        }
        // No "Expect: 100-continue" round trip for small JSON bodies.
        ok = ok && detail::appendHeader(t.headerList, "Expect:");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.headerList.get());
        return ok;
    }

    void add(const std::shared_ptr<Transfer>& shared)
    {
        auto owned = std::make_unique<Transfer>();
        Transfer& t = *owned;
        t.id = shared->id;
        t.request = std::move(shared->request);
        t.sink = std::move(shared->sink);
        if (setUp(t) && curl_multi_add_handle(m_multi.get(), t.easy.get()) == CURLM_OK) {
            t.added = true;
            m_transfers[t.id] = std::move(owned);
            return;
        }
        t.sink->onDone(Error { ErrorCode::Internal, "could not start HTTP request", 0, -1 });
    }

    void remove(RequestId id)
    {
        auto it = m_transfers.find(id);
        if (it == m_transfers.end())
            return;
        if (it->second->added)
            curl_multi_remove_handle(m_multi.get(), it->second->easy.get());
        m_transfers.erase(it);
    }

    void finishDone()
    {
        int queued = 0;
        while (CURLMsg* msg = curl_multi_info_read(m_multi.get(), &queued)) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            Transfer* t = nullptr;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
            if (!t)
                continue;
            const CURLcode code = msg->data.result;
            auto node = m_transfers.extract(t->id);
            curl_multi_remove_handle(m_multi.get(), t->easy.get());
            t->added = false;
            if (code != CURLE_OK) {
                t->sink->onDone(detail::errorFromCurl(code, t->errorBuffer));
                continue;
            }
            if (!t->headDone) {
                // A complete head ends with an empty line, which headerCallback() reports even
                // for a response without a body (204). libcurl calls a connection closed inside
                // the head (some header bytes came) a success: it is a cut connection, and the
                // partial head (a 200 without its Content-Type) must not pass for an answer.
                t->sink->onDone(Error {
                    ErrorCode::Network, "connection closed inside the response head", 0, -1 });
                continue;
            }
            t->sink->onDone(std::nullopt);
        }
    }

    void run()
    {
        for (;;) {
            std::vector<std::function<void()>> commands;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                if (m_stop)
                    return;
                commands.swap(m_commands);
            }
            for (auto& c : commands)
                c();
            int running = 0;
            curl_multi_perform(m_multi.get(), &running);
            finishDone();
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                if (m_stop)
                    return;
                if (!m_commands.empty())
                    continue;
            }
            curl_multi_poll(m_multi.get(), nullptr, 0, 1000, nullptr);
        }
    }

    detail::CurlMulti m_multi;
    std::thread m_thread;
    std::mutex m_mutex;
    std::vector<std::function<void()>> m_commands;
    bool m_stop = false;
    // Curl thread only.
    std::unordered_map<RequestId, std::unique_ptr<Transfer>> m_transfers;
};

} // namespace

std::shared_ptr<HttpBackend> makeCurlBackend()
{
    auto backend = std::make_shared<CurlBackend>();
    if (!backend->valid())
        return nullptr;
    return backend;
}

} // namespace livecomments
