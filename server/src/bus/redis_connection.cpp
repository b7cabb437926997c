// SPDX-License-Identifier: MIT
#include "bus/redis_connection.h"

#include <Poco/Exception.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Redis/Error.h>
#include <Poco/Redis/RedisStream.h>
#include <Poco/Timespan.h>

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <stdexcept>
#include <thread>

namespace livecomments::server::bus {

using Poco::Redis::Array;
using Poco::Redis::BulkString;
using Poco::Redis::RedisType;

namespace {

Poco::Timespan toTimespan(std::chrono::milliseconds ms)
{
    return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
}

std::string percentDecode(const std::string& text, const std::string& url)
{
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1]))
            || !std::isxdigit(static_cast<unsigned char>(text[i + 2])))
            throw std::invalid_argument("malformed Redis URL '" + url + "': bad %-escape");
        out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
        i += 2;
    }
    return out;
}

} // namespace

std::string RedisEndpoint::display() const
{
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

RedisEndpoint parseRedisUrl(const std::string& url)
{
    const std::string scheme = "redis://";
    // The password must never reach a log line: messages show the URL with it masked.
    std::string shown = url;
    const auto at = url.rfind('@');
    if (at != std::string::npos && url.compare(0, scheme.size(), scheme) == 0)
        shown = scheme + "***" + url.substr(at);
    auto fail = [&shown](const std::string& why) {
        throw std::invalid_argument("malformed Redis URL '" + shown + "': " + why
            + " (expected redis://[[user]:password@]host[:port])");
    };
    if (url.compare(0, scheme.size(), scheme) != 0)
        fail("the scheme must be redis://");
    std::string rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/')
        rest.pop_back();
    if (rest.find('/') != std::string::npos || rest.find('?') != std::string::npos)
        fail("a path or query is not supported");

    RedisEndpoint endpoint;
    const auto userInfoEnd = rest.rfind('@');
    if (userInfoEnd != std::string::npos) {
        const std::string userInfo = rest.substr(0, userInfoEnd);
        rest = rest.substr(userInfoEnd + 1);
        const auto colon = userInfo.find(':');
        if (colon == std::string::npos)
            fail("the user info must be ':password' or 'user:password'");
        endpoint.user = percentDecode(userInfo.substr(0, colon), shown);
        endpoint.password = percentDecode(userInfo.substr(colon + 1), shown);
        if (endpoint.password.empty())
            fail("the password is empty");
    }

    std::string portText;
    if (!rest.empty() && rest.front() == '[') {
        const auto close = rest.find(']');
        if (close == std::string::npos)
            fail("unterminated [IPv6] host");
        endpoint.host = rest.substr(1, close - 1);
        const std::string after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                fail("junk after the [IPv6] host");
            portText = after.substr(1);
            if (portText.empty())
                fail("the port is empty");
        }
    } else {
        const auto colon = rest.find(':');
        endpoint.host = rest.substr(0, colon);
        if (colon != std::string::npos) {
            portText = rest.substr(colon + 1);
            if (portText.empty())
                fail("the port is empty");
        }
    }
    if (endpoint.host.empty())
        fail("the host is empty");
    if (!portText.empty()) {
        if (portText.size() > 5 || !std::all_of(portText.begin(), portText.end(), [](char c) {
                return c >= '0' && c <= '9';
            }))
            fail("the port '" + portText + "' is not a number");
        const int port = std::stoi(portText);
        if (port < 1 || port > 65535)
            fail("the port " + portText + " is out of range 1..65535");
        endpoint.port = static_cast<std::uint16_t>(port);
    }
    return endpoint;
}

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap)
    : m_base(base)
    , m_cap(cap)
    , m_random(std::random_device {}())
{ }

std::chrono::milliseconds Backoff::next()
{
    const auto shift = std::min(m_attempt, 20);
    ++m_attempt;
    const auto full = std::min<std::int64_t>(m_cap.count(), m_base.count() << shift);
    // Jitter spreads the reconnects of many nodes after a Redis restart instead of having every
    // node hit it in the same millisecond.
    std::uniform_int_distribution<std::int64_t> pick(full / 2, std::max<std::int64_t>(full, 1));
    return std::chrono::milliseconds(pick(m_random));
}

RedisConnection::RedisConnection(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout)
{
    // A write to a connection Redis has closed must fail with EPIPE, not kill the node.
    std::signal(SIGPIPE, SIG_IGN);
    m_socket.connect(Poco::Net::SocketAddress(endpoint.host, endpoint.port), toTimespan(timeout));
    // A process this one starts (a test fixture restarting redis-server, say) must not inherit
    // the socket: its copy would keep the connection open after this side closed it.
    ::fcntl(descriptor(), F_SETFD, FD_CLOEXEC);
    m_socket.setNoDelay(true);
    m_socket.setSendTimeout(toTimespan(timeout));
    m_socket.setReceiveTimeout(toTimespan(timeout));
    m_input = std::make_unique<Poco::Redis::RedisInputStream>(m_socket);
    m_output = std::make_unique<Poco::Redis::RedisOutputStream>(m_socket);
    if (!endpoint.password.empty()) {
        Array auth;
        auth << "AUTH";
        if (!endpoint.user.empty())
            auth << endpoint.user;
        auth << endpoint.password;
        try {
            command(auth);
        } catch (const RedisReplyError& e) {
            throw std::runtime_error(
                "Redis at " + endpoint.display() + " rejected AUTH: " + e.what());
        }
    }
    // A hung Redis (or a full accept backlog) still completes the TCP handshake: only an answer
    // proves the connection usable, so a reconnect is not reported before Redis really responds.
    Array ping;
    ping << "PING";
    command(ping);
}

RedisConnection::~RedisConnection()
{
    try {
        m_socket.close();
    } catch (...) {
        // Closing a dead socket can fail; there is nothing left to release.
    }
}

void RedisConnection::write(const Array& cmd)
{
    const std::string text = cmd.toString();
    m_output->write(text.data(), static_cast<std::streamsize>(text.size()));
}

void RedisConnection::flush()
{
    m_output->flush();
    // std::ostream swallows the socket's exception into badbit; turn it back into one.
    if (!m_output->good())
        throw Poco::IOException("Redis connection lost while writing");
}

RedisType::Ptr RedisConnection::readReply()
{
    const int marker = m_input->get();
    if (marker == std::char_traits<char>::eof() || !m_input->good())
        throw Poco::IOException("Redis connection lost while reading");
    RedisType::Ptr value = RedisType::createRedisType(static_cast<char>(marker));
    if (value.isNull())
        throw Poco::IOException("Redis sent an unknown reply type");
    value->read(*m_input);
    if (!m_input->good())
        throw Poco::IOException("Redis connection lost while reading");
    return value;
}

RedisType::Ptr RedisConnection::command(const Array& cmd)
{
    write(cmd);
    flush();
    auto value = readReply();
    if (reply::isError(value))
        throw RedisReplyError(value->toString());
    return value;
}

std::vector<RedisType::Ptr> RedisConnection::pipeline(const std::vector<Array>& cmds)
{
    for (const auto& cmd : cmds)
        write(cmd);
    flush();
    std::vector<RedisType::Ptr> replies;
    replies.reserve(cmds.size());
    for (std::size_t i = 0; i < cmds.size(); ++i)
        replies.push_back(readReply());
    return replies;
}

bool RedisConnection::buffered()
{
    return static_cast<std::istream&>(*m_input).rdbuf()->in_avail() > 0;
}

int RedisConnection::descriptor() const
{
    return static_cast<int>(m_socket.impl()->sockfd());
}

bool RedisConnection::poll(std::chrono::milliseconds timeout)
{
    if (buffered())
        return true;
    return m_socket.poll(toTimespan(timeout), Poco::Net::Socket::SELECT_READ);
}

void RedisConnection::shutdown()
{
    try {
        m_socket.shutdown();
    } catch (...) {
        // Already disconnected: the reader fails anyway.
    }
}

namespace reply {

std::int64_t integer(const RedisType::Ptr& value)
{
    if (value.isNull() || value->type() != Poco::Redis::RedisTypeTraits<Poco::Int64>::TypeId)
        throw std::runtime_error("Redis: expected an integer reply");
    return static_cast<const Poco::Redis::Type<Poco::Int64>*>(value.get())->value();
}

std::string string(const RedisType::Ptr& value, bool* isNull)
{
    if (isNull)
        *isNull = false;
    if (!value.isNull() && value->type() == Poco::Redis::RedisTypeTraits<BulkString>::TypeId) {
        const auto& bulk = static_cast<const Poco::Redis::Type<BulkString>*>(value.get())->value();
        if (bulk.isNull()) {
            if (isNull)
                *isNull = true;
            return {};
        }
        return bulk.value();
    }
    if (!value.isNull() && value->type() == Poco::Redis::RedisTypeTraits<std::string>::TypeId)
        return static_cast<const Poco::Redis::Type<std::string>*>(value.get())->value();
    throw std::runtime_error("Redis: expected a string reply");
}

const Array& array(const RedisType::Ptr& value)
{
    if (value.isNull() || value->type() != Poco::Redis::RedisTypeTraits<Array>::TypeId)
        throw std::runtime_error("Redis: expected an array reply");
    return static_cast<const Poco::Redis::Type<Array>*>(value.get())->value();
}

bool isError(const RedisType::Ptr& value)
{
    return !value.isNull()
        && value->type() == Poco::Redis::RedisTypeTraits<Poco::Redis::Error>::TypeId;
}

std::string errorMessage(const RedisType::Ptr& value)
{
    if (!isError(value))
        return {};
    return static_cast<const Poco::Redis::Type<Poco::Redis::Error>*>(value.get())
        ->value()
        .getMessage();
}

} // namespace reply

std::unique_ptr<RedisConnection> connectWithRetry(const RedisEndpoint& endpoint,
    const RedisStartupRetry& retry, std::chrono::milliseconds timeout)
{
    const auto start = std::chrono::steady_clock::now();
    Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(2000));
    std::string lastError = "no attempt made";
    int attempt = 0;
    for (;;) {
        ++attempt;
        try {
            return std::make_unique<RedisConnection>(endpoint, timeout);
        } catch (const Poco::Exception& e) {
            lastError = e.displayText();
        } catch (const std::exception& e) {
            lastError = e.what();
        }
        const auto elapsed = std::chrono::steady_clock::now() - start;
        const auto delay = backoff.next();
        if (attempt >= std::max(1, retry.attempts) || elapsed + delay >= retry.deadline) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed);
            throw std::runtime_error("cannot reach Redis at " + endpoint.display() + " after "
                + std::to_string(attempt) + " attempt(s) in " + std::to_string(ms.count())
                + " ms: " + lastError);
        }
        std::this_thread::sleep_for(delay);
    }
}

void stopWorker(std::mutex& mutex, bool& stopping, std::condition_variable& cv, std::thread& thread)
{
    {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
    }
    cv.notify_all();
    if (thread.joinable())
        thread.join();
}

} // namespace livecomments::server::bus
