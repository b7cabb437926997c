// SPDX-License-Identifier: MIT
#pragma once

#include <Poco/Net/StreamSocket.h>
#include <Poco/Redis/Array.h>
#include <Poco/Redis/Type.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace Poco::Redis {
class RedisInputStream;
class RedisOutputStream;
} // namespace Poco::Redis

namespace livecomments::server::bus {

/// Where Redis is and how to log in: the parsed form of a `redis://` URL.
struct RedisEndpoint {
    std::string host;
    std::uint16_t port = 6379;
    std::string user; ///< ACL user (empty: the default user)
    std::string password; ///< empty: no AUTH
    /// host:port for messages (never contains the password).
    std::string display() const;
};

/**
 * Parses `redis://host[:port]`, `redis://:password@host[:port]`,
 * `redis://user:password@host[:port]` and `redis://[::1]:port` (port defaults to 6379; password and
 * user are percent-decoded). Throws std::invalid_argument whose message names the URL (password
 * masked) and what is wrong.
 */
RedisEndpoint parseRedisUrl(const std::string& url);

/// How hard the first connection tries before giving up with a clear error.
struct RedisStartupRetry {
    int attempts = 10; ///< at most this many connection attempts
    std::chrono::milliseconds deadline { 10000 }; ///< ... and no new attempt after this
};

/// Exponential backoff with jitter: base·2ⁿ capped at `cap`, each delay drawn from [d/2, d].
class Backoff {
public:
    Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap);
    /// The next delay to wait (grows until reset()).
    std::chrono::milliseconds next();
    void reset() { m_attempt = 0; }

private:
    std::chrono::milliseconds m_base;
    std::chrono::milliseconds m_cap;
    int m_attempt = 0;
    std::mt19937 m_random;
};

/// Thrown for an error reply (`-ERR ...`) from Redis; the connection itself is still usable.
class RedisReplyError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/**
 * One RESP connection to Redis on Poco::Redis' protocol types (Array, RedisType, the Redis streams)
 * over a socket this class owns, so another thread can shutdown() it to wake a blocked reader and
 * the reader can poll() before it blocks.
 *
 * Threading: writes (write/flush/command/pipeline) need external serialisation; one thread may
 * read (readReply/poll) while another writes, because input and output use separate buffers.
 * Transport failures throw Poco::Exception (usually Poco::Net::NetException / TimeoutException);
 * after one, the connection must be dropped.
 */
class RedisConnection {
public:
    /// Connects (TCP, with a timeout for connect, send and receive), AUTHs when the endpoint has a
    /// password and waits for the answer to a PING. Throws on failure.
    RedisConnection(const RedisEndpoint& endpoint, std::chrono::milliseconds timeout);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Sends one command and returns its reply; an error reply throws RedisReplyError.
    Poco::Redis::RedisType::Ptr command(const Poco::Redis::Array& cmd);
    /// Sends all commands in one write and reads all replies (error replies are returned as
    /// Poco::Redis::Error elements, not thrown).
    std::vector<Poco::Redis::RedisType::Ptr> pipeline(const std::vector<Poco::Redis::Array>& cmds);

    /// Buffers a command (no flush).
    void write(const Poco::Redis::Array& cmd);
    void flush();
    /// Reads one reply (blocks up to the receive timeout, then throws Poco::TimeoutException).
    Poco::Redis::RedisType::Ptr readReply();
    /// True when a reply byte is buffered or the socket is readable within `timeout`.
    bool poll(std::chrono::milliseconds timeout);
    /// Shuts the socket down so that a blocked reader fails at once (thread-safe).
    void shutdown();
    /// True when a reply byte is already buffered (poll() on the descriptor would not see it).
    bool buffered();
    /// The socket descriptor, for polling several connections at once.
    int descriptor() const;

private:
    Poco::Net::StreamSocket m_socket;
    std::unique_ptr<Poco::Redis::RedisInputStream> m_input;
    std::unique_ptr<Poco::Redis::RedisOutputStream> m_output;
};

/// Helpers for replies.
namespace reply {
/// Integer reply value; throws std::runtime_error for other types.
std::int64_t integer(const Poco::Redis::RedisType::Ptr& value);
/// Bulk or simple string; `isNull` (when given) tells a null bulk string apart.
std::string string(const Poco::Redis::RedisType::Ptr& value, bool* isNull = nullptr);
/// Array reply; throws std::runtime_error for other types.
const Poco::Redis::Array& array(const Poco::Redis::RedisType::Ptr& value);
/// True for an error reply.
bool isError(const Poco::Redis::RedisType::Ptr& value);
/// The message of an error reply (without the leading '-'); empty for other replies.
std::string errorMessage(const Poco::Redis::RedisType::Ptr& value);
} // namespace reply

/**
 * Opens a connection, retrying with backoff per `retry`. Throws std::runtime_error naming the
 * endpoint, the attempts made and the last error when Redis stays unreachable.
 */
std::unique_ptr<RedisConnection> connectWithRetry(const RedisEndpoint& endpoint,
    const RedisStartupRetry& retry, std::chrono::milliseconds timeout);

/// Sets `stopping` under `mutex`, wakes `cv` and joins `thread` (a no-op once joined).
void stopWorker(
    std::mutex& mutex, bool& stopping, std::condition_variable& cv, std::thread& thread);

} // namespace livecomments::server::bus
