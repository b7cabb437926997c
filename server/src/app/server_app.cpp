// SPDX-License-Identifier: MIT
#include "app/server_app.h"

#include "app/options.h"
#include "auth/jwt_auth.h"
#include "frontend/front_end.h"
#include "http/router.h"
#include "metrics/metrics.h"
#include "service/live_service.h"
#include "service/settings.h"

#include <Poco/AsyncChannel.h>
#include <Poco/Channel.h>
#include <Poco/Environment.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/PatternFormatter.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionCallback.h>
#include <Poco/Util/OptionException.h>
#include <Poco/Util/OptionProcessor.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/PropertyFileConfiguration.h>

#include <csignal>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

namespace livecomments::server {

using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionCallback;

namespace {

/// Writes each log message to stderr as one line in one write. (Poco's ConsoleChannel over
/// std::cerr writes the text and the newline separately, so with stdout and stderr going to one
/// file another line could land between them: the readiness line lost its line start.)
class StderrLineChannel : public Poco::Channel {
public:
    void log(const Poco::Message& msg) override
    {
        const std::string line = msg.getText() + '\n';
        std::fwrite(line.data(), 1, line.size(), stderr); // stderr is unbuffered: one write
        std::fflush(stderr);
    }
};

/// Raises the soft open-file limit to the hard limit: every SSE stream is a descriptor.
void raiseFileLimit()
{
    rlimit limit {};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return;
    rlim_t target = limit.rlim_max == RLIM_INFINITY ? 1048576 : limit.rlim_max;
    if (limit.rlim_cur < target) {
        limit.rlim_cur = target;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

/**
 * Connects the cluster parts in the order docs/operations.md gives: the node-id lease first (it
 * decides settings.nodeId, which the snowflake ids need), then the bus and the viewer counts.
 * Throws std::invalid_argument (malformed URL) or std::runtime_error (unreachable, id taken).
 */
ClusterParts connectCluster(Settings& settings)
{
    const bus::RedisEndpoint endpoint = bus::parseRedisUrl(settings.busUrl);
    bus::RedisStartupRetry retry;
    retry.attempts = settings.connectAttempts;
    retry.deadline = std::chrono::milliseconds(settings.connectTimeoutMs);
    ClusterParts parts;
    bus::NodeIdLeaseOptions lease;
    lease.endpoint = endpoint;
    lease.explicitId = settings.explicitNodeId;
    lease.startup = retry;
    if (settings.regionCount > 1 && !settings.explicitNodeId) {
        // Regions: only the ids of this region's class (docs/operations.md "Regions"), each asked
        // for explicitly, from a random start so that nodes starting together do not race.
        const std::uint32_t count = regionNodeIds(settings);
        const std::uint32_t start = std::random_device()() % count;
        for (std::uint32_t i = 0; i < count && !parts.lease; ++i) {
            lease.explicitId = ((start + i) % count) * settings.regionCount + settings.regionSlot;
            try {
                parts.lease = std::make_unique<bus::NodeIdLease>(lease);
            } catch (const std::runtime_error& e) {
                // Taken by a live node: the next one. Anything else (Redis away) ends the start.
                if (std::string(e.what()).find("already in use") == std::string::npos)
                    throw;
            }
        }
        if (!parts.lease)
            throw std::runtime_error("no free node id among this region's " + std::to_string(count)
                + " in Redis at " + endpoint.display());
    } else {
        parts.lease = std::make_unique<bus::NodeIdLease>(lease);
    }
    settings.nodeId = parts.lease->nodeId();
    parts.lease->setLostHandler([](std::uint32_t nodeId) {
        // Another live node may now mint ids with our node field: stop taking writes.
        Poco::Logger::get("livecomments")
            .fatal("node id %u lease lost to another node: shutting down", nodeId);
        ::kill(::getpid(), SIGTERM);
    });
    bus::RedisBusOptions busOptions;
    busOptions.endpoint = endpoint;
    busOptions.nodeId = settings.nodeId;
    busOptions.startup = retry;
    parts.bus = std::make_unique<bus::RedisBus>(busOptions);
    bus::ViewerCountsOptions counts;
    counts.endpoint = endpoint;
    counts.nodeId = settings.nodeId;
    counts.startup = retry;
    parts.counts = std::make_unique<bus::ViewerCounts>(counts);
    return parts;
}

/// The front end's limits from the settings (one place maps option names to fields).
frontend::FrontEndOptions frontEndOptions(const Settings& s)
{
    frontend::FrontEndOptions o;
    o.limits.maxHeadBytes = s.maxHeaderBytes;
    o.limits.maxUriBytes = s.maxUriBytes;
    o.limits.maxBodyBytes = s.maxBodyBytes;
    o.headTimeoutMs = s.headerTimeoutMs;
    o.bodyTimeoutMs = s.bodyTimeoutMs;
    o.idleTimeoutMs = s.keepAliveTimeoutMs;
    o.sendTimeoutMs = s.sendTimeoutMs;
    o.maxConnections = s.maxConnections;
    o.maxConnectionsPerIp = s.maxConnectionsPerIp;
    o.ipRateCount = s.ipRateLimit.enabled ? s.ipRateLimit.count : 0;
    o.ipRateSeconds = s.ipRateLimit.seconds;
    o.workers = s.threads;
    o.serverHeader = std::string("livecomments-server/") + serverVersion();
    return o;
}

} // namespace

void ServerApplication::defineOptions(Poco::Util::OptionSet& options)
{
    Poco::Util::ServerApplication::defineOptions(options); // --daemon, --pidfile, --umask
    for (const OptionSpec& spec : optionTable()) {
        std::string help = spec.help;
        if (spec.defaultText)
            help += std::string(" (default ") + spec.defaultText + ")";
        if (spec.kind == OptionKind::Integer)
            help += " [" + std::to_string(spec.min) + ".." + std::to_string(spec.max) + "]";
        Option option(spec.name, std::string(spec.name) == "help" ? "h" : "", help);
        option.required(false).repeatable(spec.repeatable);
        if (spec.argument)
            option.argument(spec.argument, true);
        option.callback(OptionCallback<ServerApplication>(this, &ServerApplication::handleOption));
        options.addOption(option);
    }
}

void ServerApplication::handleOption(const std::string& name, const std::string& value)
{
    if (name == "help" || name == "version") {
        (name == "help" ? m_help : m_version) = true;
        stopOptionsProcessing();
        return;
    }
    const OptionSpec* spec = findOption(name);
    if (!spec) { // Poco's own: --daemon, --pidfile, --umask
        Poco::Util::ServerApplication::handleOption(name, value);
        return;
    }
    if (spec->repeatable && m_cli.count(name) != 0)
        m_cli[name] += "," + value;
    else
        m_cli[name] = spec->kind == OptionKind::Flag ? "true" : value;
}

void ServerApplication::printHelp()
{
    Poco::Util::HelpFormatter help(options());
    help.setCommand(commandName());
    help.setUnixStyle(true);
    help.setUsage(
        "[OPTIONS]   |   token --user=ID --name=NAME [--role=R] [--ttl=S] [--dev|--jwt-secret=S]");
    help.setHeader("LiveComments reference server: REST + SSE realtime comments for live video.");
    help.setFooter("Options may also be set in the --config file (same names, e.g. "
                   "heartbeat-ms=15000). See docs/server.md.");
    help.format(std::cout);
}

void ServerApplication::setUpLogging(const std::string& level)
{
    Poco::AutoPtr<Poco::PatternFormatter> pattern
        = new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i %q %s: %t");
    pattern->setProperty("times", "UTC");
    Poco::AutoPtr<Poco::Channel> console = new StderrLineChannel;
    Poco::AutoPtr<Poco::Channel> formatting = new Poco::FormattingChannel(pattern, console);
    // Asynchronous: a request thread never waits for stderr (a slow reader of the log must not
    // stall the server); the queue is drained when the channel closes at exit.
    m_logChannel = new Poco::AsyncChannel(formatting);
    Poco::Logger::root().setChannel(m_logChannel);
    Poco::Logger::root().setLevel(level);
    // Loggers created before this point (static ones) keep their own channel and level.
    Poco::Logger::setChannel("", m_logChannel);
    Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
}

void ServerApplication::logSummary(
    const Settings& s, const std::string& store, std::uint16_t port, unsigned loops)
{
    std::string rate = "off";
    if (s.rateLimit.enabled)
        rate = std::to_string(static_cast<long long>(s.rateLimit.count)) + "/"
            + std::to_string(static_cast<long long>(s.rateLimit.seconds)) + "s";
    Poco::Logger::get("livecomments")
        .information(
            "livecomments-server %s listening on %s:%hu; store %s (synchronous %s); %u fan-out "
            "loops, %d HTTP threads; limits: rate %s, max body %zB, queue cap %zB, replay %z; "
            "reads "
            "%s%s",
            std::string(serverVersion()), s.listenHost, port, store,
            std::string(s.synchronousFull ? "full" : "normal"), loops, s.threads, rate,
            s.maxBodyBytes, s.queueCapBytes, s.replayLimit,
            std::string(s.readsNeedToken ? "token" : "public"),
            std::string(s.dev ? "; DEV MODE" : ""));
}

int ServerApplication::main(const std::vector<std::string>& args)
{
    if (m_help) {
        printHelp();
        return EXIT_OK;
    }
    if (m_version) {
        std::cout << "livecomments-server " << serverVersion() << std::endl;
        return EXIT_OK;
    }
    if (!args.empty()) {
        std::cerr << "livecomments-server: unexpected argument '" << args.front()
                  << "' (see --help)" << std::endl;
        return EXIT_USAGE;
    }
    std::vector<std::string> unknownKeys;
    if (auto it = m_cli.find("config"); it != m_cli.end()) {
        try {
            // Below the command line (m_cli is asked first), above the built-in defaults.
            loadConfiguration(it->second, PRIO_DEFAULT);
            // A misspelt key would silently keep the default: name every unknown one.
            Poco::AutoPtr<Poco::Util::PropertyFileConfiguration> file
                = new Poco::Util::PropertyFileConfiguration(it->second);
            Poco::Util::AbstractConfiguration::Keys keys;
            file->keys(keys);
            for (const auto& key : keys) {
                const OptionSpec* spec = findOption(key);
                if (!spec || !spec->configKey)
                    unknownKeys.push_back(key);
            }
        } catch (const Poco::Exception& e) {
            std::cerr << "livecomments-server: cannot read --config " << it->second << ": "
                      << e.displayText() << std::endl;
            return EXIT_CONFIG;
        }
    }
    Settings settings;
    try {
        settings = loadSettings([&](const std::string& name) -> std::optional<std::string> {
            if (auto it = m_cli.find(name); it != m_cli.end())
                return it->second;
            const OptionSpec* spec = findOption(name);
            if (spec && spec->configKey && config().has(name))
                return config().getString(name);
            if (name == "jwt-secret" && Poco::Environment::has("LIVECOMMENTS_JWT_SECRET"))
                return Poco::Environment::get("LIVECOMMENTS_JWT_SECRET");
            return std::nullopt;
        });
    } catch (const std::exception& e) {
        std::cerr << "livecomments-server: " << e.what() << std::endl;
        return EXIT_CONFIG;
    }
    setUpLogging(settings.logLevel);
    Poco::Logger& log = Poco::Logger::get("livecomments");
    for (const auto& key : unknownKeys)
        log.warning("--config %s: unknown key '%s' ignored (see --help)", m_cli["config"], key);
    if (settings.jwtSecret.empty() && !settings.dev) {
        log.fatal("no JWT secret configured. Pass --jwt-secret=SECRET, set "
                  "LIVECOMMENTS_JWT_SECRET, put jwt-secret in the --config file, or use --dev "
                  "for local development (fixed, public secret).");
        m_logChannel->close();
        return EXIT_CONFIG;
    }
    if (settings.dev && settings.jwtSecret.empty())
        log.warning(std::string("DEV MODE with the public secret '") + auth::kDevSecret
            + "': never expose this server");

    raiseFileLimit();
    std::unique_ptr<LiveService> service;
    std::unique_ptr<Poco::Net::ServerSocket> socket;
    // Every part is connected before the port is bound: a bad URL, an unreachable PostgreSQL or
    // Redis or a node id in use ends the process here, never as a half-started node.
    auto fail = [&](const std::string& why, int code) {
        log.fatal("cannot start: " + why);
        if (service)
            service->shutdown();
        m_logChannel->close();
        return code;
    };
    try {
        ClusterParts cluster;
        if (!settings.busUrl.empty())
            cluster = connectCluster(settings);
        service = std::make_unique<LiveService>(settings, std::move(cluster));
        service->start();
        socket = std::make_unique<Poco::Net::ServerSocket>();
        socket->bind(Poco::Net::SocketAddress(settings.listenHost, settings.listenPort), true);
        socket->listen(4096);
    } catch (const Poco::Exception& e) {
        return fail(e.displayText(), EXIT_CONFIG);
    } catch (const std::invalid_argument& e) { // malformed --store / --bus URL
        return fail(e.what(), EXIT_CONFIG);
    } catch (const std::runtime_error& e) { // Redis unreachable, node id taken
        return fail(e.what(), EXIT_CONFIG);
    } catch (const std::exception& e) {
        return fail(e.what(), EXIT_SOFTWARE);
    }

    // Connections live on the front end's epoll loop; only complete requests reach a worker
    // thread, and streams leave at once (detached to the fan-out engine).
    http::Router router(*service);
    frontend::FrontEndOptions frontOptions = frontEndOptions(settings);
    // Past the descriptor limit accept() fails and nobody gets the 503: keep the node limit
    // below it (256 descriptors stay for the store, the log and the engine's own).
    rlimit files {};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY
        && files.rlim_cur > 512 && frontOptions.maxConnections > files.rlim_cur - 256) {
        frontOptions.maxConnections = files.rlim_cur - 256;
        log.warning("--max-connections lowered to %z: the open-file limit is %z",
            frontOptions.maxConnections, static_cast<std::size_t>(files.rlim_cur));
    }
    frontend::FrontEnd frontEnd(frontOptions, router);
    // Before start(): no request can render /metrics yet. The front end outlives every request.
    service->setExtraMetrics([&frontEnd] {
        const frontend::FrontEndStats s = frontEnd.stats();
        metrics::FrontEndGauges g;
        g.open = s.open;
        g.accepted = s.accepted;
        g.requests = s.requests;
        g.rejectedNode = s.rejectedNode;
        g.rejectedIp = s.rejectedIp;
        g.rateLimited = s.rateLimited;
        g.timedOut = s.timedOut;
        g.badRequests = s.badRequests;
        return metrics::renderFrontEnd(g);
    });
    frontEnd.start(socket->impl()->sockfd());

    const unsigned loops
        = settings.loops ? settings.loops : std::max(1u, std::thread::hardware_concurrency());
    logSummary(settings, service->storeDescription(), socket->address().port(), loops);
    if (!settings.busUrl.empty())
        log.information("cluster: node id %u (%s), bus %s, chain gap wait %d ms", settings.nodeId,
            std::string(settings.explicitNodeId ? "explicit" : "leased"),
            bus::parseRedisUrl(settings.busUrl).display(), settings.orderHoldMs);
    if (!settings.peerRegions.empty()) {
        std::string peers;
        for (const auto& peer : settings.peerRegions)
            peers += (peers.empty() ? "" : ", ") + peer.name + " (" + peer.url + ")";
        log.information("region %s (slot %u of %u): relaying to %s", settings.region,
            settings.regionSlot, settings.regionCount, peers);
    }
    // The readiness line scripts and test fixtures wait for: stdout, flushed, exactly this text,
    // in one write (so a log line on stderr, sharing a file with it, cannot split it).
    const std::string ready = "listening on " + settings.listenHost + ":"
        + std::to_string(socket->address().port()) + "\n";
    std::cout << ready << std::flush;

    waitForTerminationRequest();

    // Graceful stop: 503 from now on, stop accepting, close streams with a spread retry,
    // commit what is queued (so nothing acknowledged is lost), then end idle connections.
    service->beginShutdown();
    frontEnd.stopAccepting();
    socket->close();
    service->shutdown();
    frontEnd.stop();
    log.information("stopped");
    m_logChannel->close(); // drains the asynchronous log queue
    return EXIT_OK;
}

int runTokenCommand(int argc, char** argv)
{
    Poco::Util::OptionSet options;
    auto valued = [&](const char* name, const char* argument, const char* help) {
        options.addOption(
            Option(name, "", help).required(false).repeatable(false).argument(argument, true));
    };
    valued("user", "ID", "user id (the token's sub)");
    valued("name", "NAME", "display name (default user-ID)");
    valued("role", "ROLE", "viewer, streamer or moderator (default viewer)");
    valued("ttl", "SECONDS", "lifetime; negative gives an expired token (default 86400)");
    valued("jwt-secret", "SECRET", "HS256 secret (or env LIVECOMMENTS_JWT_SECRET)");
    options.addOption(Option("dev", "", "sign with the public dev secret").required(false));
    options.addOption(Option("help", "h", "show this help").required(false));
    auto usage = [&](std::ostream& out) {
        Poco::Util::HelpFormatter help(options);
        help.setCommand("livecomments-server token");
        help.setUnixStyle(true);
        help.setUsage("--user=ID [--name=NAME] [--role=R] [--ttl=S] [--dev | --jwt-secret=S]");
        help.setHeader("Prints a signed HS256 JWT.");
        help.format(out);
    };

    std::map<std::string, std::string> opts;
    try {
        Poco::Util::OptionProcessor processor(options);
        processor.setUnixStyle(true);
        for (int i = 2; i < argc; ++i) {
            std::string name;
            std::string value;
            if (!processor.process(argv[i], name, value))
                throw Poco::Util::UnexpectedArgumentException(argv[i]);
            if (!name.empty()) // empty: `--user 7`, the value is the next argument
                opts[name] = value;
        }
        processor.checkRequired();
    } catch (const Poco::Util::OptionException& e) {
        std::cerr << "token: " << e.displayText() << std::endl;
        usage(std::cerr);
        return Application::EXIT_USAGE;
    }
    if (opts.count("help")) {
        usage(std::cout);
        return Application::EXIT_OK;
    }
    if (!opts.count("user")) {
        std::cerr << "token: --user is required" << std::endl;
        usage(std::cerr);
        return Application::EXIT_USAGE;
    }
    std::string secret = opts.count("jwt-secret") ? opts["jwt-secret"] : "";
    if (secret.empty() && Poco::Environment::has("LIVECOMMENTS_JWT_SECRET"))
        secret = Poco::Environment::get("LIVECOMMENTS_JWT_SECRET");
    if (secret.empty() && opts.count("dev"))
        secret = auth::kDevSecret;
    if (secret.empty()) {
        std::cerr << "token: no secret; pass --jwt-secret=S, set LIVECOMMENTS_JWT_SECRET or --dev"
                  << std::endl;
        return Application::EXIT_CONFIG;
    }
    Principal p;
    p.userId = opts["user"];
    p.name = opts.count("name") ? opts["name"] : "user-" + p.userId;
    if (opts.count("role") && !parseRole(opts["role"], p.role)) {
        std::cerr << "token: --role must be viewer, streamer or moderator" << std::endl;
        return Application::EXIT_USAGE;
    }
    if (const auto problem = auth::JwtAuth::mintProblem(p)) {
        // The server would answer 401 to such a token: refuse to mint it.
        std::cerr << "token: --" << (problem->first == "user_id" ? "user" : "name") << ' '
                  << problem->second << std::endl;
        return Application::EXIT_USAGE;
    }
    long long ttl = 24 * 3600;
    if (opts.count("ttl")) {
        char* end = nullptr;
        ttl = std::strtoll(opts["ttl"].c_str(), &end, 10);
        if (*end != '\0' || opts["ttl"].empty()) {
            std::cerr << "token: --ttl must be an integer number of seconds" << std::endl;
            return Application::EXIT_USAGE;
        }
    }
    std::cout << auth::JwtAuth(secret).mint(p, ttl) << std::endl;
    return Application::EXIT_OK;
}

} // namespace livecomments::server
