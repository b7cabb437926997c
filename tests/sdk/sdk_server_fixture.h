// SPDX-License-Identifier: MIT
#pragma once
// The real server with a FaultProxy in front and one video, shared by SDK integration tests that
// read the server's view back (history, viewers). Header-only; each test is its own executable.

#include "fault_proxy.h"
#include "http_client.h"
#include "server_process.h"
#include "test_support.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QStringList>

#include <memory>

namespace sdktest {

/// Start it in a test's init() (QVERIFY(fixture.start(...))), reset it in cleanup().
struct ServerFixture {
    std::unique_ptr<lctest::ServerProcess> server;
    std::unique_ptr<lctest::FaultProxy> proxy;
    QString token; ///< user 7 "alice", streamer
    qint32 video = 0;

    /// Starts the server and the proxy and creates a video titled @p title as alice.
    bool start(const QString& title)
    {
        server = std::make_unique<lctest::ServerProcess>();
        if (!server->start())
            return false;
        proxy = std::make_unique<lctest::FaultProxy>(server->port());
        if (!proxy->start())
            return false;
        token = server->token("7", "alice", "streamer");
        video = lctest::createVideo(server->baseUrl(), token, title);
        return video > 0;
    }
    void stop()
    {
        proxy.reset();
        server.reset();
    }
    /// Posts @p text to the video as alice, straight to the server; the HTTP status.
    int post(const QString& text) const
    {
        return lctest::postComment(server->baseUrl(), token, video, text).status;
    }
    /// Texts of the video's comments on the server, oldest first.
    QStringList history() const
    {
        QStringList texts;
        auto page = lctest::getHistoryPage(
            server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(video));
        for (const auto& c : page.reply.json().value("comments").toArray())
            texts.prepend(c.toObject().value("text").toString());
        return texts;
    }
    /// The server's count of open streams of the video.
    int viewers() const
    {
        const auto reply = lctest::http(
            "GET", lctest::endpoint(server->baseUrl(), QStringLiteral("/videos/%1").arg(video)));
        return reply.json().value("viewers").toInt(-1);
    }
};

} // namespace sdktest
