// SPDX-License-Identifier: MIT
// The region relay's ingest route (docs/protocol.md "Region relay").
#include "http/handlers.h"

#include "service/live_service.h"

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

namespace livecomments::server::http {

void RegionIngestHandler::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
    // readBody() answers 413 above --max-body before anything is parsed or verified.
    const std::string body = readBody(request);
    const std::string answer = m_service.ingestRegionBatch(request.get("X-LC-Region", ""),
        request.get("X-LC-Timestamp", ""), request.get("X-LC-Signature", ""), body);
    response.set("Cache-Control", "no-store");
    sendJson(response, Poco::Net::HTTPResponse::HTTP_OK, answer);
}

} // namespace livecomments::server::http
