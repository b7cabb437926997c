// SPDX-License-Identifier: MIT
#include "report.h"

#include "json_text.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace livecomments::bench {
namespace {

std::string num(double v, int decimals = 3)
{
    if (!std::isfinite(v))
        return "null";
    std::ostringstream s;
    s << std::fixed << std::setprecision(decimals) << v;
    return s.str();
}

double ms(std::uint64_t us)
{
    return static_cast<double>(us) / 1000.0;
}

std::string latencyJson(const Histogram& h, bool full)
{
    std::ostringstream s;
    s << "{\"count\":" << h.count() << ",\"p50\":" << num(ms(h.percentile(0.50)));
    if (full)
        s << ",\"p90\":" << num(ms(h.percentile(0.90)));
    s << ",\"p99\":" << num(ms(h.percentile(0.99)));
    if (full)
        s << ",\"p999\":" << num(ms(h.percentile(0.999)));
    s << ",\"max\":" << num(ms(h.max())) << ",\"mean\":" << num(h.mean() / 1000.0) << "}";
    return s.str();
}

std::string errorsJson(const std::map<std::string, std::uint64_t>& errors)
{
    std::string out = "{";
    for (const auto& [reason, count] : errors) {
        if (out.size() > 1)
            out += ",";
        out += jsonString(reason) + ":" + std::to_string(count);
    }
    return out + "}";
}

} // namespace

double Report::deliveriesPerSecond() const
{
    return durationSeconds > 0 ? static_cast<double>(arrivedInWindow) / durationSeconds : 0;
}

double Report::cpuMicrosPerDelivery() const
{
    return arrivedInWindow ? serverCpuSeconds * 1e6 / static_cast<double>(arrivedInWindow) : 0;
}

double Report::offeredPerSecond() const
{
    return durationSeconds > 0 ? static_cast<double>(expected) / durationSeconds : 0;
}

double Report::rssBytesPerStream() const
{
    if (subscribersConnected == 0 || serverRssKbConnected < serverRssKbBaseline)
        return 0;
    return static_cast<double>(serverRssKbConnected - serverRssKbBaseline) * 1024.0
        / static_cast<double>(subscribersConnected);
}

void printTable(const Report& r, std::ostream& out)
{
    auto row = [&out](const std::string& name, const std::string& value) {
        out << "  " << std::left << std::setw(28) << name << value << "\n";
    };
    auto lat = [](const Histogram& h) {
        return "p50 " + num(ms(h.percentile(0.5)), 2) + "  p90 " + num(ms(h.percentile(0.9)), 2)
            + "  p99 " + num(ms(h.percentile(0.99)), 2) + "  p99.9 "
            + num(ms(h.percentile(0.999)), 2) + "  max " + num(ms(h.max()), 2) + " ms";
    };
    out << "livecomments-bench: " << (r.label.empty() ? r.target : r.label) << " (" << r.target
        << " at " << r.url << ")\n";
    if (r.mode == "history") {
        const double secs = r.durationSeconds > 0 ? r.durationSeconds : 1;
        row("history requests",
            std::to_string(r.historyOk) + " ok / " + std::to_string(r.historyRequests) + " = "
                + num(static_cast<double>(r.historyRequests) / secs, 0) + "/s over "
                + num(r.durationSeconds, 1) + " s");
        row("comments per page",
            num(r.historyOk
                    ? static_cast<double>(r.historyComments) / static_cast<double>(r.historyOk)
                    : 0,
                1)
                + " (short pages " + std::to_string(r.historyShortPages) + ")");
        row("page latency", lat(r.historyLatency));
        if (!r.serverPids.empty())
            row("server CPU",
                num(r.serverCpuSeconds, 2) + " s, RSS " + std::to_string(r.serverRssKbEnd) + " KB");
        for (const auto& [reason, count] : r.publishErrors)
            row("request error", reason + " x" + std::to_string(count));
        return;
    }
    row("subscribers connected",
        std::to_string(r.subscribersConnected) + " / " + std::to_string(r.subscribersRequested)
            + " over " + std::to_string(r.videos) + " videos in " + num(r.connectSeconds, 2)
            + " s (failed " + std::to_string(r.subscribersFailed) + ", dropped during run "
            + std::to_string(r.disconnectsDuringRun) + ")");
    row("publish rate",
        "target " + num(r.rateTarget, 1) + "/s, achieved "
            + num(
                r.durationSeconds > 0 ? static_cast<double>(r.published) / r.durationSeconds : 0, 1)
            + "/s over " + num(r.durationSeconds, 1) + " s (+" + num(r.warmupSeconds, 1)
            + " s warm-up)");
    row("published / acknowledged",
        std::to_string(r.published) + " / " + std::to_string(r.acknowledged)
            + (r.skipped ? " (skipped " + std::to_string(r.skipped) + ")" : ""));
    const double loss
        = r.expected ? static_cast<double>(r.lost()) / static_cast<double>(r.expected) : 0;
    row("delivered / expected",
        std::to_string(r.delivered) + " / " + std::to_string(r.expected) + " (lost "
            + std::to_string(r.lost()) + " = " + num(loss * 100, 3) + " %)");
    row("deliveries/s",
        num(r.deliveriesPerSecond(), 0) + " sustained (offered " + num(r.offeredPerSecond(), 0)
            + ", drain " + num(r.drainSeconds, 2) + " s)");
    row("delivery latency", lat(r.latency));
    row("publish-ack latency",
        "p50 " + num(ms(r.ackLatency.percentile(0.5)), 2) + "  p99 "
            + num(ms(r.ackLatency.percentile(0.99)), 2) + "  max " + num(ms(r.ackLatency.max()), 2)
            + " ms");
    if (!r.serverPids.empty()) {
        row("server CPU",
            num(r.serverCpuSeconds, 2) + " s = "
                + num(r.durationSeconds > 0 ? 100 * r.serverCpuSeconds / r.durationSeconds : 0, 0)
                + " % of one core (" + std::to_string(r.serverPids.size()) + " processes), "
                + num(r.cpuMicrosPerDelivery(), 2) + " µs per delivery");
        row("server run-queue wait",
            num(r.serverRunQueueSeconds, 2)
                + " s (threads runnable but not running: machine contention)");
        row("server RSS",
            "baseline " + std::to_string(r.serverRssKbBaseline) + " KB, connected "
                + std::to_string(r.serverRssKbConnected) + " KB, end "
                + std::to_string(r.serverRssKbEnd) + " KB");
        row("server RSS per stream", num(r.rssBytesPerStream(), 0) + " B");
    }
    row("bench CPU",
        num(r.benchCpuSeconds, 2) + " s, run-queue wait " + num(r.benchRunQueueSeconds, 2) + " s");
    if (r.resets)
        row("reset events", std::to_string(r.resets));
    for (const auto& [reason, count] : r.subscriberErrors)
        row("subscriber error", reason + " x" + std::to_string(count));
    for (const auto& [reason, count] : r.publishErrors)
        row("publish error", reason + " x" + std::to_string(count));
}

void writeJson(const Report& r, std::ostream& out)
{
    out << "{\n";
    out << "  \"mode\": " << jsonString(r.mode) << ",\n";
    if (r.mode == "history") {
        out << "  \"history\": {\"requests\": " << r.historyRequests << ", \"ok\": " << r.historyOk
            << ", \"comments\": " << r.historyComments
            << ", \"short_pages\": " << r.historyShortPages << ", \"requests_per_s\": "
            << num(r.durationSeconds > 0
                       ? static_cast<double>(r.historyRequests) / r.durationSeconds
                       : 0,
                   1)
            << ", \"latency_ms\": " << latencyJson(r.historyLatency, true) << "},\n";
    }
    out << "  \"label\": " << jsonString(r.label) << ",\n";
    out << "  \"target\": " << jsonString(r.target) << ",\n";
    out << "  \"url\": " << jsonString(r.url) << ",\n";
    out << "  \"videos\": " << r.videos << ",\n";
    out << "  \"subscribers\": {\"requested\": " << r.subscribersRequested
        << ", \"connected\": " << r.subscribersConnected << ", \"failed\": " << r.subscribersFailed
        << ", \"dropped\": " << r.disconnectsDuringRun
        << ", \"connect_s\": " << num(r.connectSeconds)
        << ", \"errors\": " << errorsJson(r.subscriberErrors) << "},\n";
    out << "  \"rate_target\": " << num(r.rateTarget) << ",\n";
    out << "  \"duration_s\": " << num(r.durationSeconds) << ",\n";
    out << "  \"warmup_s\": " << num(r.warmupSeconds) << ",\n";
    out << "  \"published\": " << r.published << ",\n";
    out << "  \"acknowledged\": " << r.acknowledged << ",\n";
    out << "  \"skipped\": " << r.skipped << ",\n";
    out << "  \"publish_rate\": "
        << num(r.durationSeconds > 0 ? static_cast<double>(r.published) / r.durationSeconds : 0)
        << ",\n";
    out << "  \"publish_errors\": " << errorsJson(r.publishErrors) << ",\n";
    out << "  \"expected\": " << r.expected << ",\n";
    out << "  \"delivered\": " << r.delivered << ",\n";
    out << "  \"lost\": " << r.lost() << ",\n";
    out << "  \"resets\": " << r.resets << ",\n";
    out << "  \"drain_s\": " << num(r.drainSeconds) << ",\n";
    out << "  \"deliveries_per_s\": " << num(r.deliveriesPerSecond(), 1) << ",\n";
    out << "  \"offered_per_s\": " << num(r.offeredPerSecond(), 1) << ",\n";
    out << "  \"latency_ms\": " << latencyJson(r.latency, true) << ",\n";
    out << "  \"ack_latency_ms\": " << latencyJson(r.ackLatency, false) << ",\n";
    out << "  \"server\": {\"pids\": [";
    for (std::size_t i = 0; i < r.serverPids.size(); ++i)
        out << (i ? "," : "") << r.serverPids[i];
    out << "], \"cpu_s\": " << num(r.serverCpuSeconds) << ", \"cpu_pct\": "
        << num(r.durationSeconds > 0 ? 100 * r.serverCpuSeconds / r.durationSeconds : 0, 1)
        << ", \"cpu_us_per_delivery\": " << num(r.cpuMicrosPerDelivery())
        << ", \"run_queue_s\": " << num(r.serverRunQueueSeconds)
        << ", \"rss_kb_baseline\": " << r.serverRssKbBaseline
        << ", \"rss_kb_connected\": " << r.serverRssKbConnected
        << ", \"rss_kb_end\": " << r.serverRssKbEnd
        << ", \"rss_bytes_per_stream\": " << num(r.rssBytesPerStream(), 1) << "},\n";
    out << "  \"bench\": {\"cpu_s\": " << num(r.benchCpuSeconds)
        << ", \"run_queue_s\": " << num(r.benchRunQueueSeconds) << "}\n";
    out << "}\n";
}

} // namespace livecomments::bench
