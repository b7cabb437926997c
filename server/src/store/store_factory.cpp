// SPDX-License-Identifier: MIT
#include "store/store_factory.h"

#include "store/postgres_store.h"
#include "store/sqlite_store.h"

#include <cctype>

namespace livecomments::server::store {

namespace {

constexpr const char* kExpected
    = "expected sqlite:PATH or postgresql://user[:password]@host[:port]/database";

[[noreturn]] void reject(const std::string& url, const std::string& why)
{
    throw StoreUrlError("--store: " + why + " in '" + url + "' (" + kExpected + ")");
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string percentDecoded(const std::string& url, const std::string& part)
{
    std::string out;
    for (std::size_t i = 0; i < part.size(); ++i) {
        if (part[i] != '%') {
            out += part[i];
            continue;
        }
        const int hi = i + 2 < part.size() ? hexValue(part[i + 1]) : -1;
        const int lo = hi >= 0 ? hexValue(part[i + 2]) : -1;
        if (lo < 0)
            reject(url, "bad %-escape");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

StoreUrl parsePostgres(const std::string& url, const std::string& rest)
{
    StoreUrl out;
    out.kind = StoreUrl::Kind::Postgres;
    const auto slash = rest.find('/');
    if (slash == std::string::npos || slash + 1 == rest.size())
        reject(url, "no database name");
    const std::string authority = rest.substr(0, slash);
    const std::string database = rest.substr(slash + 1);
    if (database.find_first_of("/?#") != std::string::npos)
        reject(url, "unsupported path or query after the database name");
    out.database = percentDecoded(url, database);

    const auto at = authority.rfind('@');
    if (at == std::string::npos || at == 0)
        reject(url, "no user");
    const std::string userInfo = authority.substr(0, at);
    const auto colon = userInfo.find(':');
    out.user = percentDecoded(url, userInfo.substr(0, colon));
    if (out.user.empty())
        reject(url, "empty user");
    if (colon != std::string::npos)
        out.password = percentDecoded(url, userInfo.substr(colon + 1));

    std::string hostPort = authority.substr(at + 1);
    std::string portText;
    if (!hostPort.empty() && hostPort.front() == '[') {
        const auto close = hostPort.find(']');
        if (close == std::string::npos)
            reject(url, "unclosed '[' in the host");
        out.host = hostPort.substr(1, close - 1);
        const std::string after = hostPort.substr(close + 1);
        if (!after.empty() && after.front() != ':')
            reject(url, "junk after the IPv6 address");
        portText = after.empty() ? "" : after.substr(1);
        if (!after.empty() && portText.empty())
            reject(url, "empty port");
    } else {
        const auto portColon = hostPort.find(':');
        out.host = hostPort.substr(0, portColon);
        if (portColon != std::string::npos) {
            portText = hostPort.substr(portColon + 1);
            if (portText.empty())
                reject(url, "empty port");
        }
    }
    if (out.host.empty())
        reject(url, "no host");
    if (!portText.empty()) {
        if (portText.size() > 5
            || !std::all_of(portText.begin(), portText.end(),
                [](unsigned char c) { return std::isdigit(c) != 0; }))
            reject(url, "port '" + portText + "' is not a number");
        out.port = std::stoi(portText);
        if (out.port < 1 || out.port > 65535)
            reject(url, "port " + portText + " is out of range");
    }
    return out;
}

} // namespace

StoreUrl parseStoreUrl(const std::string& url)
{
    if (url.rfind("sqlite:", 0) == 0) {
        StoreUrl out;
        out.path = url.substr(7);
        if (out.path.empty())
            reject(url, "empty SQLite path");
        return out;
    }
    for (const char* scheme : { "postgresql://", "postgres://" }) {
        const std::string prefix = scheme;
        if (url.rfind(prefix, 0) == 0)
            return parsePostgres(url, url.substr(prefix.size()));
    }
    reject(url, "unknown store");
}

std::unique_ptr<CommentStore> makeCommentStore(
    const std::string& url, const StoreOptions& options, ids::SnowflakeGenerator& ids)
{
    const StoreUrl parsed = parseStoreUrl(url);
    std::unique_ptr<StoreBackend> backend;
    if (parsed.kind == StoreUrl::Kind::Sqlite) {
        backend = std::make_unique<SqliteBackend>(
            parsed.path, options.synchronousFull, options.readPoolSize);
    } else {
        PostgresConfig config;
        config.host = parsed.host;
        config.port = parsed.port;
        config.user = parsed.user;
        config.password = parsed.password;
        config.database = parsed.database;
        config.readPoolSize = options.readPoolSize;
        config.connectAttempts = options.connectAttempts;
        config.connectDeadlineMs = options.connectDeadlineMs;
        backend = std::make_unique<PostgresBackend>(std::move(config));
    }
    return std::make_unique<CommentStore>(std::move(backend), options, ids);
}

} // namespace livecomments::server::store
