// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QUrl>

#include <memory>

class QThread;

namespace lctest {

namespace detail {
struct FaultProxyShared;
class FaultProxyWorker;
} // namespace detail

/**
 * A fault-injecting TCP proxy between clients and 127.0.0.1:<upstreamPort>, for testing how a
 * client survives network trouble: cut connections (RST), stalls, refused connections, canned
 * HTTP errors and cuts after N bytes.
 *
 * Forwarding keeps TCP back-pressure: the proxy reads from one side only while the other side's
 * write buffer is below 256 KiB.
 *
 * Threading: the proxy runs in its OWN thread (started by start()), so traffic is forwarded
 * even while the test thread blocks. Every public method is thread-safe; the destructor stops
 * the thread and closes every connection.
 */
class FaultProxy {
public:
    explicit FaultProxy(quint16 upstreamPort);
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    /// Starts the proxy thread and listens on 127.0.0.1:0; false when listening failed.
    bool start();
    /// The port clients connect to (0 before start()).
    quint16 port() const;
    /// http://127.0.0.1:port()
    QUrl baseUrl() const;

    /// New connections go to this upstream port (e.g. after a server restart on another port).
    void setUpstreamPort(quint16 port);
    /// Resets (RST) every open connection now, both sides, possibly mid-event.
    void cutAll();
    /// Stops forwarding in both directions while keeping the sockets open (true), or resumes.
    void setStalled(bool stalled);
    /// Closes each new connection right after accept (true), or accepts normally.
    void setRefusing(bool refusing);
    /// Answers each new connection with this HTTP status (after reading the request head) and a
    /// JSON error body, then closes it; `extraHeaders` are raw header lines, each ending in CRLF
    /// (e.g. "Retry-After: 1\r\n"). 0 turns it off.
    void setHttpError(int status, QByteArray extraHeaders = {});
    /// Cuts each downstream (server→client) connection after it forwarded n bytes; 0 = off.
    void setCutAfterBytes(qint64 n);
    /// Connections accepted so far (including refused and error-answered ones).
    int acceptedConnections() const;
    /// Proxied connections currently open.
    int openConnections() const;

private:
    std::shared_ptr<detail::FaultProxyShared> m_shared;
    QThread* m_thread = nullptr;
    detail::FaultProxyWorker* m_worker = nullptr;
};

} // namespace lctest
