// SPDX-License-Identifier: MIT
#pragma once

#include <livecomments/http_backend.h>

#include <memory>

class QThread;

namespace livecomments::qt {

/// The core's HttpBackend on QNetworkAccessManager: pass it as ClientConfig::httpBackend and the
/// core Client (reconnects, watchdog, SSE decoding, Timeline, cache, outbox) moves its bytes with
/// Qt Network — its proxy settings, TLS backend and platform integration — instead of libcurl.
///
/// Streams: HTTP/2 off (one request per connection, as EventSource needs), no transfer timeout,
/// everything available read on each readyRead. Redirects are not followed here. An intentional
/// cancel() is not an error and reports nothing more.
///
/// Threading: the QNetworkAccessManager lives on a QThread owned by this object (so a busy GUI
/// thread never stalls a stream); start() and cancel() may be called from any thread and queue
/// to it; the sink is called from it. Needs a QCoreApplication. Destroying the backend aborts
/// every request and ends the thread.
class QtNetworkBackend final : public HttpBackend {
public:
    QtNetworkBackend();
    ~QtNetworkBackend() override;
    QtNetworkBackend(const QtNetworkBackend&) = delete;
    QtNetworkBackend& operator=(const QtNetworkBackend&) = delete;

    void start(
        RequestId id, HttpBackendRequest request, std::shared_ptr<HttpBackendSink> sink) override;
    void cancel(RequestId id) override;
    const char* name() const override { return "qtnetwork"; }

    class Worker;

private:
    std::unique_ptr<QThread> m_thread;
    Worker* m_worker = nullptr;
};

} // namespace livecomments::qt
