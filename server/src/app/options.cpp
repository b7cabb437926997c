// SPDX-License-Identifier: MIT
#include "app/options.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeParser.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>

#ifndef LC_VERSION
#error "LC_VERSION must be defined (server/CMakeLists.txt sets it from PROJECT_VERSION)"
#endif

namespace livecomments::server {

namespace {

constexpr long long kNoLimit = 0;

// clang-format off
const std::vector<OptionSpec> kOptions = {
    { "help", nullptr, nullptr, OptionKind::Flag, kNoLimit, kNoLimit,
      "show this help and exit", false },
    { "version", nullptr, nullptr, OptionKind::Flag, kNoLimit, kNoLimit,
      "print `livecomments-server <version>` and exit", false },
    { "config", "FILE", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      ".properties file with the same keys as these options", false },
    { "listen", "HOST:PORT", "127.0.0.1:8080", OptionKind::Text, kNoLimit, kNoLimit,
      "address to listen on (port 0 = any free port)", true },
    { "store", "URL", "sqlite:livecomments.db", OptionKind::Text, kNoLimit, kNoLimit,
      "comment store: sqlite:PATH or postgresql://user[:pw]@host[:port]/db", true },
    { "bus", "redis://HOST:PORT", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "cluster bus (Redis 7); without it the node runs alone", true },
    { "connect-attempts", "N", "10", OptionKind::Integer, 1, 1000,
      "start-up: attempts to reach PostgreSQL / Redis before exiting", true },
    { "connect-timeout-ms", "N", "10000", OptionKind::Integer, 100, 3600000,
      "start-up: give up reaching PostgreSQL / Redis after this long", true },
    { "order-hold-ms", "N", "100", OptionKind::Integer, 0, 10000,
      "with a bus: a live comment whose predecessor has not arrived waits this long, then the "
      "gap is read from the store",
      true },
    { "jwt-secret", "SECRET", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "HS256 secret (or env LIVECOMMENTS_JWT_SECRET)", true },
    { "jwt-previous-secret", "SECRET", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "key rotation: the old secret, still accepted until --jwt-previous-until", true },
    { "jwt-previous-until", "TIME", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "end of the previous secret's window: Unix seconds or ISO 8601 UTC", true },
    { "jwt-clock-skew", "S", "30", OptionKind::Integer, 0, 600,
      "tolerance in seconds on token exp and nbf", true },
    { "dev", nullptr, "false", OptionKind::Flag, kNoLimit, kNoLimit,
      "dev mode: secret 'livecomments-dev-secret' if none given, POST /auth/dev-token", true },
    { "heartbeat-ms", "N", "15000", OptionKind::Integer, 100, 3600000,
      "heartbeat after N ms of silence on a stream", true },
    { "replay-limit", "N", "500", OptionKind::Integer, 0, 1000000,
      "max comments replayed on resume, else `reset`", true },
    { "overlap-ms", "N", "3000", OptionKind::Integer, 0, 600000,
      "resume replay starts this much earlier", true },
    { "retry-ms", "N", "2000", OptionKind::Integer, 0, 3600000,
      "SSE retry: sent to clients", true },
    { "queue-cap", "BYTES", "1048576", OptionKind::Integer, 1024, 1LL << 34,
      "unsent bytes before a slow stream is closed", true },
    { "rate-limit", "N/Ss|off", "20/30s", OptionKind::Text, kNoLimit, kNoLimit,
      "posting rate per viewer (streamers/moderators 5x)", true },
    { "max-body", "BYTES", "65536", OptionKind::Integer, 64, 1LL << 30,
      "largest request body", true },
    { "reads", "public|token", "public", OptionKind::Text, kNoLimit, kNoLimit,
      "whether reads need a token", true },
    { "retention-days", "N", "0", OptionKind::Integer, 0, 100000,
      "delete comments older than N days (0 = keep)", true },
    { "archive-after", "SECONDS|off", "600", OptionKind::Text, kNoLimit, kNoLimit,
      "pack an ended video's comments into zstd blocks after SECONDS", true },
    { "node-id", "N", nullptr, OptionKind::Integer, 0, 1023,
      "snowflake node id, unique per node (with --bus: leased from Redis if omitted; else 0)",
      true },
    { "loops", "N", "0", OptionKind::Integer, 0, 256,
      "fan-out epoll loops (0 = cores)", true },
    { "stats-ms", "N", "5000", OptionKind::Integer, 0, 3600000,
      "interval of `stats` events (0 = off)", true },
    { "viewer-rate-cap", "N|off", "30", OptionKind::Text, kNoLimit, kNoLimit,
      "comments/s sent to one viewer of a hot video (a fair sample; off = all)", true },
    { "threads", "N", "16", OptionKind::Integer, 1, 1024,
      "HTTP worker threads", true },
    { "history-max-age", "S", "60", OptionKind::Integer, 0, 86400LL * 365,
      "Cache-Control max-age of settled history pages", true },
    { "store-synchronous", "full|normal", "full", OptionKind::Text, kNoLimit, kNoLimit,
      "SQLite synchronous mode in WAL", true },
    { "log-level", "LEVEL", "information", OptionKind::Text, kNoLimit, kNoLimit,
      "fatal, critical, error, warning, notice, information, debug or trace", true },
    { "test-hooks", nullptr, "false", OptionKind::Flag, kNoLimit, kNoLimit,
      "tests only: enables GET /test/fail (always 500)", true },
    { "header-timeout-ms", "N", "10000", OptionKind::Integer, 100, 3600000,
      "a request head must arrive within N ms (else 408)", true },
    { "body-timeout-ms", "N", "30000", OptionKind::Integer, 100, 3600000,
      "a request body must arrive within N ms after its head (else 408)", true },
    { "keepalive-timeout-ms", "N", "30000", OptionKind::Integer, 100, 3600000,
      "idle keep-alive connections are closed after N ms", true },
    { "send-timeout-ms", "N", "30000", OptionKind::Integer, 100, 3600000,
      "a client not reading its response for N ms is disconnected", true },
    { "max-header-bytes", "BYTES", "16384", OptionKind::Integer, 1024, 1048576,
      "largest request head (else 431)", true },
    { "max-uri-bytes", "BYTES", "8192", OptionKind::Integer, 256, 1048576,
      "longest request URI (else 414)", true },
    { "max-connections", "N", "16384", OptionKind::Integer, 1, 10000000,
      "open HTTP connections per node (else 503)", true },
    { "max-connections-per-ip", "N", "512", OptionKind::Integer, 1, 10000000,
      "open HTTP connections per client address (else 429)", true },
    { "ip-rate-limit", "N/Ss|off", "3000/10s", OptionKind::Text, kNoLimit, kNoLimit,
      "requests without a token per client address (burst N)", true },
    { "region", "NAME", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "this region's name (with --peer-region: relay writes to the peer regions)", true },
    { "peer-region", "NAME=URL", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "a peer region and its base URL (repeatable; comma-separated in the config file)", true,
      true },
    { "region-secret", "SECRET", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "shared HMAC secret of the region relay (required with --peer-region)", true },
    { "region-ca-file", "PATH", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "CA certificates (PEM) https:// peer regions must chain to (default: the system's)", true },
};
// clang-format on

const char* const kLogLevels[]
    = { "fatal", "critical", "error", "warning", "notice", "information", "debug", "trace" };

long long toInteger(const OptionSpec& spec, const std::string& value)
{
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || n < spec.min || n > spec.max)
        throw std::invalid_argument(std::string("--") + spec.name + ": expected an integer in "
            + std::to_string(spec.min) + ".." + std::to_string(spec.max) + ", got '" + value + "'");
    return n;
}

bool toBool(const std::string& name, const std::string& value)
{
    if (value.empty() || value == "true" || value == "1" || value == "yes" || value == "on")
        return true;
    if (value == "false" || value == "0" || value == "no" || value == "off")
        return false;
    throw std::invalid_argument("--" + name + ": expected true or false, got '" + value + "'");
}

/// Unix seconds, or an ISO 8601 date-time (with a zone; `Z` for UTC) such as 2026-12-01T00:00:00Z.
std::int64_t toUnixSeconds(const std::string& name, const std::string& value)
{
    if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos
        && value.size() <= 12)
        return std::stoll(value);
    // Poco's parser skips what it does not understand ("yesterday" parses), so the shape is
    // checked first: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
    static const std::regex kIso(
        R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}))");
    Poco::DateTime parsed;
    int zone = 0;
    if (!std::regex_match(value, kIso)
        || !Poco::DateTimeParser::tryParse(
            Poco::DateTimeFormat::ISO8601_FRAC_FORMAT, value, parsed, zone))
        throw std::invalid_argument("--" + name
            + ": expected Unix seconds or ISO 8601 (2026-12-01T00:00:00Z), got '" + value + "'");
    parsed.makeUTC(zone);
    return parsed.timestamp().epochTime();
}

/// The snowflake node field's size (ids/snowflake.h; app/ keeps its own copy of the number rather
/// than reaching into ids/ for one constant).
constexpr std::uint32_t kMaxSnowflakeNodes = 1024;

/// A region name: what the relay's X-LC-Region header and metric labels can carry safely.
bool validRegionName(const std::string& name)
{
    static const std::regex kName(R"([a-z0-9][a-z0-9_.-]{0,62})");
    return std::regex_match(name, kName);
}

/// http[s]://HOST[:PORT][/PATH] without a trailing slash, query or fragment (https: the relay
/// verifies the peer's certificate and host name, docs/operations.md "Regions").
bool validPeerUrl(const std::string& url)
{
    static const std::regex kUrl(R"(https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?)");
    return std::regex_match(url, kUrl);
}

/// --region, --peer-region (comma-joined), --region-secret and --region-ca-file into `s`
/// (docs/operations.md "Regions"). Every region's slot is its rank among all region names, so every
/// region derives the same partition of video ids and snowflake node ids from the same set of
/// names.
void loadRegions(const std::optional<std::string>& region, const std::optional<std::string>& peers,
    const std::optional<std::string>& secret, const std::optional<std::string>& caFile, Settings& s)
{
    if (caFile) {
        // Checked here, so that a typo is a start-up error rather than every relay attempt failing.
        if (!std::ifstream(*caFile).good())
            throw std::invalid_argument("--region-ca-file: cannot read '" + *caFile + "'");
        if (!peers || peers->empty())
            throw std::invalid_argument("--region-ca-file needs --peer-region");
        s.regionCaFile = *caFile;
    }
    if (region) {
        if (!validRegionName(*region))
            throw std::invalid_argument(
                "--region: expected a name of [a-z0-9_.-] (up to 63), got '" + *region + "'");
        s.region = *region;
    }
    if (secret)
        s.regionSecret = *secret;
    if (!peers || peers->empty()) {
        if (secret && !region)
            throw std::invalid_argument("--region-secret needs --region and --peer-region");
        return;
    }
    if (s.region.empty())
        throw std::invalid_argument("--peer-region needs --region (this region's name)");
    if (s.regionSecret.size() < 16)
        throw std::invalid_argument(
            "--peer-region needs --region-secret (at least 16 characters, the same in every "
            "region)");
    std::vector<std::string> names { s.region };
    std::size_t from = 0;
    while (from <= peers->size()) {
        const auto comma = peers->find(',', from);
        const std::string item
            = peers->substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        from = comma == std::string::npos ? peers->size() + 1 : comma + 1;
        const auto eq = item.find('=');
        const std::string name = eq == std::string::npos ? item : item.substr(0, eq);
        std::string url = eq == std::string::npos ? "" : item.substr(eq + 1);
        while (!url.empty() && url.back() == '/')
            url.pop_back();
        if (!validRegionName(name) || !validPeerUrl(url))
            throw std::invalid_argument(
                "--peer-region: expected NAME=http[s]://HOST[:PORT][/PATH], got '" + item + "'");
        if (name == s.region)
            throw std::invalid_argument(
                "--peer-region: '" + name + "' is this region's own name (--region)");
        if (std::find(names.begin(), names.end(), name) != names.end())
            throw std::invalid_argument("--peer-region: '" + name + "' is given twice");
        names.push_back(name);
        s.peerRegions.push_back({ name, url });
    }
    std::sort(names.begin(), names.end());
    s.regionCount = static_cast<std::uint32_t>(names.size());
    s.regionSlot = static_cast<std::uint32_t>(
        std::find(names.begin(), names.end(), s.region) - names.begin());
    // Snowflake node ids of different regions never meet: a region uses the ids ≡ its slot
    // (mod the number of regions). --node-id=N is the N-th of them; a single node without it
    // takes the first; with --bus a free one of them is leased (app/server_app.cpp).
    if (s.explicitNodeId) {
        if (*s.explicitNodeId >= regionNodeIds(s))
            throw std::invalid_argument("--node-id: with " + std::to_string(s.regionCount)
                + " regions expected 0.." + std::to_string(regionNodeIds(s) - 1) + ", got "
                + std::to_string(*s.explicitNodeId));
        s.explicitNodeId = *s.explicitNodeId * s.regionCount + s.regionSlot;
    }
    s.nodeId = s.explicitNodeId.value_or(s.regionSlot);
}

} // namespace

const std::vector<OptionSpec>& optionTable()
{
    return kOptions;
}

const OptionSpec* findOption(const std::string& name)
{
    for (const auto& spec : kOptions) {
        if (name == spec.name)
            return &spec;
    }
    return nullptr;
}

const char* serverVersion()
{
    return LC_VERSION;
}

Settings loadSettings(const SettingLookup& lookup)
{
    Settings s;
    auto get = [&](const char* name) { return lookup(name); };
    // Every integer option is range-checked against its table entry.
    auto integer = [&](const char* name, auto& field) {
        const OptionSpec* spec = findOption(name);
        if (!spec || spec->kind != OptionKind::Integer)
            throw std::logic_error(std::string("not an integer option: ") + name);
        if (auto v = get(name))
            field = static_cast<std::remove_reference_t<decltype(field)>>(toInteger(*spec, *v));
    };
    auto flag = [&](const char* name, bool& field) {
        if (auto v = get(name))
            field = toBool(name, *v);
    };
    if (auto v = get("listen")) {
        const auto colon = v->rfind(':');
        if (colon == std::string::npos)
            throw std::invalid_argument("--listen: expected HOST:PORT, got '" + *v + "'");
        s.listenHost = v->substr(0, colon);
        if (s.listenHost.size() >= 2 && s.listenHost.front() == '[' && s.listenHost.back() == ']')
            s.listenHost = s.listenHost.substr(1, s.listenHost.size() - 2);
        if (s.listenHost.empty())
            s.listenHost = "0.0.0.0";
        const OptionSpec port { "listen", "HOST:PORT", nullptr, OptionKind::Integer, 0, 65535, "",
            false };
        s.listenPort = static_cast<std::uint16_t>(toInteger(port, v->substr(colon + 1)));
    }
    if (auto v = get("store")) {
        const auto colon = v->find(':');
        const std::string kind = colon == std::string::npos ? "" : v->substr(0, colon);
        if (kind == "sqlite" && colon + 1 < v->size()) {
            s.storeKind = kind;
            s.storePath = v->substr(colon + 1);
        } else if (kind == "postgresql" || kind == "postgres") {
            s.storeKind = "postgresql"; // the URL itself is checked when the store is made
        } else {
            throw std::invalid_argument("--store: expected sqlite:PATH or "
                                        "postgresql://user[:password]@host[:port]/db, got '"
                + *v + "'");
        }
        s.storeUrl = *v;
    }
    if (auto v = get("bus")) {
        if (v->rfind("redis://", 0) != 0)
            throw std::invalid_argument("--bus: expected redis://HOST[:PORT], got '" + *v + "'");
        s.busUrl = *v; // parsed (and checked further) by bus::parseRedisUrl at start
    }
    integer("connect-attempts", s.connectAttempts);
    integer("connect-timeout-ms", s.connectTimeoutMs);
    integer("order-hold-ms", s.orderHoldMs);
    if (auto v = get("jwt-secret"))
        s.jwtSecret = *v;
    if (auto v = get("jwt-previous-secret"))
        s.jwtPreviousSecret = *v;
    if (auto v = get("jwt-previous-until"))
        s.jwtPreviousUntil = toUnixSeconds("jwt-previous-until", *v);
    if (!s.jwtPreviousSecret.empty() && s.jwtPreviousUntil == 0)
        throw std::invalid_argument(
            "--jwt-previous-secret needs --jwt-previous-until (end of the rollover window)");
    integer("jwt-clock-skew", s.jwtClockSkewSeconds);
    flag("dev", s.dev);
    integer("heartbeat-ms", s.heartbeatMs);
    integer("replay-limit", s.replayLimit);
    integer("overlap-ms", s.overlapMs);
    integer("retry-ms", s.retryMs);
    integer("queue-cap", s.queueCapBytes);
    auto rate = [&](const char* name, RateLimit& field) {
        if (auto v = get(name)) {
            if (!parseRateLimit(*v, field))
                throw std::invalid_argument(std::string("--") + name
                    + ": expected N/Ss (e.g. 20/30s) or off, got '" + *v + "'");
            return true;
        }
        return false;
    };
    rate("rate-limit", s.rateLimit);
    integer("max-body", s.maxBodyBytes);
    if (auto v = get("reads")) {
        if (*v == "public")
            s.readsNeedToken = false;
        else if (*v == "token")
            s.readsNeedToken = true;
        else
            throw std::invalid_argument("--reads: expected public or token, got '" + *v + "'");
    }
    integer("retention-days", s.retentionDays);
    if (auto v = get("archive-after")) {
        const OptionSpec seconds { "archive-after", "SECONDS|off", nullptr, OptionKind::Integer, 0,
            86400LL * 365, "", false };
        s.archiveAfterSeconds = *v == "off" ? -1 : static_cast<int>(toInteger(seconds, *v));
    }
    {
        std::uint32_t nodeId = 0;
        if (get("node-id")) {
            integer("node-id", nodeId);
            s.explicitNodeId = nodeId;
            s.nodeId = nodeId;
        }
    }
    integer("loops", s.loops);
    integer("stats-ms", s.statsMs);
    if (auto v = get("viewer-rate-cap")) {
        char* end = nullptr;
        errno = 0;
        const long long n = std::strtoll(v->c_str(), &end, 10);
        if (*v == "off")
            s.viewerRateCap = 0;
        else if (!v->empty() && *end == '\0' && errno == 0 && n >= 1 && n <= 1000000)
            s.viewerRateCap = static_cast<double>(n);
        else
            throw std::invalid_argument(
                "--viewer-rate-cap: expected an integer in 1..1000000 or off, got '" + *v + "'");
    }
    integer("threads", s.threads);
    integer("history-max-age", s.historyMaxAgeSeconds);
    if (auto v = get("store-synchronous")) {
        if (*v == "full" || *v == "FULL")
            s.synchronousFull = true;
        else if (*v == "normal" || *v == "NORMAL")
            s.synchronousFull = false;
        else
            throw std::invalid_argument(
                "--store-synchronous: expected full or normal, got '" + *v + "'");
    }
    if (auto v = get("log-level")) {
        bool known = false;
        for (const char* level : kLogLevels)
            known = known || *v == level;
        if (!known)
            throw std::invalid_argument("--log-level: expected fatal, critical, error, warning, "
                                        "notice, information, debug or trace, got '"
                + *v + "'");
        s.logLevel = *v;
    }
    flag("test-hooks", s.testHooks);
    integer("header-timeout-ms", s.headerTimeoutMs);
    integer("body-timeout-ms", s.bodyTimeoutMs);
    integer("keepalive-timeout-ms", s.keepAliveTimeoutMs);
    integer("send-timeout-ms", s.sendTimeoutMs);
    integer("max-header-bytes", s.maxHeaderBytes);
    integer("max-uri-bytes", s.maxUriBytes);
    integer("max-connections", s.maxConnections);
    integer("max-connections-per-ip", s.maxConnectionsPerIp);
    if (rate("ip-rate-limit", s.ipRateLimit))
        s.ipRateLimit.burst = s.ipRateLimit.count; // a bucket of N, not the posting burst of 5
    loadRegions(get("region"), get("peer-region"), get("region-secret"), get("region-ca-file"), s);
    return s;
}

std::uint32_t regionNodeIds(const Settings& s)
{
    // Slots at the end of the field may have one id fewer than those at the start.
    return (kMaxSnowflakeNodes - s.regionSlot + s.regionCount - 1) / s.regionCount;
}

} // namespace livecomments::server
