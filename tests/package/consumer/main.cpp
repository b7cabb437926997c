// SPDX-License-Identifier: MIT
// Uses the installed livecomments::core as an application developer would.
//   lc_consumer                     offline: config validation, the outbox, the SSE parser
//   lc_consumer URL VIDEO TOKEN     online: subscribes to VIDEO, posts a comment and waits until
//                                   the subscription delivers it back (exit 0, "consumer ok")
#include <livecomments/livecomments.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace {

int offline()
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

// Subscribes first (hello = the stream is open), then posts, so the comment must come back
// through the live stream, not from history.
int online(const std::string& url, livecomments::VideoId video, const std::string& token)
{
    using namespace livecomments;
    ClientConfig cfg;
    cfg.baseUrl = url;
    cfg.tokenProvider = [token] { return token; };
    auto client = Client::create(cfg);
    if (!client) {
        std::fprintf(stderr, "create: %s\n", client.error().message.c_str());
        return 10;
    }
    const std::string text = "hello from an installed SDK";
    std::mutex mutex;
    std::condition_variable changed;
    bool open = false;
    bool received = false;
    SubscriptionCallbacks callbacks;
    callbacks.onHello = [&](const Hello&) {
        std::lock_guard lock(mutex);
        open = true;
        changed.notify_all();
    };
    callbacks.onComment = [&](const Comment& c) {
        std::lock_guard lock(mutex);
        received = received || c.text == text;
        changed.notify_all();
    };
    auto subscription = (*client)->subscribe(video, callbacks);
    if (!subscription)
        return 11;
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, std::chrono::seconds(20), [&] { return open; })) {
        std::fputs("no hello within 20 s\n", stderr);
        return 12;
    }
    lock.unlock();
    if (!(*client)->post(video, text))
        return 13;
    lock.lock();
    if (!changed.wait_for(lock, std::chrono::seconds(20), [&] { return received; })) {
        std::fputs("the posted comment did not arrive within 20 s\n", stderr);
        return 14;
    }
    std::printf("consumer ok: received \"%s\"\n", text.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc == 4)
        return online(argv[1], static_cast<livecomments::VideoId>(std::atol(argv[2])), argv[3]);
    return offline();
}
