// SPDX-License-Identifier: MIT
#pragma once

#include "bus/redis_connection.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livecomments::server::bus {

/// Number of hash slots of a Redis Cluster.
constexpr std::uint16_t kClusterSlots = 16384;
/// A command is re-sent after at most this many -MOVED / -ASK redirects, then fails.
constexpr int kMaxRedirects = 5;
/// A stale slot map is re-read at most this often (a dead master would otherwise cost a read per
/// command).
constexpr std::chrono::milliseconds kSlotMapRefreshInterval { 500 };
/// The prefix of the error reply pipeline(cmds, true) puts in place of the replies of a master
/// it could not reach.
constexpr char kUnreachablePrefix[] = "UNREACHABLE ";

/**
 * The cluster hash slot of `key` as Redis defines it: CRC16 (XMODEM) of the key, or of its hash
 * tag (the text between the first `{` and the next `}`, when non-empty), modulo 16384.
 */
std::uint16_t keySlot(std::string_view key);

/// A parsed `-MOVED <slot> <host>:<port>` or `-ASK <slot> <host>:<port>` error reply.
struct Redirect {
    bool ask = false; ///< -ASK (one-off, send ASKING first) rather than -MOVED (slot moved)
    std::uint16_t slot = 0;
    RedisEndpoint target;
};

/**
 * Parses a redirect from an error message (without the leading '-'). `from` supplies the
 * credentials and, when Redis sends an empty host (`:port`), the host. False for other errors.
 */
bool parseRedirect(const std::string& message, const RedisEndpoint& from, Redirect& redirect);

/**
 * Which master serves which slot. A standalone Redis (CLUSTER SLOTS answered with an error) is a
 * map with one master, the seed, owning every slot: everything routed through it behaves as with
 * a plain connection.
 */
class SlotMap {
public:
    /// A standalone map: `seed` owns every slot.
    explicit SlotMap(RedisEndpoint seed = {});

    /**
     * Asks `connection` (to `asked`) for CLUSTER SLOTS. An error reply (cluster support disabled)
     * gives a standalone map of `asked`. Throws Poco::Exception on transport failure and
     * std::runtime_error for a reply it cannot parse or a cluster with unserved slots.
     */
    static SlotMap discover(RedisConnection& connection, const RedisEndpoint& asked);

    bool clustered() const { return m_clustered; }
    /// The master owning `slot`.
    const RedisEndpoint& ownerOf(std::uint16_t slot) const;
    /// The master owning `key`'s slot.
    const RedisEndpoint& ownerOfKey(std::string_view key) const
    {
        return m_clustered ? ownerOf(keySlot(key)) : m_masters.front();
    }
    /// Every master that owns at least one slot.
    const std::vector<RedisEndpoint>& masters() const { return m_masters; }
    /// Records that `slot` is now served by `owner` (after -MOVED).
    void assign(std::uint16_t slot, const RedisEndpoint& owner);

private:
    std::size_t indexOf(const RedisEndpoint& endpoint);

    bool m_clustered = false;
    std::vector<RedisEndpoint> m_masters;
    std::vector<std::uint16_t> m_owner; ///< slot → index in m_masters (empty: standalone)
};

/**
 * Reads the slot map from the first of `candidates` that answers (each tried once, with
 * `timeout`). Throws std::runtime_error naming the last failure when none does.
 */
SlotMap fetchSlotMap(
    const std::vector<RedisEndpoint>& candidates, std::chrono::milliseconds timeout);

/**
 * Request/response commands against a standalone Redis or a Redis Cluster: each command carries
 * the key it is routed by, goes to the master owning that key's slot (one lazily opened
 * connection per master), and -MOVED (slot map updated, then re-read in full) and -ASK (ASKING,
 * then the command) redirects are followed at most kMaxRedirects times.
 *
 * A transport failure drops the connection it happened on and marks the map stale, so that the
 * next call re-reads it first (from any known master or the seed): after a failover the promoted
 * replica is found without a restart.
 *
 * Threading: not thread-safe; its owner serialises the calls.
 */
class RedisRouter {
public:
    /// A command and the key that routes it.
    using Keyed = std::pair<std::string, Poco::Redis::Array>;

    RedisRouter(RedisEndpoint seed, std::chrono::milliseconds timeout);
    ~RedisRouter();
    RedisRouter(const RedisRouter&) = delete;
    RedisRouter& operator=(const RedisRouter&) = delete;

    /**
     * The first connection: to the seed, retrying per `retry`, then the slot map and (a cluster)
     * a PING of every master, retried within the same limits. Throws std::runtime_error naming
     * the seed (see connectWithRetry()) or the master that cannot be reached.
     */
    void connect(const RedisStartupRetry& retry);

    /// Runs `cmd` on the owner of `key`'s slot; an error reply throws RedisReplyError.
    Poco::Redis::RedisType::Ptr command(const std::string& key, const Poco::Redis::Array& cmd);
    /**
     * Sends the commands pipelined, one write per master, and returns the replies in order; error
     * replies are returned as Poco::Redis::Error elements (after redirects were followed).
     * A transport failure throws (Poco::Exception, or std::runtime_error when a connection cannot
     * be opened), unless `isolateFailures`: then the commands of that master get an error reply
     * starting with kUnreachablePrefix and the other masters' commands are still sent.
     */
    std::vector<Poco::Redis::RedisType::Ptr> pipeline(
        const std::vector<Keyed>& cmds, bool isolateFailures = false);
    /// PINGs every master (a standalone Redis: the one); throws std::runtime_error naming the
    /// first that fails.
    void ping();
    /// Closes every connection (the next call reconnects).
    void reset();

    bool clustered() const { return m_map.clustered(); }
    const SlotMap& slotMap() const { return m_map; }

private:
    RedisConnection& connectionTo(const RedisEndpoint& endpoint);
    void dropConnection(const RedisEndpoint& endpoint);
    void refreshIfStale();
    /// Follows redirects for one command whose first reply was `first` (from `from`).
    Poco::Redis::RedisType::Ptr settle(
        const Poco::Redis::Array& cmd, RedisEndpoint from, Poco::Redis::RedisType::Ptr first);

    RedisEndpoint m_seed;
    std::chrono::milliseconds m_timeout;
    SlotMap m_map;
    bool m_stale = false;
    std::chrono::steady_clock::time_point m_nextRefresh;
    std::map<std::string, std::unique_ptr<RedisConnection>> m_connections; ///< by display()
};

} // namespace livecomments::server::bus
