// SPDX-License-Identifier: MIT
// The SSE stream (WHATWG HTML §9.2 server-sent events) and its server-side close.
#include "http/handlers.h"

#include "app/live_service.h"
#include "model/errors.h"
#include "model/json_text.h"

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
    if (!m_service.videoExists(video))
        throw notFound("video");
    auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&request);
    if (!impl)
        throw ApiError(ErrorKind::Internal, "internal", "cannot detach this connection");

    const Settings& settings = m_service.settings();
    // Decide resumed/reset BEFORE writing hello (it is part of the preamble).
    const ResumePlan plan = m_service.planResume(video, lastEventId(request));

    fanout::SubscriberInfo info;
    info.subscriptionId = LiveService::newSubscriptionId();
    info.videoId = video;
    if (user)
        info.userId = user->userId;

    // The whole response head is written raw: no Content-Length, no chunking, Connection: close,
    // so the body is the rest of the connection (works with EventSource, curl -N and libcurl).
    std::string preamble = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: text/event-stream\r\n"
                           "Cache-Control: no-cache\r\n"
                           "X-Accel-Buffering: no\r\n"
                           "Connection: close\r\n";
    preamble += corsHeaderLines(request);
    preamble += "\r\n";
    preamble += "retry: " + std::to_string(settings.retryMs) + "\n\n";
    preamble += eventFrame("hello",
        "{\"subscription_id\":\"" + info.subscriptionId + "\",\"video_id\":" + std::to_string(video)
            + ",\"heartbeat_ms\":" + std::to_string(settings.heartbeatMs)
            + ",\"resumed\":" + (plan.resumed ? "true" : "false") + "}");

    // Take the socket away from Poco: the engine gets its own descriptor (dup), Poco's object is
    // closed so its connection thread returns to the pool at once.
    Poco::Net::StreamSocket socket = impl->detachSocket();
    m_detached = true;
    const int fd = ::dup(socket.impl()->sockfd());
    socket.close();
    if (fd < 0)
        return;
    response.setKeepAlive(false);

    const std::string sid = info.subscriptionId;
    if (!m_service.engine().open(fd, std::move(info), std::move(preamble)))
        return; // shutting down: the engine closed fd
    m_service.metrics().streamOpened();
    try {
        // Read the replay only now: everything committed before open() is in the store/cache,
        // everything published after it is held in the queue; the engine drops duplicates.
        m_service.engine().resume(sid, m_service.replayFrames(video, plan));
    } catch (...) {
        m_service.engine().close(sid); // the client reconnects and resumes
    }
}

void CloseStreamHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    const auto user = optionalUser(request);
    const auto video = videoId();
    const auto info = m_service.engine().find(m_secondId);
    if (!info || info->videoId != video)
        throw notFound("subscription");
    if (!info->userId.empty()) {
        if (!user)
            throw unauthorized("this subscription was opened with a token; send that user's token");
        if (user->userId != info->userId && user->role != Role::Moderator)
            throw forbidden("this subscription belongs to another user");
    }
    if (!m_service.engine().close(m_secondId))
        throw notFound("subscription");
    sendNoContent(response);
}

} // namespace livecomments::server::http
