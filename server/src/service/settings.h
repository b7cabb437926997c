// SPDX-License-Identifier: MIT
#pragma once

#include "service/rate_limiter.h"

#include <cstdint>
#include <string>

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
    std::string jwtSecret; ///< empty → --dev secret or refuse to start
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
    std::uint32_t nodeId = 1;
    unsigned loops = 0; ///< 0 = cores
    int statsMs = 5000;
    int threads = 16;
    int historyMaxAgeSeconds = 60; ///< Cache-Control max-age of immutable history pages
    bool synchronousFull = true; ///< store: PRAGMA synchronous=FULL (false: NORMAL)
    std::string storeKind = "sqlite";
    std::string logLevel = "information"; ///< Poco level name, fatal..trace
    bool testHooks = false; ///< --test-hooks: enables GET /test/fail (tests only)

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
