// SPDX-License-Identifier: MIT
#include "proc_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace livecomments::bench {
namespace {

/// Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses).
bool readStat(pid_t pid, pid_t& ppid, double& cpuSeconds)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return false;
    const auto close = line.rfind(')');
    if (close == std::string::npos)
        return false;
    std::istringstream fields(line.substr(close + 2));
    std::string state;
    long long values[13] = {};
    fields >> state;
    // After state: ppid(4) pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14)
    // stime(15)
    for (long long& v : values)
        fields >> v;
    ppid = static_cast<pid_t>(values[0]);
    static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    cpuSeconds = static_cast<double>(values[10] + values[11]) / ticks;
    return true;
}

std::uint64_t readRssKb(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, 6, "VmRSS:") == 0)
            return std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    return 0;
}

} // namespace

double runQueueSeconds(pid_t pid)
{
    const std::string base
        = pid == 0 ? std::string("/proc/self/task") : "/proc/" + std::to_string(pid) + "/task";
    double total = 0;
    if (DIR* dir = opendir(base.c_str())) {
        while (dirent* entry = readdir(dir)) {
            if (entry->d_name[0] == '.')
                continue;
            std::ifstream in(base + "/" + entry->d_name + "/schedstat");
            unsigned long long onCpu = 0;
            unsigned long long waiting = 0;
            if (in >> onCpu >> waiting)
                total += static_cast<double>(waiting) / 1e9;
        }
        closedir(dir);
    }
    return total;
}

ProcSample sampleProcesses(const std::vector<pid_t>& roots)
{
    ProcSample sample;
    if (roots.empty())
        return sample;
    // Parent map of every process, to find descendants of the roots.
    std::multimap<pid_t, pid_t> children;
    if (DIR* dir = opendir("/proc")) {
        while (dirent* entry = readdir(dir)) {
            char* end = nullptr;
            const long pid = std::strtol(entry->d_name, &end, 10);
            if (pid <= 0 || *end != '\0')
                continue;
            pid_t ppid = 0;
            double cpu = 0;
            if (readStat(static_cast<pid_t>(pid), ppid, cpu))
                children.emplace(ppid, static_cast<pid_t>(pid));
        }
        closedir(dir);
    }
    std::vector<pid_t> todo = roots;
    while (!todo.empty()) {
        const pid_t pid = todo.back();
        todo.pop_back();
        if (std::find(sample.pids.begin(), sample.pids.end(), pid) != sample.pids.end())
            continue;
        pid_t ppid = 0;
        double cpu = 0;
        if (!readStat(pid, ppid, cpu))
            continue;
        sample.pids.push_back(pid);
        sample.cpuSeconds += cpu;
        sample.rssKb += readRssKb(pid);
        sample.runQueueSeconds += runQueueSeconds(pid);
        const auto range = children.equal_range(pid);
        for (auto it = range.first; it != range.second; ++it)
            todo.push_back(it->second);
    }
    std::sort(sample.pids.begin(), sample.pids.end());
    return sample;
}

double selfCpuSeconds()
{
    rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

} // namespace livecomments::bench
