// SPDX-License-Identifier: MIT
#pragma once

#include <Poco/Util/ServerApplication.h>

#include <map>
#include <string>

namespace livecomments::server {

/**
 * The `livecomments-server` application: parses options (Poco OptionSet, `--name=value`, plus an
 * optional .properties file via --config), raises RLIMIT_NOFILE, starts LiveService and the Poco
 * HTTPServer, prints `listening on HOST:PORT`, waits for SIGTERM/SIGINT and shuts down gracefully.
 *
 * Exit codes: 0 after a graceful stop, 64 bad usage, 78 (EX_CONFIG) bad or missing configuration
 * (e.g. no JWT secret without --dev), 70 on an internal failure at start.
 *
 * Threading: runs on the main thread; request handling happens on Poco's worker pool.
 */
class ServerApp final : public Poco::Util::ServerApplication {
protected:
    void defineOptions(Poco::Util::OptionSet& options) override;
    void handleOption(const std::string& name, const std::string& value) override;
    int main(const std::vector<std::string>& args) override;

private:
    void printHelp();
    bool m_help = false;
    std::map<std::string, std::string> m_cli;
};

/// `livecomments-server token --user=ID --name=NAME [--role=R] [--ttl=S] [--dev|--jwt-secret=S]`:
/// prints a signed HS256 JWT. argv[1] is "token". Returns the process exit code.
int runTokenCommand(int argc, char** argv);

} // namespace livecomments::server
