// SPDX-License-Identifier: MIT
#include "store/comment_store.h"

#include "ids/snowflake.h"
#include "model/clock.h"
#include "model/errors.h"
#include "model/json_text.h"
#include "model/thread_name.h"
#include "store/archive.h"
#include "store/region_events.h"
#include "store/sqlite_store.h"
#include "store/store_backend.h"

#include <Poco/Data/LOB.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Statement.h>
#include <Poco/Tuple.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <tuple>

using namespace Poco::Data::Keywords;
using Poco::Data::Session;
using Poco::Data::Statement;

namespace livecomments::server::store {

namespace {

using CommentRow = Poco::Tuple<Poco::Int64, Poco::Int64, std::string, std::string, std::string,
    Poco::Int64, std::string>;
constexpr const char* kCommentColumns
    = "id, video_id, user_id, user_name, text, created_at, user_role";

Comment toComment(const CommentRow& row)
{
    Comment c;
    c.id = static_cast<std::uint64_t>(row.get<0>());
    c.videoId = static_cast<std::uint32_t>(row.get<1>());
    c.userId = row.get<2>();
    c.userName = row.get<3>();
    c.text = row.get<4>();
    c.createdAtMs = row.get<5>();
    // The column's CHECK admits only role names; anything else would read as a viewer.
    if (!parseRole(row.get<6>(), c.userRole))
        c.userRole = Role::Viewer;
    return c;
}

using VideoRow = Poco::Tuple<Poco::Int64, std::string, std::string, std::string, std::string,
    Poco::Int64, Poco::Int64, Poco::Int64, Poco::Int64>;
constexpr const char* kVideoColumns = "id, title, streamer_id, streamer_name, status, "
                                      "comment_count, created_at, ended_at, last_id";

Video toVideo(const VideoRow& r)
{
    Video v;
    v.id = static_cast<std::uint32_t>(r.get<0>());
    v.title = r.get<1>();
    v.streamerId = r.get<2>();
    v.streamerName = r.get<3>();
    v.status = r.get<4>() == "ended" ? VideoStatus::Ended : VideoStatus::Live;
    v.commentCount = r.get<5>();
    v.createdAtMs = r.get<6>();
    v.endedAtMs = r.get<7>();
    v.lastCommentId = static_cast<std::uint64_t>(r.get<8>());
    return v;
}

std::string commentScope(std::uint32_t videoId)
{
    return "comment:" + std::to_string(videoId);
}

/// Idempotency keys are remembered this long (a retry comes within minutes; a day is generous).
constexpr std::int64_t kIdempotencyTtlMs = 24LL * 3600 * 1000;
/// Comments deleted per retention transaction: small, so the purge never holds the writer long.
constexpr Poco::Int64 kPurgeChunk = 2000;
/// Archive blocks written per transaction: a few milliseconds of the writer's time.
constexpr std::size_t kArchiveBlocksPerBatch = 8;
/// Videos the archiver takes per round (the next round takes the rest).
constexpr Poco::Int64 kArchiveVideosPerRound = 100;
/// The archiver looks for due videos at least this often (a video's end also wakes it).
constexpr int kArchivePollSeconds = 60;

std::string blobText(const Poco::Data::BLOB& blob)
{
    return blob.size() == 0
        ? std::string()
        : std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}

Poco::Data::BLOB toBlob(const std::string& data)
{
    return Poco::Data::BLOB(reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

/// Newest/Before pages are newest-first, After pages oldest-first.
bool pageOrder(const PageQuery& query, const Comment& a, const Comment& b)
{
    return query.direction == PageQuery::Direction::After ? a.id < b.id : a.id > b.id;
}

} // namespace

struct CommentStore::WriteOp {
    std::uint32_t videoId = 0; ///< orders the op within its batch …
    std::string lockName; ///< … then this
    OpFn run;
    std::promise<void> done; ///< set when the op's transaction committed or failed
    // The failure, as a value: each thread throws its own exception object (no exception object
    // is shared between the writer and the caller).
    // Plain strings (deep copies) rather than an ApiError: the std::runtime_error message is
    // reference-counted and must not be shared with the writer thread.
    bool failed = false;
    ErrorKind kind = ErrorKind::Internal;
    std::string code, message;
    int retryAfter = 0;

    void fail(std::exception_ptr error)
    {
        try {
            std::rethrow_exception(error);
        } catch (const ApiError& e) {
            kind = e.kind();
            code = e.code().c_str();
            message = e.what();
            retryAfter = e.retryAfterSeconds();
        } catch (const Poco::Exception& e) {
            code = "internal";
            message = "store: " + e.displayText();
        } catch (const std::exception& e) {
            code = "internal";
            message = std::string("store: ") + e.what();
        } catch (...) {
            code = "internal";
            message = "store: unknown error";
        }
        failed = true;
    }
};

CommentStore::CommentStore(StoreOptions options, ids::SnowflakeGenerator& ids)
    : CommentStore(std::make_unique<SqliteBackend>(
                       options.path, options.synchronousFull, options.readPoolSize),
        options, ids)
{ }

CommentStore::CommentStore(
    std::unique_ptr<StoreBackend> backend, StoreOptions options, ids::SnowflakeGenerator& ids)
    : m_backend(std::move(backend))
    , m_options(std::move(options))
    , m_ids(ids)
{ }

CommentStore::~CommentStore()
{
    close();
}

void CommentStore::open()
{
    m_writeSession = m_backend->connectWriter();
    migrate(*m_writeSession);
    m_readPool = m_backend->makeReadPool();
    {
        std::lock_guard lock(m_mutex);
        m_stopping = false;
        m_open = true;
    }
    m_writer = std::thread([this] {
        setThreadName("lc-store-writer");
        runWriter();
    });
    m_purger = std::thread([this] {
        setThreadName("lc-store-purge");
        runPurge();
    });
    m_archiver = std::thread([this] {
        setThreadName("lc-store-archive");
        runArchiver();
    });
}

void CommentStore::close()
{
    {
        std::lock_guard lock(m_mutex);
        if (!m_open)
            return;
        m_stopping = true;
    }
    m_wake.notify_all();
    m_purgeWake.notify_all();
    m_archiveWake.notify_all();
    // The archiver and the purger write through the writer: stop them first.
    if (m_archiver.joinable())
        m_archiver.join();
    if (m_purger.joinable())
        m_purger.join();
    if (m_writer.joinable())
        m_writer.join();
    {
        std::lock_guard lock(m_mutex);
        m_open = false;
    }
    // Only the writer used this session. The read pool stays until destruction: HTTP threads
    // may still be reading while the server shuts down.
    m_writeSession.reset();
}

std::size_t CommentStore::queuedWrites() const
{
    std::lock_guard lock(m_mutex);
    return m_queue.size();
}

std::string CommentStore::describe() const
{
    return m_backend->describe();
}

std::string CommentStore::q(const std::string& portable) const
{
    return m_backend->sql(portable);
}

void CommentStore::migrate(Session& session)
{
    // One transaction for the check and every pending step: a crash leaves the old version, and
    // the backend's migration lock makes servers starting together migrate exactly once.
    m_backend->exec(session, m_backend->beginWrite());
    try {
        m_backend->lockForMigration(session);
        m_backend->exec(session,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
        // Applied by set, not by "above the highest": a version missing below the highest one
        // (numbers reserved by a branch merged later) is still applied, in order.
        std::vector<int> done;
        session << "SELECT version FROM schema_migrations", into(done), now;
        int current = done.empty() ? 0 : *std::max_element(done.begin(), done.end());
        int applied = 0;
        for (const auto& m : m_backend->migrations()) {
            if (std::find(done.begin(), done.end(), m.version) != done.end())
                continue;
            m_backend->exec(session, m.sql);
            Poco::Int64 at = wallClockMs();
            int version = m.version;
            std::string name = m.name;
            session << q("INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES (?, ?, ?)"),
                use(version), use(name), use(at), now;
            current = std::max(current, m.version);
            ++applied;
        }
        m_backend->exec(session, "COMMIT");
        m_schemaVersion = current;
        m_migrationsApplied = applied;
    } catch (...) {
        try {
            m_backend->exec(session, "ROLLBACK");
        } catch (...) { }
        throw;
    }
}

int CommentStore::schemaVersion() const
{
    return m_schemaVersion;
}

int CommentStore::migrationsApplied() const
{
    return m_migrationsApplied;
}

int CommentStore::migrationSteps() const
{
    return static_cast<int>(m_backend->migrations().size());
}

void CommentStore::execute(std::uint32_t videoId, const OpFn& fn, std::string lockName)
{
    await(enqueue(videoId, fn, std::move(lockName)));
}

std::shared_ptr<CommentStore::WriteOp> CommentStore::enqueue(
    std::uint32_t videoId, const OpFn& fn, std::string lockName)
{
    auto op = std::make_shared<WriteOp>();
    op->videoId = videoId;
    op->lockName = std::move(lockName);
    op->run = fn;
    {
        std::lock_guard lock(m_mutex);
        if (!m_open || m_stopping)
            throw ApiError(ErrorKind::Unavailable, "shutting_down", "the server is shutting down")
                .withRetryAfter(2);
        if (m_queue.size() >= m_options.maxQueued)
            throw ApiError(ErrorKind::Unavailable, "overloaded", "the store is overloaded")
                .withRetryAfter(1);
        m_queue.push_back(op);
    }
    m_wake.notify_one();
    return op;
}

void CommentStore::await(const std::shared_ptr<WriteOp>& op)
{
    op->done.get_future().get();
    if (op->failed)
        throw ApiError(op->kind, op->code, op->message).withRetryAfter(op->retryAfter);
}

void CommentStore::runWriter()
{
    for (;;) {
        std::vector<std::shared_ptr<WriteOp>> batch;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_queue.empty() && m_stopping)
                return;
            while (!m_queue.empty() && batch.size() < m_options.maxBatch) {
                batch.push_back(std::move(m_queue.front()));
                m_queue.pop_front();
            }
        }
        std::stable_sort(batch.begin(), batch.end(), [](const auto& a, const auto& b) {
            return std::tie(a->videoId, a->lockName) < std::tie(b->videoId, b->lockName);
        });
        commitBatch(*m_writeSession, batch);
    }
}

void CommentStore::commitBatch(Session& session, std::vector<std::shared_ptr<WriteOp>>& batch)
{
    const auto started = std::chrono::steady_clock::now();
    std::vector<CommitEvent> events;
    std::vector<std::exception_ptr> errors(batch.size());
    std::exception_ptr commitError;
    try {
        m_backend->exec(session, m_backend->beginWrite());
        for (std::size_t i = 0; i < batch.size(); ++i) {
            std::vector<CommitEvent> opEvents;
            m_backend->exec(session, "SAVEPOINT op");
            try {
                batch[i]->run(session, opEvents);
                // The outbox: a local write and its relay rows commit (or roll back) together.
                queueRelay(session, opEvents);
                m_backend->exec(session, "RELEASE SAVEPOINT op");
                events.insert(events.end(), opEvents.begin(), opEvents.end());
            } catch (...) {
                errors[i] = std::current_exception();
                m_backend->exec(session, "ROLLBACK TO SAVEPOINT op");
                m_backend->exec(session, "RELEASE SAVEPOINT op");
            }
        }
        m_backend->exec(session, "COMMIT");
    } catch (...) {
        commitError = std::current_exception();
        try {
            m_backend->exec(session, "ROLLBACK");
        } catch (...) { }
    }
    if (commitError && m_backend->connectionLost(session)) {
        // PostgreSQL restarted or the network dropped: reconnect now so the next batch can
        // commit; if that fails too, the next failing batch tries again.
        try {
            m_writeSession = m_backend->connectWriter();
        } catch (...) { }
    }
    if (onCommitTimed) {
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        onCommitTimed(took.count(), batch.size());
    }
    if (!commitError && onCommitted && !events.empty()) {
        try {
            onCommitted(events);
        } catch (...) {
            // A listener failure must not turn a committed write into an error.
        }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (commitError)
            batch[i]->fail(commitError);
        else if (errors[i])
            batch[i]->fail(errors[i]);
        batch[i]->done.set_value();
    }
}

std::optional<Video> CommentStore::loadVideo(
    Session& session, std::uint32_t videoId, bool lock) const
{
    Poco::Int64 id = videoId;
    if (lock && m_backend->sharedByNodes() && !m_options.relayPeers.empty()) {
        // Before the row lock, in every op, so that no two nodes take the two in opposite
        // orders; a separate statement, so the SELECT below sees what committed meanwhile.
        Poco::Int64 locked = 0;
        session << q(kRegionVideoLockSql), use(id), into(locked), now;
    }
    std::vector<VideoRow> rows;
    session << q("SELECT " + std::string(kVideoColumns) + " FROM videos WHERE id = ?"
        + (lock ? m_backend->rowLock() : "")),
        use(id), into(rows), now;
    if (rows.empty())
        return std::nullopt;
    return toVideo(rows.front());
}

CommentStore::ChainLink CommentStore::advanceChain(
    Session& session, const Video& locked, std::uint64_t presetId)
{
    ChainLink link;
    link.prevId = locked.lastCommentId;
    if (presetId == 0) {
        // Minted on the writer thread, so this node's ids already rise in its commit order; the
        // re-mint covers a larger id committed first by another node (its clock runs ahead).
        link.id = m_ids.next();
        if (link.id <= link.prevId)
            link.id = m_ids.nextAfter(link.prevId);
    } else {
        link.id = presetId;
        link.chained = presetId > link.prevId;
    }
    // One statement for the count and the head: the writer runs it for every comment.
    Poco::Int64 vid = locked.id;
    Poco::Int64 head = static_cast<Poco::Int64>(link.chained ? link.id : link.prevId);
    session << q("UPDATE videos SET comment_count = comment_count + 1, last_id = ? WHERE id = ?"),
        use(head), use(vid), now;
    return link;
}

std::optional<std::string> CommentStore::claimIdempotencyKey(
    Session& session, const std::string& user, const std::string& scope, const std::string& key)
{
    // Claim first, fill in the body at the end of the op: when two servers sharing a database
    // race on one key, the second INSERT waits for the first transaction and then conflicts, so
    // exactly one of them writes and the other replays the committed body.
    std::string u = user, s = scope, k = key;
    Poco::Int64 at = wallClockMs();
    std::vector<Poco::Int64> claimed;
    session << q("INSERT INTO idempotency (user_id, scope, key, body, created_at) "
                 "VALUES (?, ?, ?, '', ?) ON CONFLICT DO NOTHING RETURNING created_at"),
        use(u), use(s), use(k), use(at), into(claimed), now;
    if (!claimed.empty())
        return std::nullopt;
    std::vector<std::string> bodies;
    session << q("SELECT body FROM idempotency WHERE user_id = ? AND scope = ? AND key = ?"),
        use(u), use(s), use(k), into(bodies), now;
    return bodies.empty() ? std::string() : bodies.front();
}

void CommentStore::saveIdempotentBody(Session& session, const std::string& user,
    const std::string& scope, const std::string& key, const std::string& body)
{
    std::string u = user, s = scope, k = key, b = body;
    session << q("UPDATE idempotency SET body = ? WHERE user_id = ? AND scope = ? AND key = ?"),
        use(b), use(u), use(s), use(k), now;
}

IdempotentResult CommentStore::createVideo(
    const Principal& streamer, const std::string& title, const std::string& idempotencyKey)
{
    IdempotentResult result;
    execute(
        0,
        [&](Session& session, std::vector<CommitEvent>& events) {
            if (!idempotencyKey.empty()) {
                if (auto body
                    = claimIdempotencyKey(session, streamer.userId, "video", idempotencyKey)) {
                    result.replayed = true;
                    result.body = *body;
                    return;
                }
            }
            std::string t = title, sid = streamer.userId, sname = streamer.name;
            Poco::Int64 created = wallClockMs();
            std::vector<Poco::Int64> ids;
            if (m_options.videoIdStride > 1) {
                // Regions: an id of this region's residue class, above every id seen here. Two
                // nodes of a region may pick the same one: the loser's INSERT does nothing (after
                // waiting for the winner's commit) and it takes the next.
                for (int attempt = 0; attempt < 16 && ids.empty(); ++attempt) {
                    Poco::Int64 id = nextPartitionedVideoId(session);
                    session << q("INSERT INTO videos (id, title, streamer_id, streamer_name, "
                                 "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING "
                                 "RETURNING id"),
                        use(id), use(t), use(sid), use(sname), use(created), into(ids), now;
                }
            } else {
                session << q("INSERT INTO videos (title, streamer_id, streamer_name, created_at) "
                             "VALUES (?, ?, ?, ?) RETURNING id"),
                    use(t), use(sid), use(sname), use(created), into(ids), now;
            }
            if (ids.empty())
                throw Poco::Exception("INSERT INTO videos returned no id");
            Video v;
            v.id = static_cast<std::uint32_t>(ids.front());
            v.title = title;
            v.streamerId = streamer.userId;
            v.streamerName = streamer.name;
            v.createdAtMs = created;
            result.body = videoJson(v, 0);
            if (!idempotencyKey.empty())
                saveIdempotentBody(session, streamer.userId, "video", idempotencyKey, result.body);
            CommitEvent e;
            e.type = CommitEvent::Type::VideoCreated;
            e.videoId = v.id;
            events.push_back(e);
        },
        // Key claims of video creations are the only locks these ops take: one order for them.
        idempotencyKey.empty() ? std::string() : streamer.userId + '\n' + idempotencyKey);
    return result;
}

Video CommentStore::endVideo(std::uint32_t videoId, const Principal& caller)
{
    Video result;
    execute(videoId, [&](Session& session, std::vector<CommitEvent>& events) {
        auto v = loadVideo(session, videoId, true);
        if (!v)
            throw notFound("video");
        if (v->streamerId != caller.userId && caller.role != Role::Moderator)
            throw forbidden("only the streamer or a moderator may end this video");
        if (v->status == VideoStatus::Live) {
            Poco::Int64 id = videoId, at = wallClockMs();
            session << q("UPDATE videos SET status = 'ended', ended_at = ? WHERE id = ?"), use(at),
                use(id), now;
            v->status = VideoStatus::Ended;
            v->endedAtMs = at;
            CommitEvent e;
            e.type = CommitEvent::Type::VideoEnded;
            e.videoId = videoId;
            events.push_back(e);
        }
        result = *v;
    });
    if (m_options.archiveAfterSeconds == 0) {
        {
            std::lock_guard lock(m_mutex);
            m_archiveKick = true;
        }
        m_archiveWake.notify_all();
    }
    return result;
}

IdempotentResult CommentStore::addComment(std::uint32_t videoId, const Principal& author,
    const std::string& text, const std::string& idempotencyKey)
{
    IdempotentResult result;
    execute(videoId, [&](Session& session, std::vector<CommitEvent>& events) {
        // The video row first, the key after: every op on a video takes its locks in that
        // order, so two servers' batches cannot deadlock on a video and a key.
        const auto video = loadVideo(session, videoId, true);
        const std::string scope = commentScope(videoId);
        if (!idempotencyKey.empty()) {
            if (auto body = claimIdempotencyKey(session, author.userId, scope, idempotencyKey)) {
                result.replayed = true; // even when the video ended since: the first answer
                result.body = *body;
                return;
            }
        }
        if (!video)
            throw notFound("video");
        if (video->status != VideoStatus::Live)
            throw ApiError(ErrorKind::Conflict, "video_ended", "the video has ended");
        Poco::Int64 vid = videoId;

        const ChainLink link = advanceChain(session, *video, 0);
        Comment c;
        c.id = link.id;
        c.videoId = videoId;
        c.userId = author.userId;
        c.userName = author.name;
        c.userRole = author.role;
        c.text = text;
        c.createdAtMs = ids::snowflakeUnixMs(c.id);
        Poco::Int64 id = static_cast<Poco::Int64>(c.id), created = c.createdAtMs;
        std::string role = roleName(c.userRole);
        session << q("INSERT INTO comments (id, video_id, user_id, user_name, text, created_at, "
                     "user_role) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            use(id), use(vid), use(c.userId), use(c.userName), use(c.text), use(created), use(role),
            now;
        result.body = commentJson(c);
        if (!idempotencyKey.empty())
            saveIdempotentBody(session, author.userId, scope, idempotencyKey, result.body);
        CommitEvent e;
        e.type = CommitEvent::Type::CommentAdded;
        e.videoId = videoId;
        e.comment = std::move(c);
        e.prevId = link.prevId;
        e.chained = link.chained;
        events.push_back(std::move(e));
    });
    return result;
}

void CommentStore::deleteComment(
    std::uint32_t videoId, std::uint64_t commentId, const Principal& caller)
{
    execute(videoId, [&](Session& session, std::vector<CommitEvent>& events) {
        if (!loadVideo(session, videoId, true))
            throw notFound("comment");
        Poco::Int64 id = static_cast<Poco::Int64>(commentId), vid = videoId;
        std::vector<std::string> authors;
        // video_id first in every comment lookup: it selects the partition (PostgreSQL) and
        // leads the primary key / comments_by_video index.
        session << q("SELECT user_id FROM comments WHERE video_id = ? AND id = ?"), use(vid),
            use(id), into(authors), now;
        if (authors.empty()) {
            if (!deleteArchived(session, videoId, commentId, caller))
                throw notFound("comment");
        } else {
            if (authors.front() != caller.userId && caller.role != Role::Moderator)
                throw forbidden("only the author or a moderator may delete this comment");
            session << q("DELETE FROM comments WHERE video_id = ? AND id = ?"), use(vid), use(id),
                now;
        }
        // A relayed copy of this comment may still be on its way (a duplicate batch, or a third
        // region's relay): the tombstone refuses it.
        recordTombstone(session, videoId, commentId);
        session << q("UPDATE videos SET comment_count = comment_count - 1 WHERE id = ?"), use(vid),
            now;
        CommitEvent e;
        e.type = CommitEvent::Type::CommentDeleted;
        e.videoId = videoId;
        e.comment.id = commentId;
        e.comment.videoId = videoId;
        events.push_back(std::move(e));
    });
}

// --- region relay -------------------------------------------------------------------------------

void CommentStore::queueRelay(Session& session, const std::vector<CommitEvent>& events)
{
    if (m_options.relayPeers.empty())
        return;
    for (const auto& e : events) {
        if (!e.origin.empty())
            continue; // relayed here: only its origin region relays it (no echo, no loop)
        RegionEvent r;
        r.origin = m_options.region;
        switch (e.type) {
        case CommitEvent::Type::VideoCreated:
        case CommitEvent::Type::VideoEnded: {
            // The event only names the video: read the row the op just wrote.
            auto v = loadVideo(session, e.videoId);
            if (!v)
                continue;
            r.type = e.type == CommitEvent::Type::VideoCreated ? RegionEvent::Type::VideoCreated
                                                               : RegionEvent::Type::VideoEnded;
            r.video = *v;
            break;
        }
        case CommitEvent::Type::CommentAdded:
            r.type = RegionEvent::Type::CommentAdded;
            r.comment = e.comment;
            break;
        case CommitEvent::Type::CommentDeleted:
            r.type = RegionEvent::Type::CommentDeleted;
            r.comment.id = e.comment.id;
            r.comment.videoId = e.videoId;
            break;
        }
        std::string payload = encodeRegionEvent(r);
        Poco::Int64 at = wallClockMs();
        for (const auto& peer : m_options.relayPeers) {
            std::string p = peer;
            session << q("INSERT INTO relay_queue (peer, payload, created_at) VALUES (?, ?, ?)"),
                use(p), use(payload), use(at), now;
        }
    }
}

std::uint32_t CommentStore::nextPartitionedVideoId(Session& session) const
{
    Poco::Int64 highest = 0;
    session << "SELECT COALESCE(MAX(id), 0) FROM videos", into(highest), now;
    const std::uint64_t stride = m_options.videoIdStride, slot = m_options.videoIdSlot;
    const std::uint64_t above = static_cast<std::uint64_t>(highest) + 1;
    const std::uint64_t next = above + (slot + stride - above % stride) % stride;
    if (next > std::uint64_t(std::numeric_limits<std::int32_t>::max()))
        throw ApiError(ErrorKind::Unavailable, "video_ids_exhausted", "no video id left");
    return static_cast<std::uint32_t>(next);
}

void CommentStore::recordTombstone(
    Session& session, std::uint32_t videoId, std::uint64_t commentId) const
{
    Poco::Int64 vid = videoId, id = static_cast<Poco::Int64>(commentId), at = wallClockMs();
    session << q("INSERT INTO deleted_comments (video_id, comment_id, deleted_at) VALUES (?, ?, ?) "
                 "ON CONFLICT DO NOTHING"),
        use(vid), use(id), use(at), now;
}

bool CommentStore::tombstoned(
    Session& session, std::uint32_t videoId, std::uint64_t commentId) const
{
    // Retention forgets tombstones older than its window (purgeCommentsBefore()) and would
    // remove a comment that old anyway: a late relayed copy of one stays deleted.
    if (m_options.retentionDays > 0
        && commentId < ids::snowflakeFloorForUnixMs(
               wallClockMs() - std::int64_t(m_options.retentionDays) * 86400000LL))
        return true;
    Poco::Int64 vid = videoId, id = static_cast<Poco::Int64>(commentId);
    std::vector<Poco::Int64> found;
    session << q("SELECT comment_id FROM deleted_comments WHERE video_id = ? AND comment_id = ?"),
        use(vid), use(id), into(found), now;
    return !found.empty();
}

bool CommentStore::archivedContains(
    Session& session, std::uint32_t videoId, std::uint64_t commentId) const
{
    Poco::Int64 vid = videoId, id = static_cast<Poco::Int64>(commentId);
    std::vector<Poco::Data::BLOB> blobs;
    session << q("SELECT data FROM comment_blocks WHERE video_id = ? AND first_id <= ? AND "
                 "last_id >= ?"),
        use(vid), use(id), use(id), into(blobs), now;
    for (const auto& blob : blobs) {
        for (const auto& c : archive::decodeBlock(blobText(blob), videoId)) {
            if (c.id == commentId)
                return true;
        }
    }
    return false;
}

CommentStore::OpFn CommentStore::replicatedOp(const RegionEvent& event, bool& fresh)
{
    return [this, &event, &fresh](Session& session, std::vector<CommitEvent>& events) {
        fresh = false;
        const std::uint32_t videoId = event.videoId();
        Poco::Int64 vid = videoId;
        CommitEvent e;
        e.videoId = videoId;
        e.origin = event.origin;
        switch (event.type) {
        case RegionEvent::Type::VideoCreated: {
            const Video& v = event.video;
            std::string t = v.title, sid = v.streamerId, sname = v.streamerName;
            Poco::Int64 created = v.createdAtMs;
            std::vector<Poco::Int64> ids;
            session << q("INSERT INTO videos (id, title, streamer_id, streamer_name, created_at) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"),
                use(vid), use(t), use(sid), use(sname), use(created), into(ids), now;
            fresh = !ids.empty();
            e.type = CommitEvent::Type::VideoCreated;
            break;
        }
        case RegionEvent::Type::VideoEnded: {
            if (!loadVideo(session, videoId, true))
                throw ApiError(ErrorKind::Conflict, "unknown_video", "the video is not here yet");
            Poco::Int64 at = event.video.endedAtMs;
            Statement update(session);
            update << q("UPDATE videos SET status = 'ended', ended_at = ? WHERE id = ? AND "
                        "status = 'live'"),
                use(at), use(vid);
            fresh = update.execute() > 0;
            e.type = CommitEvent::Type::VideoEnded;
            break;
        }
        case RegionEvent::Type::CommentAdded: {
            const auto video = loadVideo(session, videoId, true);
            if (!video)
                throw ApiError(ErrorKind::Conflict, "unknown_video", "the video is not here yet");
            const Comment& c = event.comment;
            // Deleted already (its deletion overtook it through a third region, or it was
            // deleted here and this is a repeated batch): stays deleted.
            if (tombstoned(session, videoId, c.id) || archivedContains(session, videoId, c.id))
                return;
            Poco::Int64 id = static_cast<Poco::Int64>(c.id), created = c.createdAtMs;
            std::string uid = c.userId, uname = c.userName, text = c.text;
            std::string role = roleName(c.userRole);
            std::vector<Poco::Int64> ids;
            session << q("INSERT INTO comments (id, video_id, user_id, user_name, text, "
                         "created_at, user_role) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO "
                         "NOTHING RETURNING id"),
                use(id), use(vid), use(uid), use(uname), use(text), use(created), use(role),
                into(ids), now;
            fresh = !ids.empty();
            if (fresh) {
                // Same id as in its origin region: a copy newer than this region's head joins
                // the video's chain; an older one (written there while newer ones were written
                // here) is delivered unchained, placed by id (docs/operations.md "Regions").
                const ChainLink link = advanceChain(session, *video, c.id);
                e.prevId = link.prevId;
                e.chained = link.chained;
            }
            e.type = CommitEvent::Type::CommentAdded;
            e.comment = c;
            break;
        }
        case RegionEvent::Type::CommentDeleted: {
            // The tombstone whether or not the comment (or its video) is here yet: with three or
            // more regions the deletion can arrive before the comment does. Recorded under the
            // video's locks, which a relayed comment takes before it looks for a tombstone (the
            // row lock alone is no lock while the video is not here: kRegionVideoLockSql).
            const bool videoHere = loadVideo(session, videoId, true).has_value();
            recordTombstone(session, videoId, event.comment.id);
            if (!videoHere)
                return; // not here yet, or removed by retention: nothing to delete
            Poco::Int64 id = static_cast<Poco::Int64>(event.comment.id);
            Statement remove(session);
            remove << q("DELETE FROM comments WHERE video_id = ? AND id = ?"), use(vid), use(id);
            Principal moderator;
            moderator.role = Role::Moderator; // authorised by the origin region already
            fresh = remove.execute() > 0
                || deleteArchived(session, videoId, event.comment.id, moderator);
            if (fresh)
                session << q("UPDATE videos SET comment_count = comment_count - 1 WHERE id = ?"),
                    use(vid), now;
            e.type = CommitEvent::Type::CommentDeleted;
            e.comment.id = event.comment.id;
            e.comment.videoId = videoId;
            break;
        }
        }
        if (fresh)
            events.push_back(std::move(e));
    };
}

std::size_t CommentStore::applyReplicated(const std::vector<RegionEvent>& events)
{
    // One flag per event, set by its op on the writer thread (std::vector<bool> packs bits).
    std::unique_ptr<bool[]> fresh(new bool[events.size()]());
    std::vector<std::shared_ptr<WriteOp>> ops;
    std::exception_ptr first;
    for (std::size_t i = 0; i < events.size(); ++i) {
        try {
            ops.push_back(enqueue(events[i].videoId(), replicatedOp(events[i], fresh[i]), {}));
        } catch (...) {
            first = std::current_exception();
            break;
        }
    }
    std::size_t applied = 0;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        try {
            await(ops[i]);
            applied += fresh[i] ? 1 : 0;
        } catch (...) {
            if (!first)
                first = std::current_exception();
        }
    }
    if (first)
        std::rethrow_exception(first);
    return applied;
}

bool CommentStore::addReplicatedComment(const Comment& comment, const std::string& origin)
{
    RegionEvent e { RegionEvent::Type::CommentAdded, origin, {}, {} };
    e.comment = comment;
    return applyReplicated({ e }) > 0;
}

bool CommentStore::addReplicatedVideo(const Video& video, const std::string& origin)
{
    RegionEvent e { RegionEvent::Type::VideoCreated, origin, {}, {} };
    e.video = video;
    return applyReplicated({ e }) > 0;
}

bool CommentStore::endReplicatedVideo(
    std::uint32_t videoId, std::int64_t endedAtMs, const std::string& origin)
{
    RegionEvent e { RegionEvent::Type::VideoEnded, origin, {}, {} };
    e.video.id = videoId;
    e.video.endedAtMs = endedAtMs;
    return applyReplicated({ e }) > 0;
}

bool CommentStore::deleteReplicatedComment(
    std::uint32_t videoId, std::uint64_t commentId, const std::string& origin)
{
    RegionEvent e { RegionEvent::Type::CommentDeleted, origin, {}, {} };
    e.comment.id = commentId;
    e.comment.videoId = videoId;
    return applyReplicated({ e }) > 0;
}

std::vector<RelayRow> CommentStore::relayPending(
    const std::string& peer, std::size_t limit, std::size_t maxBytes) const
{
    Session session = m_readPool->get();
    std::string p = peer;
    Poco::Int64 n = static_cast<Poco::Int64>(limit);
    std::vector<Poco::Int64> seqs, created;
    std::vector<std::string> payloads;
    session << q("SELECT seq, payload, created_at FROM relay_queue WHERE peer = ? ORDER BY seq "
                 "LIMIT ?"),
        use(p), use(n), into(seqs), into(payloads), into(created), now;
    std::vector<RelayRow> rows;
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
        bytes += payloads[i].size() + 1;
        if (!rows.empty() && bytes > maxBytes)
            break;
        rows.push_back({ seqs[i], std::move(payloads[i]), created[i] });
    }
    return rows;
}

void CommentStore::relayDelivered(const std::string& peer, const std::vector<std::int64_t>& seqs)
{
    if (seqs.empty())
        return;
    execute(0, [&](Session& session, std::vector<CommitEvent>&) {
        // By seq, not by range: on PostgreSQL a lower seq may commit after a higher one.
        std::string p = peer;
        for (const std::int64_t seq : seqs) {
            Poco::Int64 s = seq;
            session << q("DELETE FROM relay_queue WHERE peer = ? AND seq = ?"), use(p), use(s), now;
        }
    });
}

RelayBacklog CommentStore::relayBacklog(const std::string& peer) const
{
    Session session = m_readPool->get();
    std::string p = peer;
    Poco::Int64 depth = 0, oldest = 0;
    session << q("SELECT COUNT(*), COALESCE(MIN(created_at), 0) FROM relay_queue WHERE peer = ?"),
        use(p), into(depth), into(oldest), now;
    return { static_cast<std::size_t>(depth), oldest };
}

namespace {

/// SQLite: the region is one node, so the lease is always this node's.
class SoleRelayLease final : public RelayLease {
public:
    bool held() const override { return true; }
};

/// PostgreSQL: a session advisory lock, held as long as its connection lives.
class SessionRelayLease final : public RelayLease {
public:
    SessionRelayLease(const StoreBackend& backend, std::unique_ptr<Session> session)
        : m_backend(backend)
        , m_session(std::move(session))
    { }
    bool held() const override { return !m_backend.connectionLost(*m_session); }

private:
    const StoreBackend& m_backend;
    std::unique_ptr<Session> m_session;
};

} // namespace

std::unique_ptr<RelayLease> CommentStore::tryRelayLease(const std::string& peer)
{
    if (!m_backend->sharedByNodes())
        return std::make_unique<SoleRelayLease>();
    auto session = m_backend->connectWriter();
    if (!m_backend->tryAdvisoryLock(*session, "lc-relay:" + peer))
        return nullptr;
    return std::make_unique<SessionRelayLease>(*m_backend, std::move(session));
}

std::optional<std::string> CommentStore::findCommentResult(
    std::uint32_t videoId, const std::string& userId, const std::string& key) const
{
    Session session = m_readPool->get();
    std::string u = userId, s = commentScope(videoId), k = key;
    std::vector<std::string> bodies;
    session << q("SELECT body FROM idempotency WHERE user_id = ? AND scope = ? AND key = ?"),
        use(u), use(s), use(k), into(bodies), now;
    if (bodies.empty())
        return std::nullopt;
    return bodies.front();
}

std::optional<Video> CommentStore::video(std::uint32_t videoId) const
{
    Session session = m_readPool->get();
    return loadVideo(session, videoId);
}

std::vector<Video> CommentStore::videos(std::optional<VideoStatus> status, std::size_t limit) const
{
    Session session = m_readPool->get();
    Poco::Int64 lim = static_cast<Poco::Int64>(limit);
    std::vector<VideoRow> rows;
    const std::string select = "SELECT " + std::string(kVideoColumns) + " FROM videos";
    if (status) {
        std::string st = *status == VideoStatus::Ended ? "ended" : "live";
        session << q(select + " WHERE status = ? ORDER BY id DESC LIMIT ?"), use(st), use(lim),
            into(rows), now;
    } else {
        session << q(select + " ORDER BY id DESC LIMIT ?"), use(lim), into(rows), now;
    }
    std::vector<Video> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
        out.push_back(toVideo(row));
    return out;
}

std::vector<Comment> CommentStore::comments(std::uint32_t videoId, const PageQuery& query) const
{
    Session session = m_readPool->get();
    Poco::Int64 vid = videoId;
    Poco::Int64 cursor = static_cast<Poco::Int64>(query.cursor);
    Poco::Int64 limit = static_cast<Poco::Int64>(query.limit);
    std::vector<CommentRow> rows;
    const std::string select = "SELECT " + std::string(kCommentColumns) + " FROM comments ";
    // Every page is a range scan of the (video_id, id) key: one partition on PostgreSQL.
    switch (query.direction) {
    case PageQuery::Direction::Newest:
        session << q(select + "WHERE video_id = ? ORDER BY id DESC LIMIT ?"), use(vid), use(limit),
            into(rows), now;
        break;
    case PageQuery::Direction::Before:
        session << q(select + "WHERE video_id = ? AND id < ? ORDER BY id DESC LIMIT ?"), use(vid),
            use(cursor), use(limit), into(rows), now;
        break;
    case PageQuery::Direction::After:
        session << q(select + "WHERE video_id = ? AND id > ? ORDER BY id ASC LIMIT ?"), use(vid),
            use(cursor), use(limit), into(rows), now;
        break;
    }
    std::vector<Comment> out = archivedPage(session, videoId, query);
    if (out.empty()) {
        out.reserve(rows.size());
        for (const auto& row : rows)
            out.push_back(toComment(row));
        return out;
    }
    // Both sources hold the first `limit` comments of the page on their side (packing moves
    // rows into blocks in one transaction), so the page is the first `limit` of the two
    // together. The two reads are separate statements: when a packing transaction commits
    // between them, its comments come from both (rows read first, blocks after) — never from
    // neither — so duplicates are dropped.
    for (const auto& row : rows)
        out.push_back(toComment(row));
    std::sort(out.begin(), out.end(),
        [&](const Comment& a, const Comment& b) { return pageOrder(query, a, b); });
    out.erase(std::unique(out.begin(), out.end(),
                  [](const Comment& a, const Comment& b) { return a.id == b.id; }),
        out.end());
    if (out.size() > query.limit)
        out.resize(query.limit);
    return out;
}

std::vector<Comment> CommentStore::archivedPage(
    Session& session, std::uint32_t videoId, const PageQuery& query) const
{
    std::vector<Comment> out;
    const bool after = query.direction == PageQuery::Direction::After;
    Poco::Int64 vid = videoId;
    // Before/Newest walk the blocks down from the cursor by first_id, After walks them up by
    // last_id; both are range scans of one index and stop as soon as the page is full.
    Poco::Int64 bound = query.direction == PageQuery::Direction::Newest
        ? std::numeric_limits<Poco::Int64>::max()
        : static_cast<Poco::Int64>(query.cursor);
    const std::uint64_t cursor = query.cursor;
    Poco::Int64 chunk = static_cast<Poco::Int64>(query.limit / kArchiveBlockComments + 2);
    while (out.size() < query.limit) {
        std::vector<Poco::Int64> keys;
        std::vector<Poco::Data::BLOB> blobs;
        if (after)
            session << q("SELECT last_id, data FROM comment_blocks WHERE video_id = ? AND "
                         "last_id > ? ORDER BY last_id ASC LIMIT ?"),
                use(vid), use(bound), use(chunk), into(keys), into(blobs), now;
        else
            session << q("SELECT first_id, data FROM comment_blocks WHERE video_id = ? AND "
                         "first_id < ? ORDER BY first_id DESC LIMIT ?"),
                use(vid), use(bound), use(chunk), into(keys), into(blobs), now;
        for (std::size_t i = 0; i < blobs.size() && out.size() < query.limit; ++i) {
            auto block = archive::decodeBlock(blobText(blobs[i]), videoId);
            if (!after)
                std::reverse(block.begin(), block.end());
            for (auto& c : block) {
                const bool wanted = query.direction == PageQuery::Direction::Newest
                    || (after ? c.id > cursor : c.id < cursor);
                if (wanted && out.size() < query.limit)
                    out.push_back(std::move(c));
            }
        }
        if (static_cast<Poco::Int64>(keys.size()) < chunk)
            break;
        bound = keys.back();
    }
    return out;
}

bool CommentStore::deleteArchived(
    Session& session, std::uint32_t videoId, std::uint64_t commentId, const Principal& caller)
{
    Poco::Int64 vid = videoId, id = static_cast<Poco::Int64>(commentId);
    std::vector<Poco::Int64> firsts;
    std::vector<Poco::Data::BLOB> blobs;
    session << q("SELECT first_id, data FROM comment_blocks WHERE video_id = ? AND first_id <= ? "
                 "AND last_id >= ?"),
        use(vid), use(id), use(id), into(firsts), into(blobs), now;
    if (blobs.empty())
        return false;
    auto block = archive::decodeBlock(blobText(blobs.front()), videoId);
    const auto it = std::find_if(
        block.begin(), block.end(), [&](const Comment& c) { return c.id == commentId; });
    if (it == block.end())
        return false;
    if (it->userId != caller.userId && caller.role != Role::Moderator)
        throw forbidden("only the author or a moderator may delete this comment");
    // The block is rewritten without the comment (no tombstones: reads stay a plain decode).
    block.erase(it);
    Poco::Int64 first = firsts.front();
    if (block.empty()) {
        session << q("DELETE FROM comment_blocks WHERE video_id = ? AND first_id = ?"), use(vid),
            use(first), now;
        return true;
    }
    Poco::Data::BLOB data = toBlob(archive::encodeBlock(block));
    Poco::Int64 newFirst = static_cast<Poco::Int64>(block.front().id),
                newLast = static_cast<Poco::Int64>(block.back().id),
                count = static_cast<Poco::Int64>(block.size());
    session << q("UPDATE comment_blocks SET first_id = ?, last_id = ?, comment_count = ?, data = ? "
                 "WHERE video_id = ? AND first_id = ?"),
        use(newFirst), use(newLast), use(count), use(data), use(vid), use(first), now;
    return true;
}

std::size_t CommentStore::countAfter(
    std::uint32_t videoId, std::uint64_t afterId, std::size_t cap) const
{
    Session session = m_readPool->get();
    Poco::Int64 vid = videoId, after = static_cast<Poco::Int64>(afterId),
                limit = static_cast<Poco::Int64>(cap) + 1;
    Poco::Int64 count = 0;
    session << q("SELECT COUNT(*) FROM (SELECT 1 FROM comments WHERE video_id = ? AND id > ? "
                 "LIMIT ?) AS page"),
        use(vid), use(after), use(limit), into(count), now;
    // Archived comments: whole blocks above the id by their count, the block holding it decoded.
    // (While a video is being packed, a batch committing between these statements may be
    // counted twice: this count only decides between a replay and `reset`.)
    Poco::Int64 whole = 0;
    session << q("SELECT COALESCE(SUM(comment_count), 0) FROM comment_blocks WHERE video_id = ? "
                 "AND first_id > ?"),
        use(vid), use(after), into(whole), now;
    std::vector<Poco::Data::BLOB> straddling;
    session << q("SELECT data FROM comment_blocks WHERE video_id = ? AND first_id <= ? AND "
                 "last_id > ?"),
        use(vid), use(after), use(after), into(straddling), now;
    for (const auto& blob : straddling) {
        for (const auto& c : archive::decodeBlock(blobText(blob), videoId))
            whole += c.id > afterId ? 1 : 0;
    }
    count += whole;
    return static_cast<std::size_t>(std::min<Poco::Int64>(count, limit));
}

std::uint64_t CommentStore::chainHead(std::uint32_t videoId) const
{
    const auto v = video(videoId);
    return v ? v->lastCommentId : 0;
}

std::vector<Comment> CommentStore::commentsAfter(
    std::uint32_t videoId, std::uint64_t afterId, std::size_t limit) const
{
    PageQuery query;
    query.direction = PageQuery::Direction::After;
    query.cursor = afterId;
    query.limit = limit;
    return comments(videoId, query);
}

std::size_t CommentStore::archiveVideo(std::uint32_t videoId)
{
    const auto v = video(videoId);
    if (!v || v->status != VideoStatus::Ended)
        return 0;
    std::size_t packed = 0;
    Poco::Int64 vid = videoId;
    for (;;) {
        // Read and compress on this (the archiver's) thread; the writer only checks and swaps.
        std::vector<CommentRow> rows;
        {
            Session session = m_readPool->get();
            Poco::Int64 batch
                = static_cast<Poco::Int64>(kArchiveBlocksPerBatch * kArchiveBlockComments);
            session << q("SELECT " + std::string(kCommentColumns)
                + " FROM comments WHERE video_id = ? ORDER BY id LIMIT ?"),
                use(vid), use(batch), into(rows), now;
        }
        struct Block {
            Poco::Int64 first, last, count;
            std::string data;
        };
        std::vector<Block> blocks;
        for (std::size_t at = 0; at < rows.size(); at += kArchiveBlockComments) {
            std::vector<Comment> run;
            for (std::size_t i = at; i < std::min(rows.size(), at + kArchiveBlockComments); ++i)
                run.push_back(toComment(rows[i]));
            blocks.push_back(
                { static_cast<Poco::Int64>(run.front().id), static_cast<Poco::Int64>(run.back().id),
                    static_cast<Poco::Int64>(run.size()), archive::encodeBlock(run) });
        }
        bool moved = false;
        execute(videoId, [&](Session& session, std::vector<CommitEvent>&) {
            moved = false;
            loadVideo(session, videoId, true);
            // Each block must still match its rows exactly: a deletion (or another server's
            // archiver) since the read changes the count, and then nothing moves this round.
            for (auto& b : blocks) {
                Poco::Int64 present = 0;
                session << q("SELECT COUNT(*) FROM comments WHERE video_id = ? AND id >= ? AND "
                             "id <= ?"),
                    use(vid), use(b.first), use(b.last), into(present), now;
                if (present != b.count)
                    return;
            }
            for (auto& b : blocks) {
                Poco::Data::BLOB data = toBlob(b.data);
                session << q("INSERT INTO comment_blocks (video_id, first_id, last_id, "
                             "comment_count, data) VALUES (?, ?, ?, ?, ?)"),
                    use(vid), use(b.first), use(b.last), use(b.count), use(data), now;
                session << q("DELETE FROM comments WHERE video_id = ? AND id >= ? AND id <= ?"),
                    use(vid), use(b.first), use(b.last), now;
            }
            if (blocks.empty()) {
                Poco::Int64 at = wallClockMs();
                session << q("UPDATE videos SET archived_at = ? WHERE id = ?"), use(at), use(vid),
                    now;
            }
            moved = true;
        });
        if (!moved || blocks.empty())
            return packed;
        for (const auto& b : blocks)
            packed += static_cast<std::size_t>(b.count);
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping)
                return packed;
        }
    }
}

std::size_t CommentStore::archiveDue()
{
    if (m_options.archiveAfterSeconds < 0)
        return 0;
    std::vector<Poco::Int64> due;
    {
        Session session = m_readPool->get();
        Poco::Int64 endedBefore
            = wallClockMs() - std::int64_t(m_options.archiveAfterSeconds) * 1000 + 1;
        Poco::Int64 limit = kArchiveVideosPerRound;
        session << q("SELECT id FROM videos WHERE status = 'ended' AND archived_at = 0 AND "
                     "ended_at < ? ORDER BY id LIMIT ?"),
            use(endedBefore), use(limit), into(due), now;
    }
    std::size_t packed = 0;
    for (const Poco::Int64 id : due)
        packed += archiveVideo(static_cast<std::uint32_t>(id));
    return packed;
}

CommentStore::ArchiveStats CommentStore::archiveStats(std::uint32_t videoId) const
{
    Session session = m_readPool->get();
    Poco::Int64 vid = videoId, rows = 0, blocks = 0, comments = 0, bytes = 0;
    session << q("SELECT COUNT(*) FROM comments WHERE video_id = ?"), use(vid), into(rows), now;
    std::vector<Poco::Int64> counts;
    std::vector<Poco::Data::BLOB> blobs;
    session << q("SELECT comment_count, data FROM comment_blocks WHERE video_id = ?"), use(vid),
        into(counts), into(blobs), now;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        ++blocks;
        comments += counts[i];
        bytes += static_cast<Poco::Int64>(blobs[i].size());
    }
    std::vector<Poco::Int64> archivedAt;
    session << q("SELECT archived_at FROM videos WHERE id = ?"), use(vid), into(archivedAt), now;
    ArchiveStats stats;
    stats.rows = static_cast<std::size_t>(rows);
    stats.blocks = static_cast<std::size_t>(blocks);
    stats.archivedComments = static_cast<std::size_t>(comments);
    stats.blockBytes = static_cast<std::size_t>(bytes);
    stats.archived = !archivedAt.empty() && archivedAt.front() != 0;
    return stats;
}

void CommentStore::runArchiver()
{
    if (m_options.archiveAfterSeconds < 0)
        return;
    // Poll at the delay (at most every minute) so a video is packed soon after it is due; with
    // no delay, endVideo() wakes this thread directly.
    const auto poll
        = std::chrono::seconds(std::clamp(m_options.archiveAfterSeconds, 1, kArchivePollSeconds));
    std::unique_lock lock(m_mutex);
    while (!m_stopping) {
        m_archiveKick = false;
        lock.unlock();
        try {
            archiveDue();
        } catch (...) {
            // Retried at the next round: packing is an optimisation, never a correctness step.
        }
        lock.lock();
        m_archiveWake.wait_for(lock, poll, [this] { return m_stopping || m_archiveKick; });
    }
}

void CommentStore::runPurge()
{
    std::unique_lock lock(m_mutex);
    do {
        lock.unlock();
        try {
            purgeOnce();
        } catch (...) {
            // Retried at the next round; purging is best effort.
        }
        lock.lock();
    } while (!m_purgeWake.wait_for(lock, std::chrono::minutes(10), [this] { return m_stopping; }));
}

std::vector<Poco::Int64> CommentStore::videoIdsWhere(
    const std::string& condition, std::int64_t value) const
{
    Session session = m_readPool->get();
    Poco::Int64 v = value;
    std::vector<Poco::Int64> ids;
    session << q("SELECT id FROM videos WHERE " + condition + " ORDER BY id"), use(v), into(ids),
        now;
    return ids;
}

void CommentStore::purgeOnce()
{
    if (m_options.retentionDays > 0) {
        const std::int64_t cutoff
            = wallClockMs() - std::int64_t(m_options.retentionDays) * 86400000LL;
        purgeVideosEndedBefore(cutoff);
        purgeCommentsBefore(cutoff);
        purgeOrphanTombstonesBefore(cutoff);
    }
    purgeIdempotencyKeysBefore(wallClockMs() - kIdempotencyTtlMs);
}

std::size_t CommentStore::purgeCommentsBefore(std::int64_t cutoffUnixMs)
{
    const Poco::Int64 floor = static_cast<Poco::Int64>(ids::snowflakeFloorForUnixMs(cutoffUnixMs));
    // Only videos created before the cutoff can hold older comments. Per video, the deletes are
    // range scans of the (video_id, id) key (one partition on PostgreSQL) in small chunks, each
    // its own op ordered by video id like every other write.
    const auto videoIds = videoIdsWhere("created_at < ? AND status = 'live'", cutoffUnixMs);
    std::size_t total = 0;
    for (const Poco::Int64 videoId : videoIds) {
        std::size_t deleted = 0;
        do {
            deleted = 0;
            execute(static_cast<std::uint32_t>(videoId), [&](Session& session, auto&) {
                loadVideo(session, static_cast<std::uint32_t>(videoId), true);
                Poco::Int64 vid = videoId, below = floor, chunk = kPurgeChunk;
                Statement remove(session);
                remove << q("DELETE FROM comments WHERE video_id = ? AND id IN (SELECT id FROM "
                            "comments WHERE video_id = ? AND id < ? ORDER BY id LIMIT ?)"),
                    use(vid), use(vid), use(below), use(chunk);
                deleted = remove.execute();
                if (deleted > 0) {
                    Poco::Int64 gone = static_cast<Poco::Int64>(deleted);
                    session << q(
                        "UPDATE videos SET comment_count = comment_count - ? WHERE id = ?"),
                        use(gone), use(vid), now;
                }
                if (deleted < static_cast<std::size_t>(kPurgeChunk)) {
                    // The last chunk: the tombstones older than the window go too (a live video
                    // would keep them for its lifetime). A relayed copy arriving later is refused
                    // by its age instead (tombstoned()).
                    Poco::Int64 before = cutoffUnixMs;
                    session << q("DELETE FROM deleted_comments WHERE video_id = ? AND "
                                 "deleted_at < ?"),
                        use(vid), use(before), now;
                }
            });
            total += deleted;
        } while (deleted >= static_cast<std::size_t>(kPurgeChunk));
    }
    return total;
}

std::size_t CommentStore::purgeVideosEndedBefore(std::int64_t cutoffUnixMs)
{
    const auto videoIds = videoIdsWhere("status = 'ended' AND ended_at < ?", cutoffUnixMs);
    std::size_t removed = 0;
    for (const Poco::Int64 videoId : videoIds) {
        // Rows and blocks in small chunks (each its own transaction, ordered by video id like
        // every write), the video row last: a crash half way leaves a video that the next round
        // finishes, never comments without their video.
        bool done = false;
        while (!done) {
            execute(static_cast<std::uint32_t>(videoId), [&](Session& session, auto&) {
                done = false;
                if (!loadVideo(session, static_cast<std::uint32_t>(videoId), true)) {
                    done = true;
                    return;
                }
                Poco::Int64 vid = videoId, chunk = kPurgeChunk,
                            blockChunk = kPurgeChunk / Poco::Int64(kArchiveBlockComments) + 1;
                Statement rows(session);
                rows << q("DELETE FROM comments WHERE video_id = ? AND id IN (SELECT id FROM "
                          "comments WHERE video_id = ? ORDER BY id LIMIT ?)"),
                    use(vid), use(vid), use(chunk);
                Statement blocks(session);
                blocks << q("DELETE FROM comment_blocks WHERE video_id = ? AND first_id IN "
                            "(SELECT first_id FROM comment_blocks WHERE video_id = ? ORDER BY "
                            "first_id LIMIT ?)"),
                    use(vid), use(vid), use(blockChunk);
                Statement tombstones(session);
                tombstones << q("DELETE FROM deleted_comments WHERE video_id = ? AND comment_id "
                                "IN (SELECT comment_id FROM deleted_comments WHERE video_id = ? "
                                "ORDER BY comment_id LIMIT ?)"),
                    use(vid), use(vid), use(chunk);
                if (rows.execute() + blocks.execute() + tombstones.execute() > 0)
                    return;
                session << q("DELETE FROM videos WHERE id = ?"), use(vid), now;
                done = true;
                ++removed;
            });
        }
    }
    return removed;
}

std::size_t CommentStore::purgeOrphanTombstonesBefore(std::int64_t cutoffUnixMs)
{
    std::size_t deleted = 0;
    execute(0, [&](Session& session, std::vector<CommitEvent>&) {
        Poco::Int64 before = cutoffUnixMs;
        Statement remove(session);
        remove << q("DELETE FROM deleted_comments WHERE deleted_at < ? AND NOT EXISTS (SELECT 1 "
                    "FROM videos WHERE videos.id = deleted_comments.video_id)"),
            use(before);
        deleted = remove.execute();
    });
    return deleted;
}

std::size_t CommentStore::purgeIdempotencyKeysBefore(std::int64_t cutoffUnixMs)
{
    std::size_t deleted = 0;
    execute(0, [&](Session& session, std::vector<CommitEvent>&) {
        Poco::Int64 before = cutoffUnixMs;
        Statement remove(session);
        remove << q("DELETE FROM idempotency WHERE created_at < ?"), use(before);
        deleted = remove.execute();
    });
    return deleted;
}

} // namespace livecomments::server::store
