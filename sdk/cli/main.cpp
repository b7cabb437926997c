// SPDX-License-Identifier: MIT
// livecomments — command-line client of the LiveComments SDK.
//   livecomments tail    --server=URL --video=ID [--token=T] [--history=N] [--cache=PATH] [--json]
//   livecomments post    --server=URL --video=ID --token=T [--cache=PATH] [--json] TEXT
//   livecomments history --server=URL --video=ID [--before=C] [--limit=N] [--cache=PATH] [--json]
//   livecomments delete  --server=URL --video=ID --token=T --comment=ID [--json]
//   livecomments events  URL [--header="K: V"]... [--last-event-id=ID] [--retry-ms=N]
//                        [--max-events=N] [--timeout-ms=N]
// Data goes to stdout (one line per comment: "12:49:17 alice: hello", oldest first, or one JSON
// object per line with --json; events are always JSON); diagnostics, reconnects and errors go
// to stderr.
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
      "  livecomments tail    --server=URL --video=ID [--token=T] [--history=N] [--cache=PATH]\n"
      "                       [--json]\n"
      "  livecomments post    --server=URL --video=ID --token=T [--cache=PATH] [--json] TEXT\n"
      "  livecomments history --server=URL --video=ID [--before=C] [--limit=N] [--cache=PATH]\n"
      "                       [--json]\n"
      "  livecomments delete  --server=URL --video=ID --token=T --comment=ID [--json]\n"
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
        if (s == "--json") {
            a.options.emplace("json", "1"); // a flag: takes no value
        } else if (s.rfind("--", 0) == 0 && s.size() > 2) {
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
    std::string out = "{\"id\":" + json::quoted(std::to_string(c.id))
        + ",\"video_id\":" + std::to_string(c.videoId)
        + ",\"user\":{\"id\":" + json::quoted(c.user.id) + ",\"name\":" + json::quoted(c.user.name)
        + ",\"role\":" + json::quoted(c.user.role) + "},\"text\":" + json::quoted(c.text)
        + ",\"created_at\":" + json::quoted(c.createdAt) + "}";
    return out;
}

/// "12:49:17 alice: hello" (UTC time of day); control characters become spaces so that one
/// comment stays one line.
std::string commentLine(const Comment& c)
{
    std::string line = c.createdAt.size() >= 19 ? c.createdAt.substr(11, 8) : c.createdAt;
    line += ' ';
    line += c.user.name.empty() ? "user-" + c.user.id : c.user.name;
    line += ": ";
    for (const char ch : c.text)
        line += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F ? ' ' : ch;
    return line;
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

std::unique_ptr<Client> makeClient(const std::string& server, const std::string& token, Output& out,
    const std::string& cachePath = {})
{
    ClientConfig cfg;
    cfg.baseUrl = server;
    cfg.cache.path = cachePath;
    cfg.onError = [&out](const Error& e) { out.err(errorText(e)); };
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
    std::string cache; ///< --cache=PATH (SQLite file), empty = none
    bool json = false; ///< --json: JSON lines instead of human-readable ones
    std::string format(const Comment& c) const { return json ? commentJson(c) : commentLine(c); }
};

std::optional<Common> common(const Args& a, Output& out, bool needToken)
{
    Common c;
    c.server = a.get("server").value_or("");
    c.token = a.get("token").value_or("");
    c.cache = a.get("cache").value_or("");
    c.json = a.get("json").has_value();
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
    auto client = makeClient(c->server, c->token, out, c->cache);
    if (!client)
        return kExitUsage;
    Done done;
    auto print = [&](const std::vector<Comment>& oldestFirst) {
        for (const auto& cm : oldestFirst)
            out.line(c->format(cm));
    };
    std::unique_ptr<Timeline> offline;
    client->fetchHistory(c->video, q, [&](Result<HistoryPage> r) {
        if (r && c->json) {
            // The page as the server sent it (newest first, with its cursor).
            std::string s = "{\"comments\":[";
            bool first = true;
            for (const auto& cm : r->comments) {
                if (!first)
                    s += ',';
                first = false;
                s += commentJson(cm);
            }
            s += "],\"next_cursor\":" + (r->nextCursor ? json::quoted(*r->nextCursor) : "null")
                + "}";
            out.line(s);
            done.finish(kExitOk);
            return;
        }
        if (r) {
            print(std::vector<Comment>(r->comments.rbegin(), r->comments.rend()));
            done.finish(kExitOk);
            return;
        }
        out.err(errorText(r.error()));
        if (c->cache.empty() || !r.error().isRecoverable() || q.before) {
            done.finish(kExitFailure);
            return;
        }
        // Offline: the newest page from the cache (a Timeline without live stream serves it
        // at once; its own network retry is not waited for).
        done.finish(-1);
    });
    auto code = done.wait(std::chrono::milliseconds(60000));
    if (code && *code == -1) {
        std::vector<Comment> cached;
        Done shown;
        TimelineCallbacks tcb;
        tcb.onChange = [&](const TimelineChange& ch) {
            if (ch.kind != TimelineChange::Kind::Removed && !ch.comments.empty())
                shown.finish(kExitOk);
        };
        TimelineOptions opts;
        opts.live = false;
        opts.pageSize = q.limit;
        auto timeline = client->openTimeline(c->video, tcb, opts);
        if (!timeline)
            return kExitFailure;
        if (!shown.wait(std::chrono::milliseconds(2000))) {
            out.err("nothing cached for this video");
            return kExitFailure;
        }
        out.err("offline: showing cached comments");
        print((*timeline)->snapshot());
        return kExitOk;
    }
    return code.value_or(kExitTimeout);
}

int cmdDelete(const Args& a, Output& out)
{
    auto c = common(a, out, true);
    const auto comment = a.get("comment") ? parseCommentId(*a.get("comment")) : std::nullopt;
    if (!c || !comment) {
        if (c)
            std::cerr << kUsage;
        return kExitUsage;
    }
    auto client = makeClient(c->server, c->token, out);
    if (!client)
        return kExitUsage;
    Done done;
    client->deleteComment(c->video, *comment, [&](Result<void> r) {
        if (!r) {
            out.err(errorText(r.error()));
            done.finish(kExitFailure);
            return;
        }
        const std::string id = std::to_string(*comment);
        out.line(c->json ? "{\"deleted\":" + json::quoted(id) + "}" : "deleted " + id);
        done.finish(kExitOk);
    });
    return done.wait(std::chrono::milliseconds(60000)).value_or(kExitTimeout);
}

int cmdPost(const Args& a, Output& out)
{
    auto c = common(a, out, true);
    if (!c || a.positional.size() != 1) {
        if (c)
            std::cerr << kUsage;
        return kExitUsage;
    }
    auto client = makeClient(c->server, c->token, out, c->cache);
    if (!client)
        return kExitUsage;
    Done done;
    auto key = client->post(c->video, a.positional[0], [&](const OutboxEntry& e) {
        if (e.state == PostState::Sent) {
            out.line(e.comment ? c->format(*e.comment) : std::string(c->json ? "{}" : ""));
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

/// A tail's stream state on stderr; Closed ends the command.
void reportStatus(const StreamStatus& s, Output& out, Done& done)
{
    if (s.state == StreamState::Reconnecting)
        out.err("reconnecting (attempt " + std::to_string(s.attempt) + ")"
            + (s.error ? ": " + errorText(*s.error) : std::string()));
    else if (s.state == StreamState::Live)
        out.err("live");
    else if (s.state == StreamState::Closed) {
        out.err("closed" + (s.error ? ": " + errorText(*s.error) : std::string()));
        done.finish(s.error ? kExitFailure : kExitOk);
    }
}

/// tail --cache: a Timeline shows the cached history at once (also offline), fills the gap
/// and follows the live stream; each comment is printed once, in id order.
int tailTimeline(const Common& c, int history, Output& out)
{
    auto client = makeClient(c.server, c.token, out, c.cache);
    if (!client)
        return kExitUsage;
    Done done;
    std::mutex mutex;
    bool started = false;
    CommentId printedUpTo = 0;
    TimelineCallbacks tcb;
    tcb.onChange = [&](const TimelineChange& ch) {
        if (ch.kind == TimelineChange::Kind::Removed || ch.comments.empty())
            return;
        std::lock_guard<std::mutex> lock(mutex);
        std::vector<Comment> list = ch.comments;
        std::sort(list.begin(), list.end(),
            [](const Comment& x, const Comment& y) { return x.id < y.id; });
        if (!started) {
            started = true;
            if (list.size() > static_cast<std::size_t>(history))
                list.erase(list.begin(), list.end() - history);
        }
        for (const auto& cm : list) {
            if (cm.id > printedUpTo) {
                printedUpTo = cm.id;
                out.line(c.format(cm));
            }
        }
    };
    tcb.onStreamStatus = [&](const StreamStatus& s) { reportStatus(s, out, done); };
    tcb.onEnded = [&](VideoId) { out.err("video ended"); };
    TimelineOptions opts;
    opts.pageSize = std::max(history, 1);
    auto timeline = client->openTimeline(c.video, tcb, opts);
    if (!timeline) {
        out.err(errorText(timeline.error()));
        return kExitUsage;
    }
    const int code = *done.wait(std::chrono::milliseconds(0));
    (*timeline)->close();
    return code;
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
    if (!c->cache.empty())
        return tailTimeline(*c, a.get("history") ? history : 20, out);
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
        out.line(c->format(cm));
    };
    SubscriptionCallbacks cbs;
    cbs.onComment = [&](const Comment& cm) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!historyDone)
            early.push_back(cm);
        else
            print(cm);
    };
    cbs.onStatus = [&](const StreamStatus& s) { reportStatus(s, out, done); };
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
    if (cmd == "delete")
        return cmdDelete(*args, out);
    std::cerr << "livecomments: unknown command '" << cmd << "'\n" << kUsage;
    return kExitUsage;
}
