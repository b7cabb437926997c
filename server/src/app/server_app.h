// SPDX-License-Identifier: MIT
#pragma once

#include <Poco/AutoPtr.h>
#include <Poco/Channel.h>
#include <Poco/Util/ServerApplication.h>

#include <map>
#include <string>

namespace livecomments::server {

struct Settings;

/**
 * The `livecomments-server` application and composition root: parses options (Poco OptionSet
 * built from optionTable(), `--name=value`, plus an optional .properties file via --config),
 * sets up logging, raises RLIMIT_NOFILE, starts LiveService and the Poco HTTPServer, prints
 * `listening on HOST:PORT`, waits for SIGTERM/SIGINT and shuts down gracefully.
 *
 * Exit codes (Poco::Util::Application): EXIT_OK after a graceful stop, EXIT_USAGE bad usage,
 * EXIT_CONFIG bad or missing configuration (e.g. no JWT secret without --dev), EXIT_SOFTWARE on
 * an internal failure at start.
 *
 * Threading: runs on the main thread; request handling happens on Poco's worker pool.
 */
class ServerApplication final : public Poco::Util::ServerApplication {
protected:
    void defineOptions(Poco::Util::OptionSet& options) override;
    void handleOption(const std::string& name, const std::string& value) override;
    int main(const std::vector<std::string>& args) override;

private:
    void printHelp();
    /// Root logger → (async) pattern formatter → stderr, at `level`.
    void setUpLogging(const std::string& level);
    /// The one-line start-up summary (information level).
    static void logSummary(const Settings& settings, std::uint16_t port, unsigned loops);

    bool m_help = false;
    bool m_version = false;
    std::map<std::string, std::string> m_cli;
    Poco::AutoPtr<Poco::Channel> m_logChannel;
};

/// `livecomments-server token --user=ID --name=NAME [--role=R] [--ttl=S] [--dev|--jwt-secret=S]`:
/// prints a signed HS256 JWT. argv[1] is "token". Returns the process exit code.
int runTokenCommand(int argc, char** argv);

} // namespace livecomments::server
