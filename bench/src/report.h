// SPDX-License-Identifier: MIT
#pragma once

#include "histogram.h"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace livecomments::bench {

/// Everything one run measured; printed as a table and written as JSON.
/// Threading: plain value, filled by the main thread after every worker has been joined.
struct Report {
    std::string mode = "fanout"; ///< "fanout" or "history"
    std::string label;
    std::string target;
    std::string url;
    std::size_t videos = 0;
    std::size_t subscribersRequested = 0;
    std::uint64_t subscribersConnected = 0;
    std::uint64_t subscribersFailed = 0;
    std::uint64_t disconnectsDuringRun = 0;
    double connectSeconds = 0;
    double rateTarget = 0;
    double durationSeconds = 0;
    double warmupSeconds = 0;
    std::uint64_t published = 0;
    std::uint64_t acknowledged = 0;
    std::uint64_t skipped = 0;
    std::uint64_t expected = 0;
    std::uint64_t delivered = 0;
    std::uint64_t arrivedInWindow = 0; ///< deliveries read during the measured window
    std::uint64_t resets = 0;
    /// Comments the server reported as skipped by hot-stream shaping (Σ of each stream's last
    /// `stats` "skipped", since the stream opened: warm-up included). Such comments also count
    /// in lost().
    std::uint64_t shed = 0;
    double drainSeconds = 0;
    Histogram latency;
    Histogram ackLatency;
    std::map<std::string, std::uint64_t> subscriberErrors;
    std::map<std::string, std::uint64_t> publishErrors;
    std::vector<pid_t> serverPids;
    double serverCpuSeconds = 0;
    std::uint64_t serverRssKbBaseline = 0;
    std::uint64_t serverRssKbConnected = 0;
    std::uint64_t serverRssKbEnd = 0;
    double benchCpuSeconds = 0;
    double serverRunQueueSeconds = 0; ///< server threads' wait for a CPU during the window
    double benchRunQueueSeconds = 0; ///< this tool's threads' wait for a CPU during the run
    // --mode=history
    std::uint64_t historyRequests = 0;
    std::uint64_t historyOk = 0;
    std::uint64_t historyComments = 0;
    std::uint64_t historyShortPages = 0;
    Histogram historyLatency;

    std::uint64_t lost() const { return expected > delivered ? expected - delivered : 0; }
    /// Deliveries the server completed per second during the window (sustained throughput).
    double deliveriesPerSecond() const;
    /// Deliveries per second the publish rate asked for (acknowledged comments × viewers).
    double offeredPerSecond() const;
    double rssBytesPerStream() const;
    /// Server CPU time per delivery made in the window (µs): efficiency, robust to a busy machine.
    double cpuMicrosPerDelivery() const;
};

/// Human-readable table.
void printTable(const Report& report, std::ostream& out);
/// The JSON document (one object; keys documented in docs/performance.md).
void writeJson(const Report& report, std::ostream& out);

} // namespace livecomments::bench
