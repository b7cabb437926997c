// SPDX-License-Identifier: MIT
#pragma once

#include "service/rate_limiter.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace livecomments::server {

/**
 * Every run-time setting of the server. Filled by the composition root (app/options.h, from the
 * command line and the .properties file; docs/server.md lists them) and handed to LiveService.
 *
 * Threading: a value type, filled once at start and then read-only.
 */
struct Settings {
    std::string listenHost = "127.0.0.1";
    std::uint16_t listenPort = 8080;
    std::string storePath = "livecomments.db"; ///< from --store=sqlite:PATH
    std::string storeUrl = "sqlite:livecomments.db"; ///< --store as given
    std::string busUrl; ///< --bus (empty: a single node with the in-process bus)
    int connectAttempts = 10; ///< start-up attempts to reach PostgreSQL / Redis
    int connectTimeoutMs = 10000; ///< … within this long
    /// With a bus: how long a comment whose chain predecessor has not arrived waits before the
    /// gap is read from the store (0 = at once). Comments that arrive in order never wait.
    int orderHoldMs = 100;
    std::optional<std::uint32_t> explicitNodeId; ///< --node-id as given
    std::string jwtSecret; ///< empty → --dev secret or refuse to start
    std::string jwtPreviousSecret; ///< key rotation: accepted until jwtPreviousUntil
    std::int64_t jwtPreviousUntil = 0; ///< Unix seconds
    int jwtClockSkewSeconds = 30; ///< tolerance on exp / nbf
    bool dev = false;
    int heartbeatMs = 15000;
    std::size_t replayLimit = 500;
    int overlapMs = 3000;
    int retryMs = 2000;
    std::size_t queueCapBytes = 1u << 20;
    RateLimit rateLimit; ///< viewers; streamers/moderators get 5× count and burst
    std::size_t maxBodyBytes = 65536;
    bool readsNeedToken = false; ///< --reads=token
    int retentionDays = 0;
    int archiveAfterSeconds = 600; ///< --archive-after; -1 = off
    std::uint32_t nodeId = 0; ///< the node id in use (explicit, leased, or 0)
    unsigned loops = 0; ///< 0 = cores
    int statsMs = 5000;
    double viewerRateCap = 30; ///< comments/s one viewer is sent per video; 0 = off (no shaping)
    int threads = 16;
    int historyMaxAgeSeconds = 60; ///< Cache-Control max-age of immutable history pages
    bool synchronousFull = true; ///< store: PRAGMA synchronous=FULL (false: NORMAL)
    std::string storeKind = "sqlite";
    std::string logLevel = "information"; ///< Poco level name, fatal..trace
    bool testHooks = false; ///< --test-hooks: enables GET /test/fail (tests only)
    // The HTTP front end (docs/server.md "Front end").
    int headerTimeoutMs = 10000; ///< a request head must arrive within this (else 408)
    int bodyTimeoutMs = 30000; ///< a request body must arrive within this after its head
    int keepAliveTimeoutMs = 30000; ///< idle keep-alive connections are closed after this
    int sendTimeoutMs = 30000; ///< a response making no progress this long: connection closed
    std::size_t maxHeaderBytes = 16384; ///< request head size (else 431)
    std::size_t maxUriBytes = 8192; ///< request-target size (else 414)
    std::size_t maxConnections = 16384; ///< open HTTP connections per node (else 503)
    std::size_t maxConnectionsPerIp = 512; ///< per client address (else 429)
    RateLimit ipRateLimit { true, 3000, 10, 3000 }; ///< requests without a token per address
    // Regions (docs/operations.md "Regions").
    /// A peer region: its name and base URL (http[s]://host[:port][/path], no trailing slash).
    struct PeerRegion {
        std::string name;
        std::string url;
    };
    std::string region; ///< --region (empty: no region)
    std::vector<PeerRegion> peerRegions; ///< --peer-region, in the order given
    std::string regionSecret; ///< --region-secret (HMAC key of the relay)
    /// --region-ca-file: PEM CA certificates that https:// peers must chain to (empty: the
    /// system's trust store).
    std::string regionCaFile;
    std::uint32_t regionCount = 1; ///< this region and its peers
    std::uint32_t regionSlot = 0; ///< rank of `region` among all region names

    /// The limit for streamers and moderators derived from rateLimit.
    RateLimit elevatedRateLimit() const
    {
        RateLimit r = rateLimit;
        r.count *= 5;
        r.burst *= 5;
        return r;
    }
};

} // namespace livecomments::server
