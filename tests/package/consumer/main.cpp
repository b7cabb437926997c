// SPDX-License-Identifier: MIT
// Uses the installed livecomments::core: config validation, a client, the outbox, the parser.
#include <livecomments/livecomments.h>

#include <cstdio>

int main()
{
    using namespace livecomments;
    auto bad = Client::create(ClientConfig {});
    if (bad || bad.error().code != ErrorCode::InvalidArgument)
        return 1;
    ClientConfig cfg;
    cfg.baseUrl = "http://127.0.0.1:9";
    auto client = Client::create(cfg);
    if (!client)
        return 2;
    auto key = (*client)->post(1, "hello from a consumer");
    if (!key || key->size() != 32 || (*client)->pendingPosts().size() != 1)
        return 3;
    int events = 0;
    SseParser parser(
        SseParser::Callbacks { [&](const SseEvent& e) { events += e.data == "x"; }, {}, {} });
    parser.feed("data: x\n\n");
    if (events != 1)
        return 4;
    std::puts("consumer ok");
    return 0;
}
