// SPDX-License-Identifier: MIT
#include "app/server_app.h"

#include <cstring>

int main(int argc, char** argv)
{
    if (argc > 1 && std::strcmp(argv[1], "token") == 0)
        return livecomments::server::runTokenCommand(argc, argv);
    livecomments::server::ServerApp app;
    return app.run(argc, argv);
}
