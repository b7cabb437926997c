// SPDX-License-Identifier: MIT
#include "app/server_app.h"

#include <csignal>
#include <cstring>

#include <pthread.h>

int main(int argc, char** argv)
{
    if (argc > 1 && std::strcmp(argv[1], "token") == 0)
        return livecomments::server::runTokenCommand(argc, argv);
    // Termination signals are taken by ServerApplication::waitForTerminationRequest() (sigwait on
    // the main thread). Block them before any thread exists so every thread inherits the mask:
    // otherwise a SIGTERM that arrives early, or is routed to a std::thread of the front end or the
    // fan-out engine, takes its default action and kills the process without the graceful stop.
    sigset_t termination;
    sigemptyset(&termination);
    sigaddset(&termination, SIGINT);
    sigaddset(&termination, SIGQUIT);
    sigaddset(&termination, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &termination, nullptr);
    livecomments::server::ServerApplication app;
    return app.run(argc, argv);
}
