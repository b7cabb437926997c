// SPDX-License-Identifier: MIT
#include "store/comment_store.h"

#include "ids/snowflake.h"
#include "model/clock.h"
#include "model/errors.h"
#include "model/json_text.h"

#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/SQLite/Utility.h>
#include <Poco/Data/Session.h>
#include <Poco/Data/SessionPool.h>
#include <Poco/Data/Statement.h>
#include <Poco/Tuple.h>

#include <sqlite3.h>

#include <chrono>

using namespace Poco::Data::Keywords;
using Poco::Data::Session;
using Poco::Data::Statement;

namespace livecomments::server::store {

namespace {

using CommentRow
    = Poco::Tuple<Poco::Int64, Poco::Int64, std::string, std::string, std::string, Poco::Int64>;
constexpr const char* kCommentColumns = "id, video_id, user_id, user_name, text, created_at";

/// Runs SQL without parameters or results on the raw handle (BEGIN/COMMIT/SAVEPOINT/PRAGMA).
void exec(Session& session, const std::string& sql)
{
    sqlite3* db = Poco::Data::SQLite::Utility::dbHandle(session);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
        std::string message = error ? error : "unknown error";
        sqlite3_free(error);
        throw Poco::Exception("SQLite: " + sql + ": " + message);
    }
}

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

std::optional<Video> loadVideo(Session& session, std::uint32_t videoId)
{
    Poco::Int64 id = videoId;
    std::vector<VideoRow> rows;
    session << "SELECT " + std::string(kVideoColumns) + " FROM videos WHERE id = ?", use(id),
        into(rows), now;
    if (rows.empty())
        return std::nullopt;
    return toVideo(rows.front());
}

std::optional<std::string> findIdempotent(
    Session& session, const std::string& user, const std::string& scope, const std::string& key)
{
    std::vector<std::string> bodies;
    std::string u = user, s = scope, k = key;
    session << "SELECT body FROM idempotency WHERE user_id = ? AND scope = ? AND key = ?", use(u),
        use(s), use(k), into(bodies), now;
    if (bodies.empty())
        return std::nullopt;
    return bodies.front();
}

void saveIdempotent(Session& session, const std::string& user, const std::string& scope,
    const std::string& key, const std::string& body)
{
    std::string u = user, s = scope, k = key, b = body;
    Poco::Int64 at = wallClockMs();
    session << "INSERT INTO idempotency (user_id, scope, key, body, created_at) "
               "VALUES (?, ?, ?, ?, ?)",
        use(u), use(s), use(k), use(b), use(at), now;
}

std::string commentScope(std::uint32_t videoId)
{
    return "comment:" + std::to_string(videoId);
}

/// Versioned schema: each entry runs once, in order, recorded in schema_migrations.
struct Migration {
    int version;
    const char* name;
    const char* sql;
};

const Migration kMigrations[] = {
    { 1, "initial",
        "CREATE TABLE videos ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  title TEXT NOT NULL,"
        "  streamer_id TEXT NOT NULL,"
        "  streamer_name TEXT NOT NULL,"
        "  status TEXT NOT NULL DEFAULT 'live',"
        "  comment_count INTEGER NOT NULL DEFAULT 0,"
        "  created_at INTEGER NOT NULL,"
        "  ended_at INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE comments ("
        "  id INTEGER PRIMARY KEY,"
        "  video_id INTEGER NOT NULL REFERENCES videos(id),"
        "  user_id TEXT NOT NULL,"
        "  user_name TEXT NOT NULL,"
        "  text TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX comments_by_video ON comments(video_id, id);"
        "CREATE TABLE idempotency ("
        "  user_id TEXT NOT NULL,"
        "  scope TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  body TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  PRIMARY KEY (user_id, scope, key));"
        "CREATE INDEX idempotency_by_age ON idempotency(created_at);" },
};

/// Idempotency keys are remembered this long (a retry comes within minutes; a day is generous).
constexpr std::int64_t kIdempotencyTtlMs = 24LL * 3600 * 1000;

} // namespace

struct CommentStore::WriteOp {
    std::function<void(Session&, std::vector<CommitEvent>&)> run;
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
    : m_options(std::move(options))
    , m_ids(ids)
{ }

CommentStore::~CommentStore()
{
    close();
}

void CommentStore::open()
{
    Poco::Data::SQLite::Connector::registerConnector();
    m_writeSession = std::make_unique<Session>("SQLite", m_options.path);
    // WAL: readers never block the writer. synchronous=FULL fsyncs the WAL at every commit, so an
    // acknowledged comment survives a process kill AND a power loss; group commit amortises it.
    exec(*m_writeSession, "PRAGMA journal_mode=WAL");
    exec(*m_writeSession,
        std::string("PRAGMA synchronous=") + (m_options.synchronousFull ? "FULL" : "NORMAL"));
    exec(*m_writeSession, "PRAGMA busy_timeout=5000");
    exec(*m_writeSession, "PRAGMA foreign_keys=ON");
    migrate(*m_writeSession);
    m_readPool = std::make_unique<Poco::Data::SessionPool>("SQLite", m_options.path, 1, 32, 60);
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

void CommentStore::migrate(Session& session)
{
    exec(session,
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    int current = 0;
    session << "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", into(current), now;
    for (const auto& m : kMigrations) {
        if (m.version <= current)
            continue;
        exec(session, "BEGIN IMMEDIATE");
        try {
            exec(session, m.sql);
            Poco::Int64 at = wallClockMs();
            int version = m.version;
            std::string name = m.name;
            session << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?,?,?)",
                use(version), use(name), use(at), now;
            exec(session, "COMMIT");
        } catch (...) {
            exec(session, "ROLLBACK");
            throw;
        }
        current = m.version;
    }
    m_schemaVersion = current;
}

int CommentStore::schemaVersion() const
{
    return m_schemaVersion;
}

void CommentStore::execute(const std::function<void(Session&, std::vector<CommitEvent>&)>& fn)
{
    auto op = std::make_shared<WriteOp>();
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
    Session& session = *m_writeSession;
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
        const auto started = std::chrono::steady_clock::now();
        std::vector<CommitEvent> events;
        std::vector<std::exception_ptr> errors(batch.size());
        std::exception_ptr commitError;
        try {
            exec(session, "BEGIN IMMEDIATE");
            for (std::size_t i = 0; i < batch.size(); ++i) {
                std::vector<CommitEvent> opEvents;
                exec(session, "SAVEPOINT op");
                try {
                    batch[i]->run(session, opEvents);
                    exec(session, "RELEASE op");
                    events.insert(events.end(), opEvents.begin(), opEvents.end());
                } catch (...) {
                    errors[i] = std::current_exception();
                    exec(session, "ROLLBACK TO op");
                    exec(session, "RELEASE op");
                }
            }
            exec(session, "COMMIT");
        } catch (...) {
            commitError = std::current_exception();
            try {
                exec(session, "ROLLBACK");
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
}

IdempotentResult CommentStore::createVideo(
    const Principal& streamer, const std::string& title, const std::string& idempotencyKey)
{
    IdempotentResult result;
    execute([&](Session& session, std::vector<CommitEvent>& events) {
        if (!idempotencyKey.empty()) {
            if (auto body = findIdempotent(session, streamer.userId, "video", idempotencyKey)) {
                result.replayed = true;
                result.body = *body;
                return;
            }
        }
        std::string t = title, sid = streamer.userId, sname = streamer.name;
        Poco::Int64 created = wallClockMs();
        session << "INSERT INTO videos (title, streamer_id, streamer_name, created_at) "
                   "VALUES (?, ?, ?, ?)",
            use(t), use(sid), use(sname), use(created), now;
        const auto id = static_cast<std::uint32_t>(
            sqlite3_last_insert_rowid(Poco::Data::SQLite::Utility::dbHandle(session)));
        Video v;
        v.id = id;
        v.title = title;
        v.streamerId = streamer.userId;
        v.streamerName = streamer.name;
        v.createdAtMs = created;
        result.body = videoJson(v, 0);
        if (!idempotencyKey.empty())
            saveIdempotent(session, streamer.userId, "video", idempotencyKey, result.body);
        CommitEvent e;
        e.type = CommitEvent::Type::VideoCreated;
        e.videoId = id;
        events.push_back(e);
    });
    return result;
}

Video CommentStore::endVideo(std::uint32_t videoId, const Principal& caller)
{
    Video result;
    execute([&](Session& session, std::vector<CommitEvent>& events) {
        auto v = loadVideo(session, videoId);
        if (!v)
            throw notFound("video");
        if (v->streamerId != caller.userId && caller.role != Role::Moderator)
            throw forbidden("only the streamer or a moderator may end this video");
        if (v->status == VideoStatus::Live) {
            Poco::Int64 id = videoId, at = wallClockMs();
            session << "UPDATE videos SET status = 'ended', ended_at = ? WHERE id = ?", use(at),
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
    execute([&](Session& session, std::vector<CommitEvent>& events) {
        const std::string scope = commentScope(videoId);
        if (!idempotencyKey.empty()) {
            if (auto body = findIdempotent(session, author.userId, scope, idempotencyKey)) {
                result.replayed = true;
                result.body = *body;
                return;
            }
        }
        std::string status;
        Poco::Int64 vid = videoId;
        std::vector<std::string> statuses;
        session << "SELECT status FROM videos WHERE id = ?", use(vid), into(statuses), now;
        if (statuses.empty())
            throw notFound("video");
        if (statuses.front() != "live")
            throw ApiError(ErrorKind::Conflict, "video_ended", "the video has ended");

        Comment c;
        c.id = m_ids.next(); // on the writer thread: id order == commit order on this node
        c.videoId = videoId;
        c.userId = author.userId;
        c.userName = author.name;
        c.text = text;
        c.createdAtMs = ids::snowflakeUnixMs(c.id);
        Poco::Int64 id = static_cast<Poco::Int64>(c.id), created = c.createdAtMs;
        session << "INSERT INTO comments (id, video_id, user_id, user_name, text, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
            use(id), use(vid), use(c.userId), use(c.userName), use(c.text), use(created), now;
        session << "UPDATE videos SET comment_count = comment_count + 1 WHERE id = ?", use(vid),
            now;
        result.body = commentJson(c);
        if (!idempotencyKey.empty())
            saveIdempotent(session, author.userId, scope, idempotencyKey, result.body);
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
    execute([&](Session& session, std::vector<CommitEvent>& events) {
        Poco::Int64 id = static_cast<Poco::Int64>(commentId), vid = videoId;
        std::vector<std::string> authors;
        session << "SELECT user_id FROM comments WHERE id = ? AND video_id = ?", use(id), use(vid),
            into(authors), now;
        if (authors.empty())
            throw notFound("comment");
        if (authors.front() != caller.userId && caller.role != Role::Moderator)
            throw forbidden("only the author or a moderator may delete this comment");
        session << "DELETE FROM comments WHERE id = ?", use(id), now;
        session << "UPDATE videos SET comment_count = comment_count - 1 WHERE id = ?", use(vid),
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
    return findIdempotent(session, userId, commentScope(videoId), key);
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
        session << select + " WHERE status = ? ORDER BY id DESC LIMIT ?", use(st), use(lim),
            into(rows), now;
    } else {
        session << select + " ORDER BY id DESC LIMIT ?", use(lim), into(rows), now;
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
    const std::string columns = kCommentColumns;
    switch (query.direction) {
    case PageQuery::Direction::Newest:
        session << "SELECT " + columns
                + " FROM comments WHERE video_id = ? ORDER BY id DESC LIMIT ?",
            use(vid), use(limit), into(rows), now;
        break;
    case PageQuery::Direction::Before:
        session << "SELECT " + columns
                + " FROM comments WHERE video_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
            use(vid), use(cursor), use(limit), into(rows), now;
        break;
    case PageQuery::Direction::After:
        session << "SELECT " + columns
                + " FROM comments WHERE video_id = ? AND id > ? ORDER BY id ASC LIMIT ?",
            use(vid), use(cursor), use(limit), into(rows), now;
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
    session << "SELECT COUNT(*) FROM (SELECT 1 FROM comments WHERE video_id = ? AND id > ? "
               "LIMIT ?)",
        use(vid), use(after), use(limit), into(count), now;
    return static_cast<std::size_t>(count);
}

std::vector<Comment> CommentStore::commentsAfter(
    std::uint32_t videoId, std::uint64_t afterId, std::size_t limit) const
{
    PageQuery q;
    q.direction = PageQuery::Direction::After;
    q.cursor = afterId;
    q.limit = limit;
    return comments(videoId, q);
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
    const std::int64_t cutoffMs
        = wallClockMs() - std::int64_t(m_options.retentionDays) * 86400000LL;
    Poco::Int64 floor = static_cast<Poco::Int64>(ids::snowflakeFloorForUnixMs(cutoffMs));
    bool more = m_options.retentionDays > 0;
    while (more) {
        // Small chunks so the purge never holds the writer for long.
        execute([&](Session& session, std::vector<CommitEvent>&) {
            session << "DELETE FROM comments WHERE id IN (SELECT id FROM comments WHERE id < ? "
                       "LIMIT 2000)",
                use(floor), now;
            more = sqlite3_changes(Poco::Data::SQLite::Utility::dbHandle(session)) > 0;
            if (!more) {
                exec(session,
                    "UPDATE videos SET comment_count = (SELECT COUNT(*) FROM comments WHERE "
                    "comments.video_id = videos.id)");
            }
        });
    }
    execute([&](Session& session, std::vector<CommitEvent>&) {
        Poco::Int64 before = wallClockMs() - kIdempotencyTtlMs;
        session << "DELETE FROM idempotency WHERE created_at < ?", use(before), now;
    });
}

} // namespace livecomments::server::store
