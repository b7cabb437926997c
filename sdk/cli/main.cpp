// SPDX-License-Identifier: MIT
// livecomments — command-line client of the LiveComments SDK.
//   livecomments tail    --server=URL --video=ID [--token=T] [--history=N]
//   livecomments post    --server=URL --video=ID --token=T TEXT
//   livecomments history --server=URL --video=ID [--before=C] [--limit=N]
//   livecomments events  URL [--header="K: V"]... [--last-event-id=ID] [--retry-ms=N]
//                        [--max-events=N] [--timeout-ms=N]
// Data goes to stdout (one JSON object per line); diagnostics, reconnects and errors to stderr.
#include "livecomments/client.h"
#include "json/json.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace livecomments;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 3;

const char* const kUsage
    = "usage:\n"
      "  livecomments --version\n"
      "  livecomments tail    --server=URL --video=ID [--token=T] [--history=N]\n"
      "  livecomments post    --server=URL --video=ID --token=T TEXT\n"
      "  livecomments history --server=URL --video=ID [--before=C] [--limit=N]\n"
      "  livecomments events  URL [--header=\"K: V\"]... [--last-event-id=ID] [--retry-ms=N]\n"
      "                       [--max-events=N] [--timeout-ms=N]\n";

/// Parsed command line: options (--name=value or --name value, repeatable) and positionals.
struct Args {
    std::multimap<std::string, std::string> options;
    std::vector<std::string> positional;

    std::optional<std::string> get(const std::string& name) const
    {
        auto range = options.equal_range(name);
        if (range.first == range.second)
            return std::nullopt;
        return std::prev(range.second)->second;
    }
    std::vector<std::string> all(const std::string& name) const
    {
        std::vector<std::string> out;
        auto range = options.equal_range(name);
        for (auto it = range.first; it != range.second; ++it)
            out.push_back(it->second);
        return out;
    }
};

std::optional<Args> parseArgs(int argc, char** argv, int first)
{
    Args a;
    for (int i = first; i < argc; ++i) {
        std::string s = argv[i];
        if (s == "--") {
            for (++i; i < argc; ++i)
                a.positional.emplace_back(argv[i]);
            break;
        }
        if (s.rfind("--", 0) == 0 && s.size() > 2) {
            const auto eq = s.find('=');
            if (eq != std::string::npos) {
                a.options.emplace(s.substr(2, eq - 2), s.substr(eq + 1));
            } else if (i + 1 < argc) {
                a.options.emplace(s.substr(2), argv[++i]);
            } else {
                std::cerr << "livecomments: option " << s << " needs a value\n";
                return std::nullopt;
            }
        } else {
            a.positional.push_back(std::move(s));
        }
    }
    return a;
}

std::optional<long long> toNumber(const std::optional<std::string>& s, long long min, long long max)
{
    if (!s || s->empty() || s->size() > 18)
        return std::nullopt;
    for (char c : *s) {
        if (c < '0' || c > '9')
            return std::nullopt;
    }
    const long long v = std::atoll(s->c_str());
    if (v < min || v > max)
        return std::nullopt;
    return v;
}

std::string commentJson(const Comment& c)
{
    std::string out = "{\"id\":" + json::quoted(std::to_string(c.id)) + ",\"video_id\":"
        + std::to_string(c.videoId) + ",\"user\":{\"id\":" + json::quoted(c.user.id)
        + ",\"name\":" + json::quoted(c.user.name) + "},\"text\":" + json::quoted(c.text)
        + ",\"created_at\":" + json::quoted(c.createdAt) + "}";
    return out;
}

std::string errorText(const Error& e)
{
    std::string s = std::string(errorCodeName(e.code)) + ": " + e.message;
    return s;
}

/// Prints whole lines to stdout under a lock (callbacks run on the SDK's I/O thread).
class Output {
public:
    void line(const std::string& s)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }
    void err(const std::string& s)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        std::fprintf(stderr, "livecomments: %s\n", s.c_str());
        std::fflush(stderr);
    }

private:
    std::mutex m_mutex;
};

/// Main-thread wait for "done with exit code N" or a deadline.
class Done {
public:
    void finish(int code)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (!m_code)
            m_code = code;
        m_cv.notify_all();
    }
    /// Returns the exit code, or std::nullopt when @p timeout passed first (0 = no limit).
    std::optional<int> wait(std::chrono::milliseconds timeout)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        if (timeout.count() > 0)
            m_cv.wait_for(lock, timeout, [&] { return m_code.has_value(); });
        else
            m_cv.wait(lock, [&] { return m_code.has_value(); });
        return m_code;
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::optional<int> m_code;
};

extern "C" void onSignal(int)
{
    // Ctrl-C: nothing to flush (every line is flushed as written); leave at once.
    std::_Exit(130);
}

std::unique_ptr<Client> makeClient(const std::string& server, const std::string& token, Output& out)
{
    ClientConfig cfg;
    cfg.baseUrl = server;
    cfg.userAgent = "livecomments-cli/0.1";
    if (!token.empty())
        cfg.tokenProvider = [token] { return token; };
    cfg.backoff.cap = std::chrono::milliseconds(10000);
    auto client = Client::create(std::move(cfg));
    if (!client) {
        out.err(errorText(client.error()));
        return nullptr;
    }
    return std::move(*client);
}

int cmdEvents(const Args& a, Output& out)
{
    if (a.positional.size() != 1) {
        std::cerr << kUsage;
        return kExitUsage;
    }
    const std::string url = a.positional[0];
    EventSourceRequest req;
    req.url = url;
    for (const auto& h : a.all("header")) {
        const auto colon = h.find(':');
        if (colon == std::string::npos || colon == 0) {
            out.err("bad --header '" + h + "' (expected \"Name: value\")");
            return kExitUsage;
        }
        std::string value = h.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
        req.headers.emplace_back(h.substr(0, colon), value);
    }
    if (auto id = a.get("last-event-id"))
        req.lastEventId = *id;
    if (a.get("retry-ms")) {
        auto ms = toNumber(a.get("retry-ms"), 0, 3600000);
        if (!ms) {
            out.err("bad --retry-ms");
            return kExitUsage;
        }
        req.initialRetry = std::chrono::milliseconds(*ms);
    }
    std::optional<long long> maxEvents;
    if (a.get("max-events")) {
        maxEvents = toNumber(a.get("max-events"), 1, 1000000000);
        if (!maxEvents) {
            out.err("bad --max-events");
            return kExitUsage;
        }
    }
    std::chrono::milliseconds timeout { 0 };
    if (a.get("timeout-ms")) {
        auto ms = toNumber(a.get("timeout-ms"), 1, 86400000);
        if (!ms) {
            out.err("bad --timeout-ms");
            return kExitUsage;
        }
        timeout = std::chrono::milliseconds(*ms);
    }
    // The Client needs a base URL; the stream URL itself is used as given.
    std::string origin = url;
    if (const auto scheme = origin.find("://"); scheme != std::string::npos) {
        const auto slash = origin.find('/', scheme + 3);
        if (slash != std::string::npos)
            origin.resize(slash);
    }
    auto client = makeClient(origin, {}, out);
    if (!client)
        return kExitUsage;
    Done done;
    long long count = 0;
    EventSourceCallbacks cbs;
    cbs.onEvent = [&](const SseEvent& e) {
        if (maxEvents && count >= *maxEvents)
            return;
        out.line("{\"type\":" + json::quoted(e.type) + ",\"id\":" + json::quoted(e.lastEventId)
            + ",\"data\":" + json::quoted(e.data) + "}");
        if (maxEvents && ++count >= *maxEvents)
            done.finish(kExitOk);
    };
    cbs.onStatus = [&](const StreamStatus& s) {
        switch (s.state) {
        case StreamState::Connecting:
            out.err("connecting to " + url);
            break;
        case StreamState::Live:
            out.err("connected");
            break;
        case StreamState::Reconnecting:
            out.err("reconnecting (attempt " + std::to_string(s.attempt) + " in "
                + std::to_string(s.delay.count()) + " ms)"
                + (s.error ? ": " + errorText(*s.error) : std::string()));
            break;
        case StreamState::Closed:
            out.err("closed" + (s.error ? ": " + errorText(*s.error) : std::string()));
            done.finish(kExitFailure);
            break;
        }
    };
    auto es = client->openEventSource(std::move(req), std::move(cbs));
    if (!es) {
        out.err(errorText(es.error()));
        return kExitUsage;
    }
    auto code = done.wait(timeout);
    (*es)->close();
    client.reset();
    if (!code) {
        out.err("timeout");
        return kExitTimeout;
    }
    return *code;
}

struct Common {
    std::string server;
    VideoId video = 0;
    std::string token;
};

std::optional<Common> common(const Args& a, Output& out, bool needToken)
{
    Common c;
    c.server = a.get("server").value_or("");
    c.token = a.get("token").value_or("");
    const auto video = toNumber(a.get("video"), 1, 2147483647);
    if (c.server.empty() || !video || (needToken && c.token.empty())) {
        std::cerr << kUsage;
        return std::nullopt;
    }
    c.video = static_cast<VideoId>(*video);
    return c;
}

int cmdHistory(const Args& a, Output& out)
{
    auto c = common(a, out, false);
    if (!c)
        return kExitUsage;
    HistoryQuery q;
    if (auto before = a.get("before"))
        q.before = *before;
    if (a.get("limit")) {
        auto limit = toNumber(a.get("limit"), 1, 200);
        if (!limit) {
            out.err("bad --limit (1..200)");
            return kExitUsage;
        }
        q.limit = static_cast<int>(*limit);
    }
    auto client = makeClient(c->server, c->token, out);
    if (!client)
        return kExitUsage;
    Done done;
    client->fetchHistory(c->video, q, [&](Result<HistoryPage> r) {
        if (!r) {
            out.err(errorText(r.error()));
            done.finish(kExitFailure);
            return;
        }
        std::string s = "{\"comments\":[";
        bool first = true;
        for (const auto& cm : r->comments) {
            if (!first)
                s += ',';
            first = false;
            s += commentJson(cm);
        }
        s += "],\"next_cursor\":" + (r->nextCursor ? json::quoted(*r->nextCursor) : "null") + "}";
        out.line(s);
        done.finish(kExitOk);
    });
    auto code = done.wait(std::chrono::milliseconds(60000));
    return code.value_or(kExitTimeout);
}

int cmdPost(const Args& a, Output& out)
{
    auto c = common(a, out, true);
    if (!c || a.positional.size() != 1) {
        if (c)
            std::cerr << kUsage;
        return kExitUsage;
    }
    auto client = makeClient(c->server, c->token, out);
    if (!client)
        return kExitUsage;
    Done done;
    auto key = client->post(c->video, a.positional[0], [&](const OutboxEntry& e) {
        if (e.state == PostState::Sent) {
            out.line(e.comment ? commentJson(*e.comment) : std::string("{}"));
            done.finish(kExitOk);
        } else if (e.state == PostState::Failed) {
            out.err("post failed" + (e.error ? ": " + errorText(*e.error) : std::string()));
            done.finish(kExitFailure);
        } else if (e.error) {
            out.err("retrying: " + errorText(*e.error));
        }
    });
    if (!key) {
        out.err(errorText(key.error()));
        return kExitUsage;
    }
    auto code = done.wait(std::chrono::milliseconds(60000));
    return code.value_or(kExitTimeout);
}

int cmdTail(const Args& a, Output& out)
{
    auto c = common(a, out, false);
    if (!c)
        return kExitUsage;
    int history = 0;
    if (a.get("history")) {
        auto n = toNumber(a.get("history"), 0, 200);
        if (!n) {
            out.err("bad --history (0..200)");
            return kExitUsage;
        }
        history = static_cast<int>(*n);
    }
    auto client = makeClient(c->server, c->token, out);
    if (!client)
        return kExitUsage;
    Done done;
    std::mutex mutex;
    CommentId printedUpTo = 0;
    std::vector<Comment> early; // live comments that arrive before the history is printed
    bool historyDone = history == 0;
    auto print = [&](const Comment& cm) {
        if (cm.id <= printedUpTo)
            return;
        printedUpTo = cm.id;
        out.line(commentJson(cm));
    };
    SubscriptionCallbacks cbs;
    cbs.onComment = [&](const Comment& cm) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!historyDone)
            early.push_back(cm);
        else
            print(cm);
    };
    cbs.onStatus = [&](const StreamStatus& s) {
        if (s.state == StreamState::Reconnecting)
            out.err("reconnecting (attempt " + std::to_string(s.attempt) + ")"
                + (s.error ? ": " + errorText(*s.error) : std::string()));
        else if (s.state == StreamState::Live)
            out.err("live");
        else if (s.state == StreamState::Closed) {
            out.err("closed" + (s.error ? ": " + errorText(*s.error) : std::string()));
            done.finish(s.error ? kExitFailure : kExitOk);
        }
    };
    cbs.onReset = [&](const std::string& reason) {
        out.err("stream reset (" + reason + "): some comments may be missing");
    };
    cbs.onEnded = [&](VideoId) { out.err("video ended"); };
    auto sub = client->subscribe(c->video, std::move(cbs));
    if (!sub) {
        out.err(errorText(sub.error()));
        return kExitUsage;
    }
    if (history > 0) {
        HistoryQuery q;
        q.limit = history;
        client->fetchHistory(c->video, q, [&](Result<HistoryPage> r) {
            std::lock_guard<std::mutex> lock(mutex);
            if (!r)
                out.err("history: " + errorText(r.error()));
            else
                for (auto it = r->comments.rbegin(); it != r->comments.rend(); ++it)
                    print(*it);
            historyDone = true;
            std::sort(early.begin(), early.end(),
                [](const Comment& x, const Comment& y) { return x.id < y.id; });
            for (const auto& cm : early)
                print(cm);
            early.clear();
        });
    }
    const int code = *done.wait(std::chrono::milliseconds(0));
    (*sub)->close();
    return code;
}

} // namespace

int main(int argc, char** argv)
{
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
#ifdef SIGPIPE
    // POSIX only (Windows has no SIGPIPE): a closed stdout pipe surfaces as a write error
    // instead of killing the process. SIGINT/SIGTERM are standard C and exist everywhere.
    std::signal(SIGPIPE, SIG_IGN);
#endif
    if (argc < 2) {
        std::cerr << kUsage;
        return kExitUsage;
    }
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        std::cout << kUsage;
        return kExitOk;
    }
    if (cmd == "--version") {
        // LC_VERSION is project(VERSION) of the build, the same as the package's version.
        std::cout << "livecomments " << LC_VERSION << '\n';
        return kExitOk;
    }
    auto args = parseArgs(argc, argv, 2);
    if (!args)
        return kExitUsage;
    Output out;
    if (cmd == "events")
        return cmdEvents(*args, out);
    if (cmd == "tail")
        return cmdTail(*args, out);
    if (cmd == "post")
        return cmdPost(*args, out);
    if (cmd == "history")
        return cmdHistory(*args, out);
    std::cerr << "livecomments: unknown command '" << cmd << "'\n" << kUsage;
    return kExitUsage;
}
