// SPDX-License-Identifier: MIT
#pragma once

#include "app/rate_limiter.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace livecomments::server {

/**
 * Every run-time setting of the server. Names match the command-line options (`--name=value`)
 * and the keys of the .properties config file (docs/server.md lists them).
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

    /// The limit for streamers and moderators derived from rateLimit.
    RateLimit elevatedRateLimit() const;
};

/// Looks up a setting by option name (command line first, then the config file); nullopt if unset.
using SettingLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Builds Settings from `lookup`; throws std::invalid_argument naming the option on a bad value.
Settings loadSettings(const SettingLookup& lookup);

/// Every option name loadSettings() reads (for --help and the config file docs).
const char* const* settingNames();

} // namespace livecomments::server
