// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstdint>
#include <string>
#include <vector>

namespace livecomments::server::store {

/**
 * One write relayed between regions (docs/protocol.md "Region relay"): what the relay queue row
 * holds as JSON and what the ingest endpoint of a peer region stores under the same ids.
 */
struct RegionEvent {
    enum class Type { VideoCreated, CommentAdded, CommentDeleted, VideoEnded };
    Type type = Type::CommentAdded;
    std::string origin; ///< the region the write was made in (never relayed further)
    /// VideoCreated: id, title, streamer, createdAtMs; VideoEnded: id and endedAtMs.
    Video video;
    /// CommentAdded: every field; CommentDeleted: id and videoId.
    Comment comment;

    std::uint32_t videoId() const
    {
        return type == Type::CommentAdded || type == Type::CommentDeleted ? comment.videoId
                                                                          : video.id;
    }
};

/**
 * PostgreSQL, regions with several nodes (docs/operations.md "Regions"): the transaction-scoped
 * lock per video (portable SQL, `?` = the video id) that a write op takes before the video's row
 * lock. A relayed deletion of a comment whose video is not stored yet has no row to lock; this
 * lock still makes a relayed copy of that comment, stored by another node of the region, wait
 * for the tombstone's commit (and then see it), or the deletion wait for the comment's commit
 * (and then delete it). The two-key form keeps it apart from the relay lease's one-key locks.
 */
/// The second key is the video id shifted into int4's range (a video id is any uint32, a key is
/// an int4): one key per video, for every video id.
inline constexpr char kRegionVideoLockSql[]
    = "SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock(1279481414, "
      "CAST(CAST(? AS BIGINT) - 2147483648 AS INTEGER))) AS locked";

/// One event as the JSON object of the relay wire format.
std::string encodeRegionEvent(const RegionEvent& event);

/// The ingest body `{"region":NAME,"events":[…]}` around already encoded events.
std::string regionBatchJson(const std::string& region, const std::vector<std::string>& events);

/// Parses an ingest body. Throws std::invalid_argument (with a message for the 400 body) when it
/// is not JSON, lacks a field, has a field of the wrong type, or an event's origin is not
/// `region` (a region only relays its own writes).
std::vector<RegionEvent> decodeRegionBatch(const std::string& body, std::string& region);

} // namespace livecomments::server::store
