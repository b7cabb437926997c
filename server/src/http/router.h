// SPDX-License-Identifier: MIT
#pragma once

#include <Poco/Net/HTTPRequestHandlerFactory.h>

namespace livecomments::server {
class LiveService;
}

namespace livecomments::server::http {

/**
 * The routing table of docs/protocol.md (incl. the aliases): maps method + path to a new handler
 * object of the route's class. Unknown paths get a 404 handler, known paths with another method a
 * 405 handler carrying Allow, OPTIONS a CORS preflight handler.
 *
 * Threading: createRequestHandler() runs on Poco's HTTP worker threads concurrently; the router
 * itself is immutable.
 */
class Router final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Router(LiveService& service);
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest& request) override;

private:
    LiveService& m_service;
};

} // namespace livecomments::server::http
