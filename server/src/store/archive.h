// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace livecomments::server::store {

/// Comments per archive block at most: small enough that a history page decompresses one or two
/// blocks, large enough that zstd finds the repetition in user names and ids.
constexpr std::size_t kArchiveBlockComments = 256;
/// zstd level of archive blocks (docs/performance.md has the measurements behind it).
constexpr int kArchiveZstdLevel = 6;

/**
 * The codec of archive blocks: a run of consecutive comments (by id) of one video, serialised
 * column by column (id deltas, created_at deltas, user ids, user names, user roles, texts) and
 * compressed with zstd. The video id is not stored (the block row carries it). Blocks of the
 * first format (no role column) still decode, their comments as viewers.
 *
 * Threading: stateless functions, callable from any thread.
 */
namespace archive {

/// `comments` (ascending ids, one video, at least one, at most 65,536) as a compressed block
/// (`level`: zstd level; other than the default only for measurements). Throws
/// std::invalid_argument for more comments.
std::string encodeBlock(const std::vector<Comment>& comments, int level = kArchiveZstdLevel);
/// The comments of a block made by encodeBlock(), ascending, with `videoId` set. Throws
/// std::runtime_error on corrupt data (not a zstd frame of known size, over 64 MiB raw, an
/// unknown format, a count the data cannot hold, truncated fields, an unknown role byte,
/// trailing bytes); never allocates more than the data can describe.
std::vector<Comment> decodeBlock(const std::string& data, std::uint32_t videoId);

} // namespace archive

} // namespace livecomments::server::store
