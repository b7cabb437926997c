// SPDX-License-Identifier: MIT
// The SSE stream (WHATWG HTML §9.2 server-sent events) and its server-side close.
#include "http/handlers.h"

#include "model/errors.h"
#include "service/live_service.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/StreamSocket.h>

#include <unistd.h>

namespace livecomments::server::http {

using Poco::Net::HTTPResponse;

namespace {

/// Last-Event-ID from the header (reconnects) or ?last_event_id= (a browser's first connect).
/// Anything that is not a positive decimal id is treated as absent: browsers may send anything.
std::optional<std::uint64_t> lastEventId(const HTTPServerRequest& request)
{
    std::string text = request.get("Last-Event-ID", "");
    if (text.empty())
        text = queryParam(request, "last_event_id").value_or("");
    if (text.empty())
        return std::nullopt;
    try {
        return parseId64(text, "Last-Event-ID");
    } catch (const ApiError&) {
        return std::nullopt;
    }
}

} // namespace

void StreamHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const auto user = readerUser(request, true);
    const auto video = videoId();
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
    if (!impl)
        throw ApiError(ErrorKind::Internal, "internal", "cannot detach this connection");

    // Decide resumed/reset and the ids BEFORE writing hello (it is part of the preamble).
    const StreamOpening opening = m_service.prepareStream(video, user, lastEventId(request));

    // The whole response head is written raw: no Content-Length, no chunking, Connection: close,
    // so the body is the rest of the connection (works with EventSource, curl -N and libcurl).
    std::string preamble = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: text/event-stream\r\n"
                           "Cache-Control: no-cache\r\n"
                           "X-Accel-Buffering: no\r\n"
                           "Connection: close\r\n";
    preamble += corsHeaderLines(request);
    preamble += "\r\n";
    preamble += "retry: " + std::to_string(m_service.settings().retryMs) + "\n\n";
    preamble += m_service.helloFrame(opening);

    // Take the socket away from Poco: the engine gets its own descriptor (dup), Poco's object is
    // closed so its connection thread returns to the pool at once.
    Poco::Net::StreamSocket socket = impl->detachSocket();
    m_detached = true;
    m_bytesSent = preamble.size();
    const int fd = ::dup(socket.impl()->sockfd());
    socket.close();
    if (fd < 0)
        return;
    response.setKeepAlive(false);
    m_service.openStream(fd, opening, std::move(preamble));
}

void CloseStreamHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const auto user = optionalUser(request);
    m_service.closeStream(videoId(), m_secondId, user);
    sendNoContent(response);
}

} // namespace livecomments::server::http
