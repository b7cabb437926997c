// SPDX-License-Identifier: MIT
// livecomments-bench: SSE fan-out load generator for livecomments-server and nginx + nchan.
// See docs/performance.md for what it measures and how the comparison is run.
#include "http_util.h"
#include "json_text.h"
#include "proc_stats.h"
#include "publisher.h"
#include "report.h"
#include "subscriber_loop.h"

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

using namespace livecomments::bench;

namespace {

struct Options {
    std::string mode = "fanout";
    std::uint64_t cursorMin = 0;
    std::uint64_t cursorMax = 0;
    int pageLimit = 50;
    std::string target = "livecomments";
    std::string url = "http://127.0.0.1:8080";
    std::size_t videos = 10;
    std::vector<std::string> videoIds;
    std::size_t subscribers = 1000;
    double rate = 10;
    double duration = 5;
    double warmup = 1;
    double drain = 3;
    double connectTimeout = 60;
    double settle = 0.5;
    std::vector<pid_t> pids;
    unsigned sources = 16;
    std::string token;
    unsigned publishers = 2;
    unsigned loops = 1;
    std::size_t maxPending = 256;
    std::string json;
    std::string label;
    bool quiet = false;
};

const char* kUsage = R"(usage: livecomments-bench [--option=value ...]
  --mode=fanout|history        fan-out load (default), or history-page reads: GET
                               /videos/ID/comments?before=<random cursor>&limit=N on one
                               --video-ids=ID, cursors from [--cursor-min, --cursor-max),
                               --publishers readers, --rate requests/s (0 = back to back)
  --page-limit=N               history page size (50)
  --target=livecomments|nchan  protocol flavour (default livecomments)
  --url=http://HOST:PORT       server (default http://127.0.0.1:8080)
  --videos=N                   videos to spread subscribers and comments over (10)
  --video-ids=A,B,...          use these existing videos instead of creating them
  --subscribers=N              SSE streams to open (1000)
  --rate=R                     comments per second over all videos, 0 = idle run (10)
  --duration=S                 measured seconds (5)        --warmup=S   unmeasured seconds first (1)
  --drain=S                    max seconds to wait for late deliveries (3)
  --connect-timeout=S          max seconds to open all streams (60)
  --settle=S                   pause after connecting before sampling RSS (0.5)
  --pid=P[,P...]               server processes to sample (their children are included)
  --sources=N                  bind subscribers to 127.0.0.1..127.0.0.N (16)
  --token=JWT                  bearer token for POSTs (livecomments target)
  --publishers=N               publisher threads, one keep-alive connection each (2)
  --loops=N                    subscriber epoll threads (1)
  --max-pending=N              concurrent unanswered connects per loop (256)
  --json=FILE                  also write the report as JSON
  --label=TEXT                 scenario name put in the report
  --quiet                      no progress lines
Comments are "bench:<CLOCK_MONOTONIC ns>:<seq>"; every delivery's latency is measured against
that stamp. Exit code: 0 when every stream connected and nothing was lost, 1 otherwise, 2 on
bad usage or setup failure.
)";

std::vector<std::string> splitList(const std::string& s)
{
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            out.push_back(item);
    return out;
}

bool parseOptions(int argc, char** argv, Options& o, std::string& error)
{
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        }
        if (arg == "--quiet") {
            o.quiet = true;
            continue;
        }
        const auto eq = arg.find('=');
        if (arg.compare(0, 2, "--") != 0 || eq == std::string::npos) {
            error = "unrecognised argument: " + arg;
            return false;
        }
        const std::string name = arg.substr(2, eq - 2);
        const std::string value = arg.substr(eq + 1);
        try {
            if (name == "target")
                o.target = value;
            else if (name == "mode")
                o.mode = value;
            else if (name == "cursor-min")
                o.cursorMin = std::stoull(value);
            else if (name == "cursor-max")
                o.cursorMax = std::stoull(value);
            else if (name == "page-limit")
                o.pageLimit = std::stoi(value);
            else if (name == "url")
                o.url = value;
            else if (name == "videos")
                o.videos = std::stoul(value);
            else if (name == "video-ids")
                o.videoIds = splitList(value);
            else if (name == "subscribers")
                o.subscribers = std::stoul(value);
            else if (name == "rate")
                o.rate = std::stod(value);
            else if (name == "duration")
                o.duration = std::stod(value);
            else if (name == "warmup")
                o.warmup = std::stod(value);
            else if (name == "drain")
                o.drain = std::stod(value);
            else if (name == "connect-timeout")
                o.connectTimeout = std::stod(value);
            else if (name == "settle")
                o.settle = std::stod(value);
            else if (name == "pid")
                for (const auto& p : splitList(value))
                    o.pids.push_back(static_cast<pid_t>(std::stol(p)));
            else if (name == "sources")
                o.sources = static_cast<unsigned>(std::stoul(value));
            else if (name == "token")
                o.token = value;
            else if (name == "publishers")
                o.publishers = static_cast<unsigned>(std::stoul(value));
            else if (name == "loops")
                o.loops = static_cast<unsigned>(std::stoul(value));
            else if (name == "max-pending")
                o.maxPending = std::stoul(value);
            else if (name == "json")
                o.json = value;
            else if (name == "label")
                o.label = value;
            else {
                error = "unknown option --" + name;
                return false;
            }
        } catch (const std::exception&) {
            error = "bad value for --" + name + ": " + value;
            return false;
        }
    }
    if (o.target != "livecomments" && o.target != "nchan") {
        error = "--target must be livecomments or nchan";
        return false;
    }
    if (!o.videoIds.empty())
        o.videos = o.videoIds.size();
    if (o.mode == "history") {
        if (o.videoIds.size() != 1 || o.cursorMax <= o.cursorMin || o.pageLimit <= 0) {
            error = "--mode=history needs --video-ids=ID and --cursor-min < --cursor-max";
            return false;
        }
        return true;
    }
    if (o.mode != "fanout") {
        error = "--mode must be fanout or history";
        return false;
    }
    if (o.videos == 0 || o.loops == 0 || o.publishers == 0 || o.duration <= 0 || o.warmup < 0) {
        error = "--videos, --loops, --publishers and --duration must be positive";
        return false;
    }
    if (o.target == "livecomments" && o.token.empty() && (o.rate > 0 || o.videoIds.empty())) {
        error = "--token is required for the livecomments target (creating videos, posting)";
        return false;
    }
    return true;
}

void raiseFileLimit()
{
    rlimit limit {};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

/// Creates the videos on a livecomments server; returns false with `error` on failure.
bool createVideos(
    const Options& o, const Endpoint& endpoint, std::vector<std::string>& ids, std::string& error)
{
    HttpClient client(endpoint, loopbackSource(0, 1));
    const std::string auth = "Authorization: Bearer " + o.token + "\r\n";
    for (std::size_t i = 0; i < o.videos; ++i) {
        std::string response;
        const std::string body
            = "{\"title\":" + jsonString("bench video " + std::to_string(i + 1)) + "}";
        const int status = client.request("POST", "/videos", auth, body, response);
        if (status != 201 && status != 200) {
            error = "POST /videos answered " + std::to_string(status) + ": " + response;
            return false;
        }
        const auto key = response.find("\"id\":");
        if (key == std::string::npos) {
            error = "no id in POST /videos answer: " + response;
            return false;
        }
        std::size_t p = key + 5;
        while (p < response.size() && (response[p] == ' ' || response[p] == '"'))
            ++p;
        std::string id;
        while (p < response.size() && std::isdigit(static_cast<unsigned char>(response[p])))
            id += response[p++];
        if (id.empty()) {
            error = "bad id in POST /videos answer: " + response;
            return false;
        }
        ids.push_back(id);
    }
    return true;
}

void sleepSeconds(double s)
{
    if (s > 0)
        std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

double seconds(std::int64_t ns)
{
    return static_cast<double>(ns) / 1e9;
}

/// Report fields every mode fills the same way from the options.
Report baseReport(const Options& o, const std::string& mode)
{
    Report report;
    report.mode = mode;
    report.label = o.label;
    report.target = o.target;
    report.url = o.url;
    report.videos = o.videoIds.empty() ? o.videos : o.videoIds.size();
    report.subscribersRequested = mode == "fanout" ? o.subscribers : 0;
    report.rateTarget = o.rate;
    report.durationSeconds = o.duration;
    report.warmupSeconds = o.warmup;
    return report;
}

/// Sleeps through the measured window, sampling the server's CPU at both ends, then joins the
/// worker threads.
void measureWindow(const Options& o, Report& report, std::int64_t windowStart,
    std::int64_t windowEnd, std::vector<std::thread>& threads)
{
    sleepSeconds(seconds(windowStart - nowNs()));
    const ProcSample cpuStart = sampleProcesses(o.pids);
    sleepSeconds(seconds(windowEnd - nowNs()));
    const ProcSample cpuEnd = sampleProcesses(o.pids);
    for (auto& t : threads)
        t.join();
    report.serverCpuSeconds = cpuEnd.cpuSeconds - cpuStart.cpuSeconds;
    report.serverRunQueueSeconds = cpuEnd.runQueueSeconds - cpuStart.runQueueSeconds;
    report.serverPids = cpuEnd.pids;
    report.serverRssKbEnd = cpuEnd.rssKb;
}

/// Prints the table and writes the JSON file; false when the file cannot be written.
bool emitReport(const Options& o, const Report& report)
{
    printTable(report, std::cout);
    if (o.json.empty())
        return true;
    std::ofstream out(o.json);
    writeJson(report, out);
    if (!out) {
        std::cerr << "livecomments-bench: cannot write " << o.json << "\n";
        return false;
    }
    return true;
}

/// --mode=history: paced or closed-loop GETs of deep history pages.
int runHistory(const Options& o, const Endpoint& endpoint)
{
    Report report = baseReport(o, "history");
    const double benchCpuStart = selfCpuSeconds();
    const double benchRunQueueStart = runQueueSeconds(0);
    report.serverRssKbBaseline = sampleProcesses(o.pids).rssKb;
    const std::int64_t t0 = nowNs() + 20000000LL;
    const std::int64_t windowStart = t0 + static_cast<std::int64_t>(o.warmup * 1e9);
    const std::int64_t windowEnd = windowStart + static_cast<std::int64_t>(o.duration * 1e9);
    std::vector<ReaderResult> results(o.publishers);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < o.publishers; ++i) {
        ReaderConfig rc;
        rc.endpoint = endpoint;
        rc.path = "/videos/" + o.videoIds.front() + "/comments";
        rc.cursorMin = o.cursorMin;
        rc.cursorMax = o.cursorMax;
        rc.limit = o.pageLimit;
        rc.ratePerSecond = o.rate / o.publishers;
        rc.startNs = t0;
        rc.windowStartNs = windowStart;
        rc.windowEndNs = windowEnd;
        rc.threadIndex = i;
        threads.emplace_back([rc, &result = results[i]] { runReader(rc, result); });
    }
    measureWindow(o, report, windowStart, windowEnd, threads);
    for (const auto& r : results) {
        report.historyRequests += r.requests;
        report.historyOk += r.ok;
        report.historyComments += r.comments;
        report.historyShortPages += r.shortPages;
        report.historyLatency.merge(r.latency);
        for (const auto& [reason, count] : r.errors)
            report.publishErrors[reason] += count;
    }
    report.benchCpuSeconds = selfCpuSeconds() - benchCpuStart;
    report.benchRunQueueSeconds = runQueueSeconds(0) - benchRunQueueStart;
    if (!emitReport(o, report))
        return 2;
    return report.historyRequests > 0 && report.historyOk == report.historyRequests ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    std::signal(SIGPIPE, SIG_IGN);
    Options o;
    std::string error;
    if (!parseOptions(argc, argv, o, error)) {
        std::cerr << "livecomments-bench: " << error << "\n" << kUsage;
        return 2;
    }
    raiseFileLimit();
    Endpoint endpoint;
    if (!parseUrl(o.url, endpoint, error)) {
        std::cerr << "livecomments-bench: " << error << "\n";
        return 2;
    }
    if (o.mode == "history")
        return runHistory(o, endpoint);
    auto progress = [&o](const std::string& line) {
        if (!o.quiet)
            std::cerr << "[bench] " << line << std::endl;
    };

    std::vector<std::string> ids = o.videoIds;
    if (ids.empty()) {
        if (o.target == "livecomments") {
            if (!createVideos(o, endpoint, ids, error)) {
                std::cerr << "livecomments-bench: " << error << "\n";
                return 2;
            }
        } else {
            for (std::size_t i = 0; i < o.videos; ++i)
                ids.push_back(std::to_string(i + 1));
        }
    }

    Report report = baseReport(o, "fanout");
    report.videos = ids.size();
    const double benchCpuStart = selfCpuSeconds();
    const double benchRunQueueStart = runQueueSeconds(0);
    report.serverRssKbBaseline = sampleProcesses(o.pids).rssKb;

    // Subscribers: stream i watches video i % videos and lives on loop i % loops.
    SharedState shared(ids.size());
    SubscriberLoop::Config loopConfig;
    loopConfig.endpoint = endpoint;
    loopConfig.sources = o.sources;
    loopConfig.maxPending = o.maxPending;
    for (const auto& id : ids)
        loopConfig.requests.push_back("GET /videos/" + id
            + "/subscriptions HTTP/1.1\r\nHost: " + endpoint.hostHeader
            + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n");
    std::vector<std::vector<std::pair<std::size_t, std::size_t>>> shares(o.loops);
    for (std::size_t i = 0; i < o.subscribers; ++i)
        shares[i % o.loops].emplace_back(i, i % ids.size());
    std::vector<std::unique_ptr<SubscriberLoop>> loops;
    for (auto& share : shares)
        loops.push_back(std::make_unique<SubscriberLoop>(loopConfig, std::move(share), shared));
    const std::int64_t connectStart = nowNs();
    for (auto& loop : loops)
        loop->start();
    std::int64_t lastProgress = connectStart;
    while (shared.connected + shared.failed < o.subscribers
        && seconds(nowNs() - connectStart) < o.connectTimeout) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (nowNs() - lastProgress > 1000000000LL) {
            lastProgress = nowNs();
            progress("connected " + std::to_string(shared.connected.load()) + " / "
                + std::to_string(o.subscribers) + ", failed "
                + std::to_string(shared.failed.load()));
        }
    }
    report.connectSeconds = seconds(nowNs() - connectStart);
    report.subscribersConnected = shared.connected;
    progress("connected " + std::to_string(report.subscribersConnected) + " / "
        + std::to_string(o.subscribers) + " in " + std::to_string(report.connectSeconds) + " s");
    sleepSeconds(o.settle);
    report.serverRssKbConnected = sampleProcesses(o.pids).rssKb;
    const std::uint64_t disconnectsBefore = shared.disconnected;
    std::vector<std::uint32_t> viewersAtStart(ids.size());
    for (std::size_t v = 0; v < ids.size(); ++v)
        viewersAtStart[v] = shared.openPerVideo[v].load();

    // Publishing: warm-up, then the measured window.
    const std::int64_t t0 = nowNs() + 50000000LL;
    const std::int64_t windowStart = t0 + static_cast<std::int64_t>(o.warmup * 1e9);
    const std::int64_t windowEnd = windowStart + static_cast<std::int64_t>(o.duration * 1e9);
    shared.windowStartNs = windowStart;
    shared.windowEndNs = windowEnd;
    std::atomic<std::uint64_t> sequence { 0 };
    std::vector<PublisherResult> pubResults(o.rate > 0 ? o.publishers : 0);
    std::vector<std::thread> publishers;
    for (unsigned i = 0; i < pubResults.size(); ++i) {
        PublisherConfig pc;
        pc.endpoint = endpoint;
        for (const auto& id : ids)
            pc.paths.push_back("/videos/" + id + "/comments");
        if (!o.token.empty())
            pc.extraHeaders = "Authorization: Bearer " + o.token + "\r\n";
        pc.ratePerSecond = o.rate / o.publishers;
        pc.startNs = t0;
        pc.windowStartNs = windowStart;
        pc.windowEndNs = windowEnd;
        pc.threadIndex = i;
        pc.threadCount = o.publishers;
        pc.sources = o.sources;
        publishers.emplace_back(
            [pc, &sequence, &result = pubResults[i]] { runPublisher(pc, sequence, result); });
    }
    progress("publishing " + std::to_string(o.rate) + "/s: warm-up " + std::to_string(o.warmup)
        + " s, measuring " + std::to_string(o.duration) + " s");
    measureWindow(o, report, windowStart, windowEnd, publishers);

    for (const auto& r : pubResults) {
        report.published += r.published;
        report.acknowledged += r.acknowledged;
        report.skipped += r.skipped;
        report.ackLatency.merge(r.ackLatency);
        for (const auto& [reason, count] : r.errors)
            report.publishErrors[reason] += count;
        for (std::size_t v = 0; v < r.ackedPerVideo.size(); ++v)
            report.expected += r.ackedPerVideo[v] * viewersAtStart[v];
    }

    // Drain: late deliveries still count (their latency shows it) until the deadline.
    const std::int64_t drainStart = nowNs();
    while (shared.delivered.load() < report.expected && seconds(nowNs() - drainStart) < o.drain)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    report.drainSeconds = seconds(nowNs() - drainStart);
    report.serverRssKbEnd = sampleProcesses(o.pids).rssKb;
    report.disconnectsDuringRun = shared.disconnected - disconnectsBefore;
    shared.stop = true;
    for (auto& loop : loops) {
        loop->join();
        const LoopResult& r = loop->result();
        report.delivered += r.delivered;
        report.arrivedInWindow += r.arrivedInWindow;
        report.resets += r.resets;
        report.latency.merge(r.latency);
        for (const auto& [reason, count] : r.errors)
            report.subscriberErrors[reason] += count;
    }
    report.subscribersFailed = shared.failed;
    report.benchCpuSeconds = selfCpuSeconds() - benchCpuStart;
    report.benchRunQueueSeconds = runQueueSeconds(0) - benchRunQueueStart;

    if (!emitReport(o, report))
        return 2;
    const bool ok = report.subscribersConnected == o.subscribers && report.lost() == 0
        && report.acknowledged == report.published;
    return ok ? 0 : 1;
}
