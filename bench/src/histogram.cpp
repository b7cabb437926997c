// SPDX-License-Identifier: MIT
#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace livecomments::bench {
namespace {
// 128 linear sub-buckets per power of two: the bucket width is below 1/128 of its value.
constexpr unsigned kSubBits = 7;
constexpr std::uint64_t kSub = 1u << kSubBits;
constexpr std::size_t kBuckets = kSub + (64 - kSubBits) * kSub;
} // namespace

Histogram::Histogram()
    : m_counts(kBuckets, 0)
{ }

std::size_t Histogram::indexOf(std::uint64_t value)
{
    if (value < kSub)
        return static_cast<std::size_t>(value);
    const unsigned exponent = 63u - static_cast<unsigned>(__builtin_clzll(value));
    const unsigned shift = exponent - kSubBits;
    const std::uint64_t mantissa = value >> shift; // in [kSub, 2*kSub)
    return static_cast<std::size_t>(kSub + shift * kSub + (mantissa - kSub));
}

std::uint64_t Histogram::valueOf(std::size_t index)
{
    if (index < kSub)
        return index;
    const std::uint64_t shift = (index - kSub) / kSub;
    const std::uint64_t mantissa = kSub + (index - kSub) % kSub;
    // Middle of the bucket, so the error is at most half a bucket width.
    const std::uint64_t low = mantissa << shift;
    const std::uint64_t width = std::uint64_t { 1 } << shift;
    return low + (width - 1) / 2;
}

void Histogram::record(std::uint64_t valueUs)
{
    ++m_counts[indexOf(valueUs)];
    ++m_count;
    m_max = std::max(m_max, valueUs);
    m_sum += static_cast<long double>(valueUs);
}

void Histogram::merge(const Histogram& other)
{
    for (std::size_t i = 0; i < kBuckets; ++i)
        m_counts[i] += other.m_counts[i];
    m_count += other.m_count;
    m_max = std::max(m_max, other.m_max);
    m_sum += other.m_sum;
}

double Histogram::mean() const
{
    return m_count == 0 ? 0.0 : static_cast<double>(m_sum / static_cast<long double>(m_count));
}

std::uint64_t Histogram::percentile(double fraction) const
{
    if (m_count == 0)
        return 0;
    const auto rank = static_cast<std::uint64_t>(
        std::ceil(std::clamp(fraction, 0.0, 1.0) * static_cast<double>(m_count)));
    const std::uint64_t target = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += m_counts[i];
        if (seen >= target)
            return std::min(valueOf(i), m_max);
    }
    return m_max;
}

} // namespace livecomments::bench
