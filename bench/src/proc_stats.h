// SPDX-License-Identifier: MIT
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace livecomments::bench {

/// CPU time and resident memory of a set of processes, read from /proc.
struct ProcSample {
    double cpuSeconds = 0; ///< utime + stime summed over the processes
    std::uint64_t rssKb = 0; ///< VmRSS summed over the processes
    /// Time the processes' threads spent runnable but waiting for a CPU (schedstat run_delay):
    /// shows how much a busy machine, not the code, held the server back.
    double runQueueSeconds = 0;
    std::vector<pid_t> pids; ///< the processes that were found
};

/// Samples `roots` and every live descendant of them (so `--pid=<nginx master>` covers its
/// workers). Threading: stateless, callable from any thread.
ProcSample sampleProcesses(const std::vector<pid_t>& roots);

/// Run-queue wait (seconds) summed over the threads of process `pid` (0 = this process).
double runQueueSeconds(pid_t pid);

/// CPU seconds (user + system) consumed by this process so far.
double selfCpuSeconds();

} // namespace livecomments::bench
