// SPDX-License-Identifier: MIT
#include "store/comment_store.h"

#include "ids/snowflake.h"
#include "model/clock.h"
#include "model/errors.h"
#include "model/json_text.h"
#include "store/sqlite_store.h"
#include "store/store_backend.h"

#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Statement.h>
#include <Poco/Tuple.h>

#include <algorithm>
#include <chrono>
#include <tuple>

using namespace Poco::Data::Keywords;
using Poco::Data::Session;
using Poco::Data::Statement;

namespace livecomments::server::store {

namespace {

using CommentRow
    = Poco::Tuple<Poco::Int64, Poco::Int64, std::string, std::string, std::string, Poco::Int64>;
constexpr const char* kCommentColumns = "id, video_id, user_id, user_name, text, created_at";

Comment toComment(const CommentRow& row)
{
    Comment c;
    c.id = static_cast<std::uint64_t>(row.get<0>());
    c.videoId = static_cast<std::uint32_t>(row.get<1>());
    c.userId = row.get<2>();
    c.userName = row.get<3>();
    c.text = row.get<4>();
    c.createdAtMs = row.get<5>();
    return c;
}

using VideoRow = Poco::Tuple<Poco::Int64, std::string, std::string, std::string, std::string,
    Poco::Int64, Poco::Int64, Poco::Int64>;
constexpr const char* kVideoColumns
    = "id, title, streamer_id, streamer_name, status, comment_count, created_at, ended_at";

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
    m_writer = std::thread([this] { runWriter(); });
    m_purger = std::thread([this] { runPurge(); });
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
        int current = 0;
        session << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(current), now;
        int applied = 0;
        for (const auto& m : m_backend->migrations()) {
            if (m.version <= current)
                continue;
            m_backend->exec(session, m.sql);
            Poco::Int64 at = wallClockMs();
            int version = m.version;
            std::string name = m.name;
            session << q("INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES (?, ?, ?)"),
                use(version), use(name), use(at), now;
            current = m.version;
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

void CommentStore::execute(std::uint32_t videoId, const OpFn& fn, std::string lockName)
{
    auto op = std::make_shared<WriteOp>();
    op->videoId = videoId;
    op->lockName = std::move(lockName);
    op->run = fn;
    auto future = op->done.get_future();
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
    future.get();
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
    std::vector<VideoRow> rows;
    session << q("SELECT " + std::string(kVideoColumns) + " FROM videos WHERE id = ?"
        + (lock ? m_backend->rowLock() : "")),
        use(id), into(rows), now;
    if (rows.empty())
        return std::nullopt;
    return toVideo(rows.front());
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
            session << q("INSERT INTO videos (title, streamer_id, streamer_name, created_at) "
                         "VALUES (?, ?, ?, ?) RETURNING id"),
                use(t), use(sid), use(sname), use(created), into(ids), now;
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

        Comment c;
        c.id = m_ids.next(); // on the writer thread: id order == commit order on this node
        c.videoId = videoId;
        c.userId = author.userId;
        c.userName = author.name;
        c.text = text;
        c.createdAtMs = ids::snowflakeUnixMs(c.id);
        Poco::Int64 id = static_cast<Poco::Int64>(c.id), created = c.createdAtMs;
        session << q("INSERT INTO comments (id, video_id, user_id, user_name, text, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)"),
            use(id), use(vid), use(c.userId), use(c.userName), use(c.text), use(created), now;
        session << q("UPDATE videos SET comment_count = comment_count + 1 WHERE id = ?"), use(vid),
            now;
        result.body = commentJson(c);
        if (!idempotencyKey.empty())
            saveIdempotentBody(session, author.userId, scope, idempotencyKey, result.body);
        CommitEvent e;
        e.type = CommitEvent::Type::CommentAdded;
        e.videoId = videoId;
        e.comment = std::move(c);
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
        if (authors.empty())
            throw notFound("comment");
        if (authors.front() != caller.userId && caller.role != Role::Moderator)
            throw forbidden("only the author or a moderator may delete this comment");
        session << q("DELETE FROM comments WHERE video_id = ? AND id = ?"), use(vid), use(id), now;
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
    std::vector<Comment> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
        out.push_back(toComment(row));
    return out;
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
    return static_cast<std::size_t>(count);
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

void CommentStore::purgeOnce()
{
    if (m_options.retentionDays > 0)
        purgeCommentsBefore(wallClockMs() - std::int64_t(m_options.retentionDays) * 86400000LL);
    purgeIdempotencyKeysBefore(wallClockMs() - kIdempotencyTtlMs);
}

std::size_t CommentStore::purgeCommentsBefore(std::int64_t cutoffUnixMs)
{
    const Poco::Int64 floor = static_cast<Poco::Int64>(ids::snowflakeFloorForUnixMs(cutoffUnixMs));
    // Only videos created before the cutoff can hold older comments. Per video, the deletes are
    // range scans of the (video_id, id) key (one partition on PostgreSQL) in small chunks, each
    // its own op ordered by video id like every other write.
    std::vector<Poco::Int64> videoIds;
    {
        Session session = m_readPool->get();
        Poco::Int64 cutoff = cutoffUnixMs;
        session << q("SELECT id FROM videos WHERE created_at < ? ORDER BY id"), use(cutoff),
            into(videoIds), now;
    }
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
            });
            total += deleted;
        } while (deleted >= static_cast<std::size_t>(kPurgeChunk));
    }
    return total;
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
