// SPDX-License-Identifier: MIT
#include "http/exchange.h"

#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/FileStream.h>
#include <Poco/Net/HTTPMessage.h>
#include <Poco/StreamCopier.h>
#include <Poco/Timestamp.h>

namespace livecomments::server::http {

namespace {

const Poco::Net::HTTPServerParams& defaultParams()
{
    static const Poco::AutoPtr<Poco::Net::HTTPServerParams> params
        = new Poco::Net::HTTPServerParams;
    return *params;
}

} // namespace

BufferedRequest::BufferedRequest(BufferedResponse& response, std::string body,
    Poco::Net::SocketAddress client, Poco::Net::SocketAddress server, std::function<int()> detach)
    : m_response(response)
    , m_body(std::move(body))
    , m_client(std::move(client))
    , m_server(std::move(server))
    , m_detach(std::move(detach))
{ }

const Poco::Net::HTTPServerParams& BufferedRequest::serverParams() const
{
    return defaultParams();
}

Poco::Net::HTTPServerResponse& BufferedRequest::response() const
{
    return m_response;
}

int BufferedRequest::detachSocket()
{
    if (m_detached || !m_detach)
        return -1;
    m_detached = true;
    return m_detach();
}

std::ostream& BufferedResponse::send()
{
    if (m_sent)
        throw Poco::IllegalStateException("response already sent");
    m_sent = true;
    return m_body;
}

void BufferedResponse::sendFile(const std::string& path, const std::string& mediaType)
{
    Poco::FileInputStream in(path);
    setContentType(mediaType);
    Poco::StreamCopier::copyStream(in, send());
}

void BufferedResponse::sendBuffer(const void* buffer, std::size_t length)
{
    send().write(static_cast<const char*>(buffer), static_cast<std::streamsize>(length));
}

void BufferedResponse::redirect(const std::string& uri, HTTPStatus status)
{
    setStatusAndReason(status);
    set("Location", uri);
    setContentLength(0);
    send();
}

void BufferedResponse::requireAuthentication(const std::string& realm)
{
    setStatusAndReason(HTTP_UNAUTHORIZED);
    set("WWW-Authenticate", "Basic realm=\"" + realm + "\"");
    setContentLength(0);
    send();
}

bool BufferedResponse::serialize(std::string& out, bool keepAlive, bool headRequest, bool http10)
{
    const std::string body = m_body.str();
    // Whatever the request line said, we speak HTTP/1.1 (RFC 9112 §2.3).
    setVersion(HTTP_1_1);
    setChunkedTransferEncoding(false);
    if (getStatus() != HTTP_NO_CONTENT && getStatus() != HTTP_NOT_MODIFIED
        && (!hasContentLength() || !headRequest))
        setContentLength64(static_cast<Poco::Int64>(body.size()));
    const bool handlerClose
        = has(CONNECTION) && Poco::icompare(get(CONNECTION), CONNECTION_CLOSE) == 0;
    const bool stay = keepAlive && !handlerClose;
    if (!stay)
        set(CONNECTION, CONNECTION_CLOSE);
    else if (http10)
        set(CONNECTION, CONNECTION_KEEP_ALIVE);
    else
        erase(CONNECTION);
    if (!has("Date"))
        set("Date",
            Poco::DateTimeFormatter::format(Poco::Timestamp(), Poco::DateTimeFormat::HTTP_FORMAT));
    std::ostringstream head;
    write(head);
    out = head.str();
    if (!headRequest)
        out += body;
    return stay;
}

} // namespace livecomments::server::http
