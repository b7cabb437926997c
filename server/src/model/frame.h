// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace livecomments::server {

/// One SSE frame, encoded once and shared (refcounted) by the recent cache and every subscriber
/// it is queued for. Lives in model/ so that cache/ and fanout/ share it without including
/// each other.
struct Frame {
    std::uint64_t id = 0; ///< comment id (SSE `id:`), 0 for frames without one (deleted, stats)
    std::string bytes; ///< complete SSE bytes, ending with the blank line
};
/// A shared, immutable frame.
using FramePtr = std::shared_ptr<const Frame>;

/// Builds a shared frame (one allocation for the control block and the frame).
inline FramePtr makeFrame(std::uint64_t id, std::string bytes)
{
    return std::make_shared<const Frame>(Frame { id, std::move(bytes) });
}

} // namespace livecomments::server
