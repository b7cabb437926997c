// SPDX-License-Identifier: MIT
#include "app/server_app.h"

#include "app/live_service.h"
#include "app/settings.h"
#include "auth/jwt_auth.h"
#include "http/router.h"

#include <Poco/AutoPtr.h>
#include <Poco/Environment.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionCallback.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/PropertyFileConfiguration.h>

#include <sys/resource.h>

#include <cstring>
#include <iostream>

namespace livecomments::server {

using Poco::Util::Option;
using Poco::Util::OptionCallback;

namespace {

struct OptionDoc {
    const char* name;
    const char* arg; // nullptr: a flag
    const char* help;
};

const OptionDoc kOptions[] = {
    { "listen", "HOST:PORT", "address to listen on (default 127.0.0.1:8080; port 0 = any free)" },
    { "store", "sqlite:PATH", "comment store (default sqlite:livecomments.db)" },
    { "jwt-secret", "SECRET", "HS256 secret (or env LIVECOMMENTS_JWT_SECRET)" },
    { "dev", nullptr,
        "dev mode: secret 'livecomments-dev-secret' if none given, POST /auth/dev-token" },
    { "config", "FILE", ".properties file with the same keys as these options" },
    { "heartbeat-ms", "N", "heartbeat after N ms of silence on a stream (15000)" },
    { "replay-limit", "N", "max comments replayed on resume, else `reset` (500)" },
    { "overlap-ms", "N", "resume replay starts this much earlier (3000)" },
    { "retry-ms", "N", "SSE retry: sent to clients (2000)" },
    { "queue-cap", "BYTES", "unsent bytes before a slow stream is closed (1048576)" },
    { "rate-limit", "N/Ss|off", "posting rate per viewer (20/30s; streamers/moderators 5x)" },
    { "max-body", "BYTES", "largest request body (65536)" },
    { "reads", "public|token", "whether reads need a token (public)" },
    { "retention-days", "N", "delete comments older than N days (0 = keep)" },
    { "node-id", "N", "snowflake node id 0..1023 (1)" },
    { "loops", "N", "fan-out epoll loops (0 = cores)" },
    { "stats-ms", "N", "interval of `stats` events (5000; 0 = off)" },
    { "threads", "N", "HTTP worker threads (16)" },
    { "history-max-age", "S", "Cache-Control max-age of settled history pages (60)" },
    { "store-synchronous", "full|normal", "SQLite synchronous mode in WAL (full)" },
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

} // namespace

void ServerApp::defineOptions(Poco::Util::OptionSet& options)
{
    ServerApplication::defineOptions(options);
    options.addOption(Option("help", "h", "show this help and exit")
                          .required(false)
                          .repeatable(false)
                          .callback(OptionCallback<ServerApp>(this, &ServerApp::handleOption)));
    for (const auto& doc : kOptions) {
        Option option(doc.name, "", doc.help);
        option.required(false).repeatable(false);
        if (doc.arg)
            option.argument(doc.arg, true);
        option.callback(OptionCallback<ServerApp>(this, &ServerApp::handleOption));
        options.addOption(option);
    }
}

void ServerApp::handleOption(const std::string& name, const std::string& value)
{
    if (name == "help") {
        m_help = true;
        stopOptionsProcessing();
        return;
    }
    if (name == "dev")
        m_cli[name] = "true";
    else if (name == "daemon" || name == "pidfile" || name == "umask")
        ServerApplication::handleOption(name, value);
    else
        m_cli[name] = value;
}

void ServerApp::printHelp()
{
    Poco::Util::HelpFormatter help(options());
    help.setCommand(commandName());
    help.setUsage(
        "[OPTIONS]   |   token --user=ID --name=NAME [--role=R] [--ttl=S] [--dev|--jwt-secret=S]");
    help.setHeader("LiveComments reference server: REST + SSE realtime comments for live video.");
    help.setFooter(
        "Options may also be set in the --config file (same names, e.g. heartbeat-ms=15000).");
    help.format(std::cout);
}

int ServerApp::main(const std::vector<std::string>&)
{
    if (m_help) {
        printHelp();
        return EXIT_OK;
    }
    Poco::AutoPtr<Poco::Util::PropertyFileConfiguration> file;
    if (auto it = m_cli.find("config"); it != m_cli.end()) {
        try {
            file = new Poco::Util::PropertyFileConfiguration(it->second);
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
            if (file && file->hasProperty(name))
                return file->getString(name);
            if (name == "jwt-secret" && Poco::Environment::has("LIVECOMMENTS_JWT_SECRET"))
                return Poco::Environment::get("LIVECOMMENTS_JWT_SECRET");
            return std::nullopt;
        });
    } catch (const std::exception& e) {
        std::cerr << "livecomments-server: " << e.what() << std::endl;
        return EXIT_CONFIG;
    }
    if (settings.jwtSecret.empty() && !settings.dev) {
        std::cerr << "livecomments-server: no JWT secret configured. Pass --jwt-secret=SECRET, set "
                     "LIVECOMMENTS_JWT_SECRET, put jwt-secret in the --config file, or use --dev "
                     "for local development (fixed, public secret)."
                  << std::endl;
        return EXIT_CONFIG;
    }
    if (settings.dev && settings.jwtSecret.empty())
        std::cerr << "livecomments-server: DEV MODE with the public secret '" << auth::kDevSecret
                  << "' — never expose this server" << std::endl;

    raiseFileLimit();
    LiveService service(settings);
    std::unique_ptr<Poco::Net::ServerSocket> socket;
    try {
        service.start();
        socket = std::make_unique<Poco::Net::ServerSocket>();
        socket->bind(Poco::Net::SocketAddress(settings.listenHost, settings.listenPort), true);
        socket->listen(4096);
    } catch (const Poco::Exception& e) {
        std::cerr << "livecomments-server: cannot start: " << e.displayText() << std::endl;
        service.shutdown();
        return EXIT_CONFIG;
    } catch (const std::exception& e) {
        std::cerr << "livecomments-server: cannot start: " << e.what() << std::endl;
        service.shutdown();
        return EXIT_SOFTWARE;
    }

    // Short requests only: streams leave the pool at once (detached to the fan-out engine).
    Poco::ThreadPool pool(2, settings.threads, 60);
    Poco::AutoPtr<Poco::Net::HTTPServerParams> params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(settings.threads);
    params->setMaxQueued(4096);
    params->setKeepAlive(true);
    // Poco holds a worker thread per open connection, idle keep-alive included: keep idle
    // connections short so a burst of clients is not queued behind idle ones.
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setTimeout(Poco::Timespan(15, 0));
    params->setMaxKeepAliveRequests(0);
    params->setServerName("livecomments-server");
    params->setSoftwareVersion("livecomments-server/0.1");
    Poco::Net::HTTPServer server(new http::Router(service), pool, *socket, params);
    server.start();

    std::cout << "listening on " << settings.listenHost << ":" << socket->address().port()
              << std::endl;

    waitForTerminationRequest();

    // Graceful stop: 503 from now on, stop accepting, close streams with a spread retry,
    // commit what is queued (so nothing acknowledged is lost), then end idle connections.
    service.beginShutdown();
    server.stop();
    service.shutdown();
    server.stopAll(true);
    pool.joinAll();
    std::cerr << "livecomments-server: stopped" << std::endl;
    return EXIT_OK;
}

int runTokenCommand(int argc, char** argv)
{
    std::map<std::string, std::string> opts;
    for (int i = 2; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) {
            std::cerr << "token: unexpected argument '" << arg << "'" << std::endl;
            return 64;
        }
        arg = arg.substr(2);
        const auto eq = arg.find('=');
        if (eq != std::string::npos) {
            opts[arg.substr(0, eq)] = arg.substr(eq + 1);
        } else if (arg == "dev" || arg == "help") {
            opts[arg] = "true";
        } else if (i + 1 < argc) {
            opts[arg] = argv[++i];
        } else {
            std::cerr << "token: --" << arg << " needs a value" << std::endl;
            return 64;
        }
    }
    if (opts.count("help") || !opts.count("user")) {
        std::cerr << "usage: livecomments-server token --user=ID [--name=NAME] "
                     "[--role=viewer|streamer|moderator] [--ttl=SECONDS] [--dev | --jwt-secret=S]"
                  << std::endl;
        return opts.count("help") ? 0 : 64;
    }
    std::string secret = opts.count("jwt-secret") ? opts["jwt-secret"] : "";
    if (secret.empty() && Poco::Environment::has("LIVECOMMENTS_JWT_SECRET"))
        secret = Poco::Environment::get("LIVECOMMENTS_JWT_SECRET");
    if (secret.empty() && opts.count("dev"))
        secret = auth::kDevSecret;
    if (secret.empty()) {
        std::cerr << "token: no secret; pass --jwt-secret=S, set LIVECOMMENTS_JWT_SECRET or --dev"
                  << std::endl;
        return 78;
    }
    Principal p;
    p.userId = opts["user"];
    p.name = opts.count("name") ? opts["name"] : "user-" + p.userId;
    if (opts.count("role") && !parseRole(opts["role"], p.role)) {
        std::cerr << "token: --role must be viewer, streamer or moderator" << std::endl;
        return 64;
    }
    long long ttl = 24 * 3600;
    if (opts.count("ttl")) {
        char* end = nullptr;
        ttl = std::strtoll(opts["ttl"].c_str(), &end, 10);
        if (*end != '\0' || opts["ttl"].empty()) {
            std::cerr << "token: --ttl must be an integer number of seconds" << std::endl;
            return 64;
        }
    }
    std::cout << auth::JwtAuth(secret).mint(p, ttl) << std::endl;
    return 0;
}

} // namespace livecomments::server
