// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"
#include "store/region_events.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace Poco::Data {
class Session;
class SessionPool;
} // namespace Poco::Data

namespace livecomments::server::ids {
class SnowflakeGenerator;
}

namespace livecomments::server::store {

/// Something that changed in a committed transaction; handed to CommentStore::onCommitted.
struct CommitEvent {
    enum class Type { VideoCreated, CommentAdded, CommentDeleted, VideoEnded };
    Type type = Type::CommentAdded;
    std::uint32_t videoId = 0;
    Comment comment; ///< CommentAdded: the comment; CommentDeleted: only id and videoId are set
    /// CommentAdded: the id of the video's comment committed just before this one (0: the first).
    /// Every chained comment of a video has a larger id than its predecessor, so the links of a
    /// video form one chain in commit order = id order (docs/protocol.md "Order across nodes").
    std::uint64_t prevId = 0;
    /// CommentAdded: false for a comment stored with a preset id not above the video's newest
    /// (a cross-region copy): it is outside the chain and prevId means nothing.
    bool chained = true;
    /// Empty: written in this region (relayed to the peers); else the region it was relayed from.
    std::string origin;
};

/// Result of an idempotent write: either freshly done, or the first result replayed.
struct IdempotentResult {
    bool replayed = false;
    std::string body; ///< the JSON of the first result (always set)
};

/// Which page of history to read.
struct PageQuery {
    enum class Direction { Newest, Before, After };
    Direction direction = Direction::Newest;
    std::uint64_t cursor = 0;
    std::size_t limit = 50;
};

/// Settings of a CommentStore, whichever engine is behind it.
struct StoreOptions {
    std::string path = "livecomments.db"; ///< SQLite file of CommentStore(options, ids)
    int retentionDays = 0; ///< 0 = keep forever; else ended videos go whole after N days
    /// Seconds after a video ended before its comments are packed into archive blocks; -1 = never.
    int archiveAfterSeconds = -1;
    std::size_t maxBatch = 512; ///< ops per group commit
    std::size_t maxQueued = 20000; ///< queued writes above this → 503 overloaded
    bool synchronousFull = true; ///< SQLite: PRAGMA synchronous=FULL (else NORMAL)
    std::size_t readPoolSize = 32; ///< at most this many reader connections
    int connectAttempts = 5; ///< PostgreSQL: connection attempts at open() …
    int connectDeadlineMs = 10000; ///< … all within this many milliseconds
    // Regions (docs/operations.md "Regions").
    std::string region; ///< this region's name (the origin of its relayed writes)
    /// Each local write queues one relay row per peer region, in the write's transaction.
    std::vector<std::string> relayPeers;
    /// New videos get ids ≡ videoIdSlot (mod videoIdStride): regions never collide on a video id.
    std::uint32_t videoIdStride = 1;
    std::uint32_t videoIdSlot = 0;
};

/// A relayed write waiting for its peer region (a relay_queue row).
struct RelayRow {
    std::int64_t seq = 0; ///< queue order
    std::string payload; ///< encodeRegionEvent() JSON
    std::int64_t createdAtMs = 0;
};

/// The undelivered rows of one peer: depth, and the time of the oldest (0 when empty).
struct RelayBacklog {
    std::size_t depth = 0;
    std::int64_t oldestMs = 0;
};

/// Exclusive right of one node of a region to drain one peer's relay queue (see
/// CommentStore::tryRelayLease()).
class RelayLease {
public:
    virtual ~RelayLease() = default;
    /// False once the lease is lost (its database connection dropped): drop it and retry.
    virtual bool held() const = 0;
};

class StoreBackend;

/**
 * Durable storage of videos, comments and idempotency keys behind one interface, on SQLite or
 * PostgreSQL (a StoreBackend: store/sqlite_store.h, store/postgres_store.h; pick one from a URL
 * with makeCommentStore() in store/store_factory.h).
 *
 * Writes: every mutating call enqueues an operation for the ONE writer thread and blocks until the
 * transaction that contains it has committed (group commit: the writer takes everything queued,
 * runs each op inside a SAVEPOINT of one transaction, commits once, then wakes the callers).
 * So a caller that got a result may acknowledge it — it is durable. A failing op (e.g. 404, 409)
 * only rolls back its own savepoint and rethrows its ApiError in the caller's thread.
 *
 * Ops in one batch run sorted by video id (stable, so a video's comments keep their order): every
 * process sharing a PostgreSQL database then takes row locks in the same order, so concurrent
 * group commits of several servers never deadlock.
 *
 * Reads run on the calling thread with a pooled session (SQLite WAL readers and PostgreSQL
 * readers never block the writer).
 *
 * onCommitted runs on the writer thread after each commit and before the callers are woken, in
 * commit order — the service uses it to update the recent cache and publish to the bus, which
 * keeps the cache consistent with the store.
 *
 * Threading: all public methods are thread-safe. open()/close() from the owning (main) thread.
 */
class CommentStore {
public:
    /// A store on the SQLite file `options.path` (what `--store=sqlite:PATH` means).
    CommentStore(StoreOptions options, ids::SnowflakeGenerator& ids);
    /// A store on `backend` (see makeCommentStore()).
    CommentStore(
        std::unique_ptr<StoreBackend> backend, StoreOptions options, ids::SnowflakeGenerator& ids);
    ~CommentStore();
    CommentStore(const CommentStore&) = delete;
    CommentStore& operator=(const CommentStore&) = delete;

    /// Opens/creates the database, applies migrations, starts the writer, purge and archive
    /// threads.
    /// Throws Poco::Exception on failure.
    void open();
    /// Refuses new writes, commits everything queued, stops the threads. Idempotent. Reads keep
    /// working until destruction.
    void close();

    /// Set before open(). Runs on the writer thread.
    std::function<void(const std::vector<CommitEvent>&)> onCommitted;
    /// Set before open(). Seconds each group commit took (for the metrics histogram).
    std::function<void(double seconds, std::size_t ops)> onCommitTimed;

    // --- writes (block until committed) ---
    /// Creates a live video streamed by `streamer`. Body = video JSON (viewers 0).
    IdempotentResult createVideo(
        const Principal& streamer, const std::string& title, const std::string& idempotencyKey);
    /// Ends a live video (streamer or moderator). Returns the updated video. 404/403.
    Video endVideo(std::uint32_t videoId, const Principal& caller);
    /// Stores a comment (404 unknown video, 409 ended). Body = comment JSON.
    IdempotentResult addComment(std::uint32_t videoId, const Principal& author,
        const std::string& text, const std::string& idempotencyKey);
    /// Deletes a comment (author or moderator, else 403; 404 if unknown in that video).
    void deleteComment(std::uint32_t videoId, std::uint64_t commentId, const Principal& caller);

    // --- region relay (docs/operations.md "Regions"; block until committed) ---
    /// Stores a comment relayed from region `origin` under its own id (ON CONFLICT DO NOTHING,
    /// also when it is already packed into an archive block). The video may have ended here
    /// already: history converges. True when it was new (then onCommitted sees it, with origin).
    /// A comment with a tombstone (deleted here, or its deletion relayed first) is refused: false,
    /// nothing stored, nothing committed. 409 `unknown_video` when the video is not here yet (the
    /// relay retries).
    bool addReplicatedComment(const Comment& comment, const std::string& origin);
    /// Stores a video relayed from `origin` under its own id; true when it was new.
    bool addReplicatedVideo(const Video& video, const std::string& origin);
    /// Ends a relayed video (no-op when ended already); true when it was live here.
    bool endReplicatedVideo(
        std::uint32_t videoId, std::int64_t endedAtMs, const std::string& origin);
    /// Deletes a comment whose deletion was relayed and records its tombstone (also when the
    /// comment or its video is not here yet, so that a later copy is refused); true when the
    /// comment was here.
    bool deleteReplicatedComment(
        std::uint32_t videoId, std::uint64_t commentId, const std::string& origin);
    /// The ops above for a whole ingest batch, queued together so one group commit takes them
    /// (ordered by video id, each event's own order kept within a video). Every event is tried;
    /// then the first failure is rethrown. Returns how many were new.
    std::size_t applyReplicated(const std::vector<RegionEvent>& events);

    /// The oldest undelivered relay rows of `peer`, in queue order: at most `limit` rows and
    /// about `maxBytes` of payload (always at least one row when any is queued).
    std::vector<RelayRow> relayPending(
        const std::string& peer, std::size_t limit, std::size_t maxBytes) const;
    /// Removes delivered rows (by seq) from `peer`'s queue.
    void relayDelivered(const std::string& peer, const std::vector<std::int64_t>& seqs);
    RelayBacklog relayBacklog(const std::string& peer) const;
    /// The right to drain `peer`'s queue: on SQLite (one node per file) always granted; on
    /// PostgreSQL a session advisory lock on a connection of its own, so only one node of a
    /// region drains a peer at a time. nullptr when another node holds it.
    std::unique_ptr<RelayLease> tryRelayLease(const std::string& peer);

    // --- reads ---
    /// The stored first result of an idempotent comment post, if that key was used already.
    std::optional<std::string> findCommentResult(
        std::uint32_t videoId, const std::string& userId, const std::string& key) const;
    std::optional<Video> video(std::uint32_t videoId) const;
    /// Newest videos first; only those with `status` when given.
    std::vector<Video> videos(std::optional<VideoStatus> status, std::size_t limit) const;
    /// One page; Newest/Before are newest-first, After is oldest-first.
    std::vector<Comment> comments(std::uint32_t videoId, const PageQuery& query) const;
    /// Number of comments with id > afterId (stops counting at `cap` + 1).
    std::size_t countAfter(std::uint32_t videoId, std::uint64_t afterId, std::size_t cap) const;
    /// Video::lastCommentId of the video (0: no comment yet, or an unknown video): the head of
    /// the chain CommitEvent::prevId links (docs/protocol.md "Order across nodes"). Read it
    /// BEFORE commentsAfter() to know that every chained comment up to it that still exists is in
    /// that read.
    std::uint64_t chainHead(std::uint32_t videoId) const;
    /// Comments with id > afterId, oldest first, at most `limit`.
    std::vector<Comment> commentsAfter(
        std::uint32_t videoId, std::uint64_t afterId, std::size_t limit) const;
    /// Schema version after migrations.
    int schemaVersion() const;
    /// Number of migrations open() applied (0 when the database was already current).
    int migrationsApplied() const;
    /// Number of migrations in this engine's schema (their versions may have gaps).
    int migrationSteps() const;
    /// Writes queued for the writer and not yet taken into a batch.
    std::size_t queuedWrites() const;
    /// Engine and location, e.g. "postgresql://lc@db:5432/live" (never a password).
    std::string describe() const;

    // --- archive (the archive thread calls these; public for tests and tools) ---
    /// Packs the comment rows of the ended video `videoId` into archive blocks (runs of up to
    /// kArchiveBlockComments consecutive comments, zstd-compressed; store/archive.h), one
    /// transaction per batch of blocks (insert blocks + delete their rows), then marks the video
    /// archived. Reads, resume, deletions and counts see the same comments before, during and
    /// after. Idempotent; a live or unknown video is left alone. Returns the comments packed.
    std::size_t archiveVideo(std::uint32_t videoId);
    /// Archives every video that ended at least archiveAfterSeconds ago and is not archived yet
    /// (nothing when the option is -1). Returns the comments packed.
    std::size_t archiveDue();
    /// Storage of one video: comment rows and archive blocks (for tests and docs/performance.md).
    struct ArchiveStats {
        std::size_t rows = 0; ///< comments still stored as rows
        std::size_t blocks = 0;
        std::size_t archivedComments = 0; ///< comments inside blocks
        std::size_t blockBytes = 0; ///< compressed bytes of all blocks
        bool archived = false; ///< the video is marked as fully packed
    };
    ArchiveStats archiveStats(std::uint32_t videoId) const;

    // --- retention (the purge thread calls these every 10 minutes; public for tests) ---
    /// Removes whole videos that ended before `cutoffUnixMs`: their comments, archive blocks and
    /// the video itself (GET answers 404 afterwards). Returns how many videos were removed.
    std::size_t purgeVideosEndedBefore(std::int64_t cutoffUnixMs);
    /// Deletes the comments of LIVE videos created before `cutoffUnixMs` (videos stay; their
    /// comment counts are adjusted; ended videos go whole, see purgeVideosEndedBefore()).
    /// Returns how many were deleted.
    std::size_t purgeCommentsBefore(std::int64_t cutoffUnixMs);
    /// Forgets the idempotency keys recorded before `cutoffUnixMs`. Returns how many.
    std::size_t purgeIdempotencyKeysBefore(std::int64_t cutoffUnixMs);
    /// Forgets the tombstones recorded before `cutoffUnixMs` whose video is not here (a deletion
    /// relayed for a video that never arrived or was removed). Tombstones of a removed video go
    /// with it (purgeVideosEndedBefore). Returns how many.
    std::size_t purgeOrphanTombstonesBefore(std::int64_t cutoffUnixMs);

private:
    struct WriteOp;
    using OpFn = std::function<void(Poco::Data::Session&, std::vector<CommitEvent>&)>;
    void runWriter();
    void runPurge();
    void runArchiver();
    /// The archived comments of one page (same order and limit as the page itself).
    std::vector<Comment> archivedPage(
        Poco::Data::Session& session, std::uint32_t videoId, const PageQuery& query) const;
    /// Removes `commentId` from the archive block holding it. False when no block holds it.
    bool deleteArchived(Poco::Data::Session& session, std::uint32_t videoId,
        std::uint64_t commentId, const Principal& caller);
    void commitBatch(Poco::Data::Session& session, std::vector<std::shared_ptr<WriteOp>>& batch);
    /// `videoId` and then `lockName` order the op in its batch (video 0: before every video's
    /// ops). An op on a video locks that video's row first (loadVideo(…, true)).
    void execute(std::uint32_t videoId, const OpFn& fn, std::string lockName = {});
    void migrate(Poco::Data::Session& session);
    /// Queues the local events of one op for every peer region (inside the op's savepoint).
    void queueRelay(Poco::Data::Session& session, const std::vector<CommitEvent>& events);
    /// The id a new video gets in a region (region-partitioned id space, see StoreOptions).
    std::uint32_t nextPartitionedVideoId(Poco::Data::Session& session) const;
    /// Whether an archive block of `videoId` holds `commentId`.
    bool archivedContains(
        Poco::Data::Session& session, std::uint32_t videoId, std::uint64_t commentId) const;
    /// Records that `commentId` of `videoId` was deleted (docs/operations.md "Regions").
    void recordTombstone(
        Poco::Data::Session& session, std::uint32_t videoId, std::uint64_t commentId) const;
    /// Whether `commentId` of `videoId` has a tombstone.
    bool tombstoned(
        Poco::Data::Session& session, std::uint32_t videoId, std::uint64_t commentId) const;
    OpFn replicatedOp(const RegionEvent& event, bool& fresh);
    /// Enqueues an op without waiting (execute() = enqueue + await).
    std::shared_ptr<WriteOp> enqueue(std::uint32_t videoId, const OpFn& fn, std::string lockName);
    static void await(const std::shared_ptr<WriteOp>& op);
    void purgeOnce();
    /// Ids of the videos matching `condition` (SQL with one `?`, bound to `value`), ascending.
    std::vector<std::int64_t> videoIdsWhere(const std::string& condition, std::int64_t value) const;
    /// The portable SQL `portable` in the backend's syntax.
    std::string q(const std::string& portable) const;
    std::optional<std::string> claimIdempotencyKey(Poco::Data::Session& session,
        const std::string& user, const std::string& scope, const std::string& key);
    void saveIdempotentBody(Poco::Data::Session& session, const std::string& user,
        const std::string& scope, const std::string& key, const std::string& body);
    std::optional<Video> loadVideo(
        Poco::Data::Session& session, std::uint32_t videoId, bool lock = false) const;
    /// Where a new comment goes in its video's chain.
    struct ChainLink {
        std::uint64_t id = 0; ///< the comment's id (minted here when the preset was 0)
        std::uint64_t prevId = 0; ///< the video's chain head before this comment
        bool chained = true; ///< false: a preset id not above the head (outside the chain)
    };
    /// Counts a new comment in its video (comment_count + 1) and moves the video's chain head
    /// (videos.last_id) to it, inside the op that inserts it. `locked` is the video row as read
    /// with its row lock (loadVideo(…, true)) in this op: the lock serialises the comments of a
    /// video across every process sharing the database, so commit order is chain order.
    /// `presetId` 0 mints an id on this node above the head (re-minting when another node
    /// committed a larger one first); a preset id above the head is linked as is; one below it
    /// stays unchained (counted, the head unchanged).
    ChainLink advanceChain(
        Poco::Data::Session& session, const Video& locked, std::uint64_t presetId);

    std::unique_ptr<StoreBackend> m_backend;
    StoreOptions m_options;
    ids::SnowflakeGenerator& m_ids;
    std::unique_ptr<Poco::Data::Session> m_writeSession;
    std::unique_ptr<Poco::Data::SessionPool> m_readPool;

    mutable std::mutex m_mutex;
    std::condition_variable m_wake; ///< wakes the writer
    std::condition_variable m_purgeWake; ///< wakes the purger (stop)
    std::condition_variable m_archiveWake; ///< wakes the archiver (stop, a video ended)
    bool m_archiveKick = false; ///< a video ended since the archiver last looked
    std::deque<std::shared_ptr<WriteOp>> m_queue;
    bool m_stopping = false;
    bool m_open = false;
    std::thread m_writer;
    std::thread m_purger;
    std::thread m_archiver;
    int m_schemaVersion = 0;
    int m_migrationsApplied = 0;
};

} // namespace livecomments::server::store
