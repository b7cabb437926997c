// SPDX-License-Identifier: MIT
#pragma once

#include "histogram.h"
#include "http_util.h"

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace livecomments::bench {

/// What one publisher thread does: POST comments round-robin over the videos at a fixed rate
/// (open loop: a late send is sent at once, a send more than a second late is skipped) from
/// `startNs` until `windowEndNs`.
struct PublisherConfig {
    Endpoint endpoint;
    std::vector<std::string> paths; ///< POST path per video slot
    std::string extraHeaders; ///< e.g. "Authorization: Bearer …\r\n"
    double ratePerSecond = 0; ///< this thread's share of the target rate
    std::int64_t startNs = 0;
    std::int64_t windowStartNs = 0; ///< comments stamped inside [windowStart, windowEnd) count
    std::int64_t windowEndNs = 0;
    unsigned threadIndex = 0;
    unsigned threadCount = 1;
    unsigned sources = 16;
};

/// Counts of one publisher thread (measured comments only).
struct PublisherResult {
    std::uint64_t published = 0; ///< requests sent
    std::uint64_t acknowledged = 0; ///< 2xx answers
    std::uint64_t skipped = 0; ///< sends dropped because the thread fell > 1 s behind
    std::vector<std::uint64_t> ackedPerVideo;
    Histogram ackLatency; ///< µs from send to the complete response
    std::map<std::string, std::uint64_t> errors;
};

/// What one history reader thread does: GET `limit`-sized pages `before=` random cursors drawn
/// uniformly from [cursorMin, cursorMax) (deep, uncached history), back to back or paced.
struct ReaderConfig {
    Endpoint endpoint;
    std::string path; ///< /videos/{id}/comments
    std::uint64_t cursorMin = 0;
    std::uint64_t cursorMax = 0;
    int limit = 50;
    double ratePerSecond = 0; ///< 0 = closed loop (next request as soon as one is answered)
    std::int64_t startNs = 0;
    std::int64_t windowStartNs = 0;
    std::int64_t windowEndNs = 0;
    unsigned threadIndex = 0;
};

/// Counts of one reader thread (requests sent inside the window only).
struct ReaderResult {
    std::uint64_t requests = 0;
    std::uint64_t ok = 0; ///< 200 answers
    std::uint64_t comments = 0; ///< comments received in those pages
    std::uint64_t shortPages = 0; ///< 200 pages with fewer than `limit` comments
    Histogram latency; ///< µs per complete GET
    std::map<std::string, std::uint64_t> errors;
};

/// Runs one history reader on the calling thread (same threading rules as runPublisher).
void runReader(const ReaderConfig& config, ReaderResult& result);

/// Runs one publisher on the calling thread. `sequence` numbers comments across threads.
/// Threading: call from a dedicated thread; `result` is owned by that thread until it ends.
void runPublisher(
    const PublisherConfig& config, std::atomic<std::uint64_t>& sequence, PublisherResult& result);

} // namespace livecomments::bench
