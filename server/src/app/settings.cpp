// SPDX-License-Identifier: MIT
#include "app/settings.h"

#include <cstdlib>
#include <stdexcept>

namespace livecomments::server {

namespace {

const char* const kNames[]
    = { "listen", "store", "jwt-secret", "dev", "heartbeat-ms", "replay-limit", "overlap-ms",
          "retry-ms", "queue-cap", "rate-limit", "max-body", "reads", "retention-days", "node-id",
          "loops", "stats-ms", "threads", "history-max-age", "store-synchronous", nullptr };

long long toInteger(const std::string& name, const std::string& value, long long min, long long max)
{
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || n < min || n > max)
        throw std::invalid_argument("--" + name + ": expected an integer in " + std::to_string(min)
            + ".." + std::to_string(max) + ", got '" + value + "'");
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

const char* const* settingNames()
{
    return kNames;
}

RateLimit Settings::elevatedRateLimit() const
{
    RateLimit r = rateLimit;
    r.count *= 5;
    r.burst *= 5;
    return r;
}

Settings loadSettings(const SettingLookup& lookup)
{
    Settings s;
    auto get = [&](const char* name) { return lookup(name); };
    auto integer = [&](const char* name, long long min, long long max, auto& field) {
        if (auto v = get(name))
            field = static_cast<std::remove_reference_t<decltype(field)>>(
                toInteger(name, *v, min, max));
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
        s.listenPort
            = static_cast<std::uint16_t>(toInteger("listen", v->substr(colon + 1), 0, 65535));
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
    if (auto v = get("dev"))
        s.dev = toBool("dev", *v);
    integer("heartbeat-ms", 100, 3600000, s.heartbeatMs);
    integer("replay-limit", 0, 1000000, s.replayLimit);
    integer("overlap-ms", 0, 600000, s.overlapMs);
    integer("retry-ms", 0, 3600000, s.retryMs);
    integer("queue-cap", 1024, 1LL << 34, s.queueCapBytes);
    if (auto v = get("rate-limit")) {
        if (!parseRateLimit(*v, s.rateLimit))
            throw std::invalid_argument(
                "--rate-limit: expected N/Ss (e.g. 20/30s) or off, got '" + *v + "'");
    }
    integer("max-body", 64, 1LL << 30, s.maxBodyBytes);
    if (auto v = get("reads")) {
        if (*v == "public")
            s.readsNeedToken = false;
        else if (*v == "token")
            s.readsNeedToken = true;
        else
            throw std::invalid_argument("--reads: expected public or token, got '" + *v + "'");
    }
    integer("retention-days", 0, 100000, s.retentionDays);
    integer("node-id", 0, 1023, s.nodeId);
    integer("loops", 0, 256, s.loops);
    integer("stats-ms", 0, 3600000, s.statsMs);
    integer("threads", 1, 1024, s.threads);
    integer("history-max-age", 0, 86400 * 365, s.historyMaxAgeSeconds);
    if (auto v = get("store-synchronous")) {
        if (*v == "full" || *v == "FULL")
            s.synchronousFull = true;
        else if (*v == "normal" || *v == "NORMAL")
            s.synchronousFull = false;
        else
            throw std::invalid_argument(
                "--store-synchronous: expected full or normal, got '" + *v + "'");
    }
    return s;
}

} // namespace livecomments::server
