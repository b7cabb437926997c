// SPDX-License-Identifier: MIT
#pragma once

#include "http/json_handler.h"
#include "model/errors.h"

#include <cstdint>
#include <string>

namespace livecomments::server::http {

// One handler class per route (docs/protocol.md lists the routes). Each is created by the Router
// for one request and run on an HTTP worker thread. Path parameters arrive already split (raw text,
// validated in handle()).

/// GET /healthz → 200 {"status":"ok"}.
class HealthHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// GET /metrics → Prometheus text.
class MetricsHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// GET /test/fail (only with --test-hooks): an unexpected exception → 500, logged.
class TestFailHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// POST /auth/dev-token (only with --dev) → 200 {"token":…}.
class DevTokenHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// POST /internal/region/ingest (with --peer-region only): a batch from a peer region → 200
/// {"received","applied"}; 401 bad/missing/stale signature, 400 malformed, 413 oversized.
class RegionIngestHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// OPTIONS on any path: CORS preflight → 204.
class PreflightHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// Every request the router cannot serve: throws the ApiError it was built with (404/405/503).
class ErrorHandler final : public JsonHandler {
public:
    ErrorHandler(LiveService& service, std::string route, ApiError error);

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;

private:
    ApiError m_error;
};

/// POST /videos {"title"} → 201 video.
class CreateVideoHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// GET /videos?status=live|ended|all&limit=N → 200 {"videos":[…]}, newest first.
class ListVideosHandler final : public JsonHandler {
public:
    using JsonHandler::JsonHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// A handler whose path carries a video id (and maybe a second id).
class VideoRouteHandler : public JsonHandler {
public:
    VideoRouteHandler(
        LiveService& service, std::string route, std::string videoId, std::string secondId = {})
        : JsonHandler(service, std::move(route))
        , m_videoIdText(std::move(videoId))
        , m_secondId(std::move(secondId))
    { }

protected:
    /// The path's video id, validated (400 naming "video_id").
    std::uint32_t videoId() const;
    std::string m_videoIdText;
    std::string m_secondId;
};

/// GET /videos/{id} → 200 video.
class GetVideoHandler final : public VideoRouteHandler {
public:
    using VideoRouteHandler::VideoRouteHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// POST /videos/{id}/end → 200 video (streamer or moderator).
class EndVideoHandler final : public VideoRouteHandler {
public:
    using VideoRouteHandler::VideoRouteHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// Which body a comment post uses.
enum class CommentBody {
    Design, ///< POST /videos/{id}/comments {"text"}
    Alias, ///< PUT /videos/{id}/comments {"user_id","comment"}
    Create, ///< POST /comment/create {"liveVideoId","message"} (video id from the body)
};

/// Publishes a comment → 201 comment (all three body shapes).
class PostCommentHandler final : public VideoRouteHandler {
public:
    PostCommentHandler(
        LiveService& service, std::string route, std::string videoId, CommentBody shape)
        : VideoRouteHandler(service, std::move(route), std::move(videoId))
        , m_shape(shape)
    { }

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;

private:
    void post(HTTPServerRequest& request, HTTPServerResponse& response);
    CommentBody m_shape;
};

/// GET /videos/{id}/comments?before|after=&limit= and GET /comments/{id}?cursor=&limit=.
class ListCommentsHandler final : public VideoRouteHandler {
public:
    ListCommentsHandler(LiveService& service, std::string route, std::string videoId, bool alias)
        : VideoRouteHandler(service, std::move(route), std::move(videoId))
        , m_alias(alias)
    { }

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;

private:
    bool m_alias;
};

/// DELETE /videos/{id}/comments/{comment_id} → 204 (author or moderator).
class DeleteCommentHandler final : public VideoRouteHandler {
public:
    using VideoRouteHandler::VideoRouteHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// GET|PUT /videos/{id}/subscriptions, PUT /videos/{id}/subscribe: the SSE stream. Writes the
/// response head + retry + hello itself, detaches the socket and hands it to the fan-out engine.
class StreamHandler final : public VideoRouteHandler {
public:
    using VideoRouteHandler::VideoRouteHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

/// DELETE /videos/{id}/subscriptions/{sid} (and /unsubscribe/{sid}) → 204.
class CloseStreamHandler final : public VideoRouteHandler {
public:
    using VideoRouteHandler::VideoRouteHandler;

protected:
    void handle(HTTPServerRequest& request, HTTPServerResponse& response) override;
};

} // namespace livecomments::server::http
