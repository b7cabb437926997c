// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/error.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livecomments {

/// HTTP header fields in order. Response field names are lower-cased by every backend.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

/// Which server certificates HTTPS requests trust (ClientConfig::tls; every request carries a
/// copy). Both backends honour it the same way. Ignored for http:// URLs.
struct TlsOptions {
    /// PEM file with the CA certificate(s) to trust *instead of* the system store, e.g. a private
    /// CA's certificate. Empty = not used. An unreadable file fails every HTTPS request
    /// (ErrorCode::Tls), it never falls back to the system store.
    std::string caFile;
    /// The same as PEM text in memory (one or more `-----BEGIN CERTIFICATE-----` blocks), e.g. a
    /// bundle shipped inside the app (Android/iOS have no store libcurl can read). Empty = not
    /// used. Client::create() rejects a config that sets both caFile and caPem.
    std::string caPem;
    /// false = accept any certificate and any host name: for throwaway test setups only;
    /// Client::create() logs a warning. Never turned off by the SDK itself.
    bool verifyPeer = true;
};

/// One request handed to an HttpBackend.
struct HttpBackendRequest {
    std::string method = "GET";
    std::string url; ///< absolute http:// or https:// URL
    HttpHeaders headers;
    std::string body;
    /// A long-lived response (an event stream): no total timeout, HTTP/1.1 only, the body is
    /// delivered chunk by chunk as it arrives. Plain requests may deliver their body in chunks too.
    bool stream = false;
    std::chrono::milliseconds connectTimeout { 10000 };
    std::chrono::milliseconds timeout { 30000 }; ///< whole-request limit; ignored for streams
    std::string userAgent; ///< empty = the backend's default
    TlsOptions tls; ///< trust settings for https:// (empty = the system's CA store)
};

/// Receives the events of one request, in this order: onHead at most once (the final, non-1xx
/// response head), onData zero or more times (only after onHead), onDone exactly once — unless the
/// request was cancelled, after which the backend may stop calling the sink at any point.
///
/// Threading: the core's sink is thread-safe; a backend may call it from any thread (its own
/// network thread in practice), but must not call it concurrently for the same request.
class HttpBackendSink {
public:
    virtual ~HttpBackendSink() = default;
    /// Status and header fields (names lower-cased) of the final response.
    virtual void onHead(int status, HttpHeaders headers) = 0;
    /// Body bytes (the sink copies them).
    virtual void onData(std::string_view chunk) = 0;
    /// The request ended: @p error unset = the response ended normally (any HTTP status, the
    /// core interprets it); set = transport failure (ErrorCode::Network, Tls, Timeout, Protocol,
    /// InvalidArgument or Internal). A request ended by cancel() is not an error.
    virtual void onDone(std::optional<Error> error) = 0;
};

/// The way a Client moves bytes: start a request or a stream, receive status + headers, body
/// chunks and completion, cancel. Everything above it — reconnect and backoff, the heartbeat
/// watchdog, SSE decoding, resume, history paging, the cache and the outbox — is the core's and is
/// the same for every backend. libcurl is the default (makeCurlBackend()); the Qt binding adds one
/// on QNetworkAccessManager (livecomments::qt::QtNetworkBackend).
///
/// Threading contract: the core calls start() and cancel() on its I/O thread only. A backend does
/// its I/O where it likes — libcurl on a thread of its own, Qt Network on a QThread of its own —
/// and reports through the sink from there; the sink queues each event into the core's I/O loop
/// and wakes it, so every core callback still runs on the I/O thread. start() and cancel() must
/// not block on the network. After cancel(id) the core ignores any further event of @p id.
/// Destroying the backend ends its I/O (the Client keeps it alive while it runs).
class HttpBackend {
public:
    using RequestId = std::uint64_t;
    virtual ~HttpBackend() = default;
    /// Starts @p request; events of it go to @p sink. @p id is unique per backend.
    virtual void start(
        RequestId id, HttpBackendRequest request, std::shared_ptr<HttpBackendSink> sink)
        = 0;
    /// Aborts request @p id (no-op when it has ended). An intentional abort is not an error:
    /// the sink may get nothing more, or onDone without error.
    virtual void cancel(RequestId id) = 0;
    /// Short stable name for logs and tests, e.g. "curl", "qtnetwork".
    virtual const char* name() const = 0;
};

/// The default backend: libcurl's multi interface on a thread of its own. Returns nullptr when
/// libcurl cannot be initialised.
std::shared_ptr<HttpBackend> makeCurlBackend();

} // namespace livecomments
