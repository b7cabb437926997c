// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <vector>

namespace livecomments::bench {

/// Log-linear latency histogram (values in microseconds, < 1 % relative error, exact max).
/// Threading: not thread-safe; each thread records into its own instance and the owner merges
/// them after the threads have been joined.
class Histogram {
public:
    Histogram();
    /// Records one value (microseconds).
    void record(std::uint64_t valueUs);
    /// Adds every value of `other` to this histogram.
    void merge(const Histogram& other);
    std::uint64_t count() const { return m_count; }
    std::uint64_t max() const { return m_max; }
    double mean() const;
    /// Value (microseconds) below or at which `fraction` (0..1) of the values lie.
    std::uint64_t percentile(double fraction) const;

private:
    static std::size_t indexOf(std::uint64_t value);
    static std::uint64_t valueOf(std::size_t index);

    std::vector<std::uint64_t> m_counts;
    std::uint64_t m_count = 0;
    std::uint64_t m_max = 0;
    long double m_sum = 0;
};

} // namespace livecomments::bench
