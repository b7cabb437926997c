// SPDX-License-Identifier: MIT
#pragma once

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SocketAddress.h>

#include <functional>
#include <memory>
#include <sstream>
#include <string>

namespace livecomments::server::http {

class BufferedResponse;

/**
 * A complete request (head and decoded body already read by the front end) behind Poco's
 * HTTPServerRequest API, so the router and handlers stay as they are. The body is served from
 * memory: reading it never blocks.
 *
 * A handler that takes over the connection (SSE) calls detachSocket(): it gets its own
 * descriptor for the socket and nothing is written for this request afterwards.
 *
 * Threading: used by one worker thread at a time.
 */
class BufferedRequest final : public Poco::Net::HTTPServerRequest {
public:
    /// `detach` returns a new descriptor for the connection (dup), or -1.
    BufferedRequest(BufferedResponse& response, std::string body, Poco::Net::SocketAddress client,
        Poco::Net::SocketAddress server, std::function<int()> detach);

    std::istream& stream() override { return m_body; }
    const Poco::Net::SocketAddress& clientAddress() const override { return m_client; }
    const Poco::Net::SocketAddress& serverAddress() const override { return m_server; }
    const Poco::Net::HTTPServerParams& serverParams() const override;
    Poco::Net::HTTPServerResponse& response() const override;
    bool secure() const override { return false; }

    /// Takes the connection away from the front end; returns an owned descriptor or -1.
    int detachSocket();
    /// Whether detachSocket() was called.
    bool detached() const { return m_detached; }

private:
    BufferedResponse& m_response;
    std::istringstream m_body;
    Poco::Net::SocketAddress m_client;
    Poco::Net::SocketAddress m_server;
    std::function<int()> m_detach;
    bool m_detached = false;
};

/**
 * A response collected in memory; the front end serialises it with serialize() and writes it
 * non-blocking. The status line is always HTTP/1.1.
 *
 * Threading: used by one worker thread at a time.
 */
class BufferedResponse final : public Poco::Net::HTTPServerResponse {
public:
    BufferedResponse() = default;

    void sendContinue() override { } // the front end answers Expect before the handler runs
    std::ostream& send() override;
    void sendFile(const std::string& path, const std::string& mediaType) override;
    void sendBuffer(const void* buffer, std::size_t length) override;
    void redirect(const std::string& uri, HTTPStatus status = HTTP_FOUND) override;
    void requireAuthentication(const std::string& realm) override;
    bool sent() const override { return m_sent; }

    /// The bytes to write: head (with Content-Length, Date, Server, Connection) and, unless
    /// `headRequest`, the body. `keepAlive` is the connection's wish; a handler's
    /// setKeepAlive(false) wins. Returns whether the connection stays open.
    bool serialize(std::string& out, bool keepAlive, bool headRequest, bool http10);

private:
    std::ostringstream m_body;
    bool m_sent = false;
};

} // namespace livecomments::server::http
