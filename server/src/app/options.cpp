// SPDX-License-Identifier: MIT
#include "app/options.h"

#include <cerrno>
#include <cstdlib>
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
    { "store", "sqlite:PATH", "sqlite:livecomments.db", OptionKind::Text, kNoLimit, kNoLimit,
      "comment store", true },
    { "jwt-secret", "SECRET", nullptr, OptionKind::Text, kNoLimit, kNoLimit,
      "HS256 secret (or env LIVECOMMENTS_JWT_SECRET)", true },
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
    { "node-id", "N", "1", OptionKind::Integer, 0, 1023,
      "snowflake node id, unique per node", true },
    { "loops", "N", "0", OptionKind::Integer, 0, 256,
      "fan-out epoll loops (0 = cores)", true },
    { "stats-ms", "N", "5000", OptionKind::Integer, 0, 3600000,
      "interval of `stats` events (0 = off)", true },
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
        if (kind != "sqlite" || colon + 1 >= v->size())
            throw std::invalid_argument(
                "--store: expected sqlite:PATH (other stores are not built in), got '" + *v + "'");
        s.storeKind = kind;
        s.storePath = v->substr(colon + 1);
    }
    if (auto v = get("jwt-secret"))
        s.jwtSecret = *v;
    flag("dev", s.dev);
    integer("heartbeat-ms", s.heartbeatMs);
    integer("replay-limit", s.replayLimit);
    integer("overlap-ms", s.overlapMs);
    integer("retry-ms", s.retryMs);
    integer("queue-cap", s.queueCapBytes);
    if (auto v = get("rate-limit")) {
        if (!parseRateLimit(*v, s.rateLimit))
            throw std::invalid_argument(
                "--rate-limit: expected N/Ss (e.g. 20/30s) or off, got '" + *v + "'");
    }
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
    integer("node-id", s.nodeId);
    integer("loops", s.loops);
    integer("stats-ms", s.statsMs);
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
    return s;
}

} // namespace livecomments::server
