// SPDX-License-Identifier: MIT
#include "service/live_service.h"

#include "model/clock.h"
#include "model/errors.h"
#include "model/json_text.h"
#include "model/text_rules.h"
#include "store/store_factory.h"

#include <Poco/HMACEngine.h>
#include <Poco/Logger.h>
#include <Poco/SHA1Engine.h>
#include <nlohmann/json.hpp>

#include <sys/random.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace livecomments::server {

namespace {

/// Upper bound of a replay read; far above any replay-limit + overlap window in practice.
constexpr std::size_t kReplayReadCap = 1000000;

std::string secretFor(const Settings& s)
{
    return s.jwtSecret.empty() && s.dev ? std::string(auth::kDevSecret) : s.jwtSecret;
}

auth::JwtKeys jwtKeysFor(const Settings& s)
{
    return auth::JwtKeys { secretFor(s), s.jwtPreviousSecret, s.jwtPreviousUntil,
        s.jwtClockSkewSeconds };
}

FramePtr frameOf(const cache::CachedComment& c)
{
    return c.frame ? c.frame : makeFrame(c.id, commentFrame(c.id, c.json));
}

/// An Idempotency-Key replays only the request it was first used with. The stored first result
/// carries the normalised content (`text` of a comment, `title` of a video), so comparing that
/// member is comparing the request's content; a retry that re-serialises the same JSON
/// differently (key order, escapes, CRLF vs LF) still replays.
store::IdempotentResult sameRequestOrThrow(
    store::IdempotentResult result, const char* member, const std::string& content)
{
    if (!result.replayed)
        return result;
    const auto stored = nlohmann::json::parse(result.body, nullptr, false);
    const auto it = stored.is_object() ? stored.find(member) : stored.end();
    if (it == stored.end() || !it->is_string() || it->get<std::string>() != content)
        throw ApiError(ErrorKind::UnprocessableContent, "idempotency_key_mismatch",
            "Idempotency-Key was already used with a different body");
    return result;
}

Poco::Logger& streamLog()
{
    static Poco::Logger& logger = Poco::Logger::get("livecomments.stream");
    return logger;
}

std::string toHex(const unsigned char* bytes, std::size_t size)
{
    static const char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out.push_back(kHex[bytes[i] >> 4]);
        out.push_back(kHex[bytes[i] & 0xf]);
    }
    return out;
}

/// The author of a comment JSON object, as shaping needs it.
struct Author {
    std::string userId;
    Role role = Role::Viewer;
};

/// The author of a comment JSON object (commentJson():
/// `"user":{"id":"<digits>","name":"…","role":"<role>"}`), read without a JSON parse: it runs
/// for every comment of a hot video. The role is the first `"role":"` after the user id: the
/// name is escaped, so its text never holds a `"` followed by `:`, and the user object comes
/// before the text. No role (a comment from a server before roles): a viewer.
Author authorOf(const std::string& json)
{
    static const std::string kKey = "\"user\":{\"id\":\"";
    static const std::string kRoleKey = ",\"role\":\"";
    Author author;
    const auto at = json.find(kKey);
    if (at == std::string::npos)
        return author;
    const auto from = at + kKey.size();
    const auto end = json.find('"', from);
    if (end == std::string::npos)
        return author;
    author.userId = json.substr(from, end - from);
    const auto role = json.find(kRoleKey, end);
    const auto textKey = json.find(",\"text\":", end);
    if (role == std::string::npos || role > textKey)
        return author;
    const auto roleFrom = role + kRoleKey.size();
    const auto roleEnd = json.find('"', roleFrom);
    if (roleEnd != std::string::npos
        && !parseRole(json.substr(roleFrom, roleEnd - roleFrom), author.role))
        author.role = Role::Viewer;
    return author;
}

/// Random nonce hex digits and MAC hex digits of a subscription id ("s-" + both).
constexpr std::size_t kNonceHex = 16;
constexpr std::size_t kMacHex = 16;

} // namespace

LiveService::LiveService(Settings settings, ClusterParts cluster)
    : m_settings(std::move(settings))
    , m_auth(jwtKeysFor(m_settings))
    , m_ids(m_settings.nodeId)
    , m_limiter(m_settings.rateLimit, m_settings.elevatedRateLimit())
    , m_cache(m_settings.replayLimit + 201)
    , m_cluster(std::move(cluster))
{
    if (m_cluster.bus) {
        m_redisBus = m_cluster.bus.get();
        m_bus = std::move(m_cluster.bus);
    } else {
        m_bus = std::make_unique<bus::LocalBus>();
    }
    fanout::EngineOptions options;
    options.loops = m_settings.loops;
    options.queueCapBytes = m_settings.queueCapBytes;
    options.heartbeatMs = m_settings.heartbeatMs;
    options.statsMs = m_settings.statsMs;
    options.viewerRateCap = m_settings.viewerRateCap;
    m_engine = std::make_unique<fanout::Engine>(options);

    store::StoreOptions storeOptions;
    storeOptions.path = m_settings.storePath;
    storeOptions.retentionDays = m_settings.retentionDays;
    storeOptions.archiveAfterSeconds = m_settings.archiveAfterSeconds;
    storeOptions.synchronousFull = m_settings.synchronousFull;
    storeOptions.connectAttempts = m_settings.connectAttempts;
    storeOptions.connectDeadlineMs = m_settings.connectTimeoutMs;
    storeOptions.region = m_settings.region;
    for (const auto& peer : m_settings.peerRegions)
        storeOptions.relayPeers.push_back(peer.name);
    if (!m_settings.peerRegions.empty()) {
        storeOptions.videoIdStride = m_settings.regionCount;
        storeOptions.videoIdSlot = m_settings.regionSlot;
    }
    m_store = store::makeCommentStore(m_settings.storeUrl, storeOptions, m_ids);
    if (!m_settings.peerRegions.empty())
        m_relay = std::make_unique<RegionRelay>(m_settings, *m_store);
}

LiveService::~LiveService()
{
    shutdown();
}

void LiveService::start()
{
    if (m_redisBus) {
        m_chain = std::make_unique<ChainDelivery>(
            std::chrono::milliseconds(m_settings.orderHoldMs),
            [this](const bus::BusEvent& e) { onBusEvent(e); },
            [this](std::uint32_t videoId, std::uint64_t afterId) {
                return readGap(videoId, afterId);
            });
        m_bus->setHandler([this](const bus::BusEvent& e) { m_chain->submit(e); });
        m_redisBus->setReconnectedHandler([this](const std::vector<std::uint32_t>& videos) {
            // Whatever other nodes published while this one was cut off is in the store.
            for (const auto videoId : videos)
                m_chain->requestFill(videoId);
        });
    } else {
        m_bus->setHandler([this](const bus::BusEvent& e) { onBusEvent(e); });
    }
    m_store->onCommitted = [this](const auto& events) { onCommitted(events); };
    m_store->onCommitTimed
        = [this](double seconds, std::size_t ops) { m_metrics.commitObserved(seconds, ops); };
    m_store->open();
    m_engine->onVideoActive = [this](std::uint32_t videoId, bool active) {
        {
            std::lock_guard lock(m_activeMutex);
            if (active)
                m_activeVideos.insert(videoId);
            else
                m_activeVideos.erase(videoId);
        }
        m_bus->setInterest(videoId, active);
        if (m_redisBus) {
            m_cluster.counts->setLocalCount(videoId, active ? m_engine->viewers(videoId) : 0);
            const bool tracked = m_chain->tracking(videoId);
            {
                std::lock_guard lock(m_clusterMutex);
                if (active) {
                    // Other nodes' comments published before the SSUBSCRIBE above took effect
                    // are in the store: check the chain against it a moment later (at once if a
                    // race with the previous last viewer's departure left it untracked).
                    const std::int64_t now = wallClockMs();
                    m_pendingChecks[videoId] = tracked ? now + 300 : now;
                    m_checksAdded = true;
                } else {
                    m_pendingChecks.erase(videoId);
                }
            }
            if (active)
                m_clusterWake.notify_all();
            else
                m_chain->forget(videoId); // not subscribed any more: its chain goes stale
        }
    };
    m_engine->onStatsTick = [this] { onStatsTick(); };
    m_engine->onStreamClosed
        = [](const std::string& subscriptionId, std::uint32_t videoId, const char* reason) {
              if (streamLog().debug())
                  streamLog().debug("stream %s on video %u closed (%s)", subscriptionId, videoId,
                      std::string(reason));
          };
    m_engine->start();
    if (m_redisBus)
        m_clusterThread = std::thread([this] { clusterLoop(); });
    if (m_relay)
        m_relay->start();
    m_started = true;
}

void LiveService::shutdown()
{
    m_shuttingDown = true;
    if (!m_started || m_stopped.exchange(true))
        return;
    // Spread the reconnects of the clients over 1–5 s so that they do not all come back at once
    // (docs/protocol.md "Shutdown"): the engine deals these `retry:` values round-robin over its
    // streams.
    std::vector<std::string> finals;
    for (int retry = 1000; retry <= 5000; retry += 250)
        finals.push_back("retry: " + std::to_string(retry) + "\n\n");
    if (m_redisBus) {
        {
            std::lock_guard lock(m_clusterMutex);
            m_clusterStopping = true;
        }
        m_clusterWake.notify_all();
        m_clusterThread.join();
        m_redisBus->stop(); // no more events from other nodes
        m_chain->stop(); // what is held goes out before the streams close
    }
    if (m_relay)
        m_relay->stop(); // what is not delivered stays queued for the next start
    m_engine->shutdown(std::move(finals), std::chrono::milliseconds(2000));
    m_store->close();
    // The node id stays reserved until this node can no longer write (docs/operations.md).
    if (m_cluster.counts)
        m_cluster.counts->release();
    if (m_cluster.lease)
        m_cluster.lease->release();
}

// --- videos -------------------------------------------------------------------------------------

store::IdempotentResult LiveService::createVideo(
    const Principal& streamer, const std::string& title, const std::string& idempotencyKey)
{
    const std::string clean = normaliseText(title, "title", kMaxTitleCodePoints, false);
    return sameRequestOrThrow(
        m_store->createVideo(streamer, clean, idempotencyKey), "title", clean);
}

std::string LiveService::videoJson(std::uint32_t videoId)
{
    auto video = m_store->video(videoId);
    if (!video)
        throw notFound("video");
    return server::videoJson(*video, viewerCount(videoId));
}

std::string LiveService::videosJson(std::optional<VideoStatus> status, std::size_t limit)
{
    const auto list = m_store->videos(status, limit);
    std::vector<std::uint32_t> ids;
    for (const Video& video : list)
        ids.push_back(video.id);
    auto counts = viewerCounts(ids);
    std::vector<std::string> videos;
    for (const Video& video : list)
        videos.push_back(server::videoJson(video, counts[video.id]));
    return videoListJson(videos);
}

std::string LiveService::historyJson(const HistoryPage& page)
{
    return commentPageJson(page.comments, page.nextCursor);
}

std::string LiveService::endVideo(std::uint32_t videoId, const Principal& caller)
{
    const Video video = m_store->endVideo(videoId, caller);
    return server::videoJson(video, viewerCount(videoId));
}

bool LiveService::videoExists(std::uint32_t videoId)
{
    return m_store->video(videoId).has_value();
}

// --- comments -----------------------------------------------------------------------------------

store::IdempotentResult LiveService::postComment(std::uint32_t videoId, const Principal& author,
    const std::string& rawText, const std::string& idempotencyKey, const std::string& field)
{
    const std::string text = normaliseText(rawText, field, kMaxCommentCodePoints);
    // A retry of a post that already succeeded is answered without taking a rate-limit token.
    if (!idempotencyKey.empty()) {
        if (auto body = m_store->findCommentResult(videoId, author.userId, idempotencyKey))
            return sameRequestOrThrow(store::IdempotentResult { true, *body }, "text", text);
    }
    const bool elevated = author.role != Role::Viewer;
    if (const int wait = m_limiter.acquire(author.userId, elevated)) {
        throw ApiError(ErrorKind::TooManyRequests, "rate_limited",
            "too many comments; retry in " + std::to_string(wait) + " s")
            .withRetryAfter(wait);
    }
    auto result = sameRequestOrThrow(
        m_store->addComment(videoId, author, text, idempotencyKey), "text", text);
    if (!result.replayed)
        m_metrics.commentAccepted();
    return result;
}

void LiveService::deleteComment(
    std::uint32_t videoId, std::uint64_t commentId, const Principal& caller)
{
    m_store->deleteComment(videoId, commentId, caller);
}

HistoryPage LiveService::history(std::uint32_t videoId, const store::PageQuery& query)
{
    if (!m_store->video(videoId))
        throw notFound("video");
    store::PageQuery q = query;
    q.limit = query.limit + 1; // one extra row tells whether a next page exists

    std::vector<std::pair<std::uint64_t, std::string>> rows;
    std::vector<cache::CachedComment> cached;
    if (query.direction == store::PageQuery::Direction::Newest && cacheIsComplete()
        && m_cache.newest(videoId, q.limit, cached)) {
        for (auto& c : cached)
            rows.emplace_back(c.id, std::move(c.json));
    } else {
        for (const auto& c : m_store->comments(videoId, q))
            rows.emplace_back(c.id, commentJson(c));
    }
    HistoryPage page;
    const bool more = rows.size() > query.limit;
    if (more)
        rows.resize(query.limit);
    if (more)
        page.nextCursor = rows.back().first;
    // "Wholly in the past": no comment can still appear inside the page's id range, i.e. the
    // range ends before now − overlap window (ids of other nodes may lag that much) − 1 s slack.
    const std::int64_t settled = wallClockMs() - m_settings.overlapMs - 1000;
    switch (query.direction) {
    case store::PageQuery::Direction::Newest:
        break;
    case store::PageQuery::Direction::Before:
        page.immutable = ids::snowflakeUnixMs(query.cursor) < settled;
        break;
    case store::PageQuery::Direction::After:
        page.immutable = more && ids::snowflakeUnixMs(rows.back().first) < settled;
        break;
    }
    page.comments.reserve(rows.size());
    for (auto& row : rows)
        page.comments.push_back(std::move(row.second));
    return page;
}

// --- streams ------------------------------------------------------------------------------------

ResumePlan LiveService::planResume(std::uint32_t videoId, std::optional<std::uint64_t> lastEventId)
{
    ResumePlan plan;
    if (!lastEventId || *lastEventId == 0)
        return plan;
    // An id from more than a minute in the future cannot come from this deployment: garbage.
    if (ids::snowflakeUnixMs(*lastEventId) > wallClockMs() + 60000)
        return plan;
    plan.requested = true;
    plan.lastEventId = *lastEventId;
    std::size_t missed = 0;
    std::vector<cache::CachedComment> none;
    if (!cacheIsComplete() || !m_cache.after(videoId, *lastEventId, 0, none, missed))
        missed = m_store->countAfter(videoId, *lastEventId, m_settings.replayLimit);
    plan.reset = missed > m_settings.replayLimit;
    plan.resumed = !plan.reset;
    m_metrics.streamResumed(plan.resumed);
    return plan;
}

std::vector<FramePtr> LiveService::replayFrames(std::uint32_t videoId, const ResumePlan& plan)
{
    std::vector<FramePtr> frames;
    if (!plan.requested)
        return frames;
    if (plan.reset) {
        frames.push_back(makeFrame(0, eventFrame("reset", resetJson("gap_too_large"))));
        return frames;
    }
    // Start an overlap window earlier: ids of other nodes are only roughly ordered
    // (docs/protocol.md "Resume").
    const std::uint64_t overlap
        = ids::snowflakeFloorForUnixMs(ids::kEpochUnixMs + m_settings.overlapMs);
    const std::uint64_t from = plan.lastEventId > overlap ? plan.lastEventId - overlap : 0;
    std::vector<cache::CachedComment> cached;
    std::size_t total = 0;
    if (cacheIsComplete() && m_cache.after(videoId, from, kReplayReadCap, cached, total)) {
        frames.reserve(cached.size());
        for (const auto& c : cached)
            frames.push_back(frameOf(c));
        return frames;
    }
    for (const auto& c : m_store->commentsAfter(videoId, from, kReplayReadCap))
        frames.push_back(makeFrame(c.id, commentFrame(c)));
    return frames;
}

std::optional<std::uint64_t> LiveService::newestCommentId(std::uint32_t videoId)
{
    std::vector<cache::CachedComment> cached;
    if (cacheIsComplete() && m_cache.newest(videoId, 1, cached))
        return cached.empty() ? std::nullopt : std::optional<std::uint64_t>(cached.front().id);
    store::PageQuery newest;
    newest.limit = 1;
    const auto rows = m_store->comments(videoId, newest);
    return rows.empty() ? std::nullopt : std::optional<std::uint64_t>(rows.front().id);
}

std::string LiveService::subscriptionMac(const std::string& nonceHex, std::uint32_t videoId) const
{
    // Keyed with the JWT secret so that every node of a deployment recognises the ids of the
    // others (a DELETE may reach another node than the stream).
    Poco::HMACEngine<Poco::SHA1Engine> hmac(secretFor(m_settings) + "/subscription-id");
    hmac.update(nonceHex + ":" + std::to_string(videoId));
    const auto& digest = hmac.digest();
    return toHex(digest.data(), kMacHex / 2);
}

std::string LiveService::newSubscriptionId(std::uint32_t videoId) const
{
    unsigned char bytes[kNonceHex / 2];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n > 0)
            got += static_cast<std::size_t>(n);
    }
    const std::string nonce = toHex(bytes, sizeof bytes);
    return "s-" + nonce + subscriptionMac(nonce, videoId);
}

bool LiveService::issuedSubscriptionId(
    const std::string& subscriptionId, std::uint32_t videoId) const
{
    if (subscriptionId.size() != 2 + kNonceHex + kMacHex || subscriptionId.rfind("s-", 0) != 0)
        return false;
    const std::string nonce = subscriptionId.substr(2, kNonceHex);
    return subscriptionId.compare(2 + kNonceHex, kMacHex, subscriptionMac(nonce, videoId)) == 0;
}

StreamOpening LiveService::prepareStream(std::uint32_t videoId,
    const std::optional<Principal>& user, std::optional<std::uint64_t> lastEventId)
{
    const auto video = m_store->video(videoId);
    if (!video)
        throw notFound("video");
    noteStreamer(*video);
    StreamOpening opening;
    opening.videoId = videoId;
    opening.subscriptionId = newSubscriptionId(videoId);
    if (user)
        opening.userId = user->userId;
    opening.plan = planResume(videoId, lastEventId);
    opening.lastId = newestCommentId(videoId);
    return opening;
}

std::string LiveService::helloFrame(const StreamOpening& opening) const
{
    HelloEvent hello;
    hello.subscriptionId = opening.subscriptionId;
    hello.videoId = opening.videoId;
    hello.heartbeatMs = m_settings.heartbeatMs;
    hello.resumed = opening.plan.resumed;
    hello.lastId = opening.lastId;
    return eventFrame("hello", helloJson(hello));
}

bool LiveService::openStream(int fd, const StreamOpening& opening, std::string preamble)
{
    fanout::SubscriberInfo info;
    info.subscriptionId = opening.subscriptionId;
    info.videoId = opening.videoId;
    info.userId = opening.userId;
    if (m_chain) {
        // The first local viewer: order the video's live comments from its `hello.last_id` on
        // (before the stream exists, so that it misses nothing after what `hello` announced; a
        // comment committed since arrives on the bus or is filled from the store).
        m_chain->track(opening.videoId, opening.lastId.value_or(0));
    }
    if (!m_engine->open(fd, std::move(info), std::move(preamble)))
        return false;
    m_metrics.streamOpened();
    streamLog().debug("stream %s opened on video %u (resumed: %s)", opening.subscriptionId,
        opening.videoId, std::string(opening.plan.resumed ? "yes" : "no"));
    try {
        // Read the replay only now: everything committed before open() is in the store/cache,
        // everything published after it is held in the queue; the engine drops duplicates.
        m_engine->resume(opening.subscriptionId, replayFrames(opening.videoId, opening.plan));
    } catch (const std::exception& e) {
        streamLog().error("stream %s: replay failed, closing it: %s", opening.subscriptionId,
            std::string(e.what()));
        m_engine->close(opening.subscriptionId); // the client reconnects and resumes
    }
    return true;
}

void LiveService::closeStream(std::uint32_t videoId, const std::string& subscriptionId,
    const std::optional<Principal>& caller)
{
    const auto info = m_engine->find(subscriptionId);
    if (!info || info->videoId != videoId) {
        // Gone already (closed by an earlier DELETE, by the client or elsewhere): a repeated
        // DELETE succeeds; an id that was never issued for this video stays unknown.
        if (issuedSubscriptionId(subscriptionId, videoId))
            return;
        throw notFound("subscription");
    }
    if (!info->userId.empty()) {
        if (!caller)
            throw unauthorized("this subscription was opened with a token; send that user's token");
        if (caller->userId != info->userId && caller->role != Role::Moderator)
            throw forbidden("this subscription belongs to another user");
    }
    m_engine->close(subscriptionId); // false: closed meanwhile, which is the same outcome
    streamLog().debug("stream %s: DELETE", subscriptionId);
}

std::string LiveService::ingestRegionBatch(const std::string& region, const std::string& timestamp,
    const std::string& signature, const std::string& body)
{
    if (!m_relay)
        throw notFound("route");
    std::vector<store::RegionEvent> events;
    try {
        m_relay->verify(region, timestamp, signature, body);
        std::string sender;
        try {
            events = store::decodeRegionBatch(body, sender);
        } catch (const std::invalid_argument& e) {
            throw ApiError(ErrorKind::BadRequest, "bad_request", e.what());
        }
        if (sender != region)
            throw ApiError(
                ErrorKind::BadRequest, "bad_request", "the body's region is not X-LC-Region");
    } catch (const ApiError&) {
        m_relay->noteRejected();
        throw;
    }
    std::size_t applied = 0;
    try {
        // Fanned out like local writes (onCommitted, with the origin set: never relayed again).
        applied = m_store->applyReplicated(events);
    } catch (const ApiError&) {
        m_relay->noteRejected();
        throw;
    }
    m_relay->noteIngested(applied, events.size() - applied);
    return regionIngestJson(events.size(), applied);
}

void LiveService::failForTest()
{
    throw std::runtime_error("test hook: forced failure");
}

// --- wiring -------------------------------------------------------------------------------------

void LiveService::onCommitted(const std::vector<store::CommitEvent>& events)
{
    if (m_relay) {
        // Local writes have relay rows now (same transaction): let the peer threads send them.
        if (std::any_of(
                events.begin(), events.end(), [](const auto& e) { return e.origin.empty(); }))
            m_relay->wake();
    }
    for (const auto& e : events) {
        bus::BusEvent b;
        b.videoId = e.videoId;
        switch (e.type) {
        case store::CommitEvent::Type::VideoCreated:
            m_cache.createEmpty(e.videoId);
            continue;
        case store::CommitEvent::Type::CommentAdded:
            b.type = bus::BusEvent::Type::Comment;
            b.commentId = e.comment.id;
            b.json = commentJson(e.comment);
            b.prevId = e.prevId;
            b.chained = e.chained;
            break;
        case store::CommitEvent::Type::CommentDeleted:
            b.type = bus::BusEvent::Type::Deleted;
            b.commentId = e.comment.id;
            break;
        case store::CommitEvent::Type::VideoEnded:
            b.type = bus::BusEvent::Type::VideoEnded;
            break;
        }
        if (m_redisBus) {
            // The bus does not hand a node its own events: fan out here (in chain order: a
            // predecessor committed on another node may still be on its way), and publish for
            // the other nodes.
            m_chain->submit(b);
        }
        m_bus->publish(b);
    }
}

void LiveService::onBusEvent(const bus::BusEvent& e)
{
    switch (e.type) {
    case bus::BusEvent::Type::Comment: {
        auto frame = makeFrame(e.commentId, commentFrame(e.commentId, e.json));
        m_cache.append(e.videoId, cache::CachedComment { e.commentId, e.json, frame });
        if (m_settings.viewerRateCap > 0) {
            // The role travels inside the comment JSON, so this is the same decision on every
            // node, for bus events, gap fills and relayed comments alike.
            const Author author = authorOf(e.json);
            m_engine->publishComment(e.videoId, std::move(frame), author.userId,
                privilegedAuthor(e.videoId, author.userId, author.role));
        } else {
            m_engine->publish(e.videoId, std::move(frame));
        }
        break;
    }
    case bus::BusEvent::Type::Deleted:
        m_cache.remove(e.videoId, e.commentId);
        m_engine->publish(e.videoId, makeFrame(0, eventFrame("deleted", deletedJson(e.commentId))));
        break;
    case bus::BusEvent::Type::VideoEnded:
        m_cache.drop(e.videoId);
        m_engine->publish(e.videoId, makeFrame(0, eventFrame("ended", endedJson(e.videoId))));
        break;
    }
}

void LiveService::onStatsTick()
{
    std::vector<std::uint32_t> videos;
    {
        std::lock_guard lock(m_activeMutex);
        videos.assign(m_activeVideos.begin(), m_activeVideos.end());
    }
    for (const auto videoId : videos) {
        std::uint64_t viewers = m_engine->viewers(videoId);
        if (m_redisBus) {
            // Never Redis I/O on a fan-out loop: the cluster thread keeps these fresh.
            std::lock_guard lock(m_clusterMutex);
            if (auto it = m_clusterCounts.find(videoId); it != m_clusterCounts.end())
                viewers = std::max(viewers, it->second.first);
        }
        // The engine sends it to each stream at that stream's own time in the interval.
        m_engine->setStats(videoId, statsJson(viewers));
    }
}

void LiveService::noteStreamer(const Video& video)
{
    if (m_settings.viewerRateCap <= 0)
        return;
    std::lock_guard lock(m_streamersMutex);
    if (m_streamers.size() >= 100000)
        m_streamers.clear();
    m_streamers[video.id] = video.streamerId;
}

bool LiveService::privilegedAuthor(std::uint32_t videoId, const std::string& userId, Role role)
{
    // A moderator moderates every video. A streamer token is privileged only on the video the
    // user streams: on someone else's video that user is one voice of the crowd
    // (docs/fanout.md). The video's streamer is known from any stream's opening, so on every
    // node with viewers.
    if (role == Role::Moderator)
        return true;
    if (userId.empty())
        return false;
    std::lock_guard lock(m_streamersMutex);
    const auto streamer = m_streamers.find(videoId);
    return streamer != m_streamers.end() && streamer->second == userId;
}

// --- cluster ------------------------------------------------------------------------------------

std::optional<ChainDelivery::Fill> LiveService::readGap(
    std::uint32_t videoId, std::uint64_t afterId)
{
    try {
        ChainDelivery::Fill fill;
        // The head first: every chained comment up to it that still exists is in the read below.
        fill.head = m_store->chainHead(videoId);
        for (const auto& c : m_store->commentsAfter(videoId, afterId, kReplayReadCap)) {
            bus::BusEvent e;
            e.videoId = videoId;
            e.commentId = c.id;
            e.json = commentJson(c);
            fill.comments.push_back(std::move(e));
        }
        return fill;
    } catch (const std::exception& err) {
        Poco::Logger::get("livecomments.cluster")
            .error("gap fill of video %u failed: %s", videoId, std::string(err.what()));
        return std::nullopt;
    }
}

void LiveService::checkChains(const std::vector<std::uint32_t>& videos)
{
    for (const auto videoId : videos) {
        try {
            // An event the bus never carried (its publisher died between commit and SPUBLISH,
            // Redis dropped it) leaves the store's head ahead of this node: found here.
            const std::uint64_t head = m_store->chainHead(videoId);
            if (m_chain->tracking(videoId))
                m_chain->expect(videoId, head);
            else if (m_engine->viewers(videoId) > 0)
                m_chain->track(videoId, head);
        } catch (const std::exception& err) {
            Poco::Logger::get("livecomments.cluster")
                .error("chain check of video %u failed: %s", videoId, std::string(err.what()));
        }
    }
}

void LiveService::clusterLoop()
{
    const auto refresh = std::chrono::milliseconds(1000);
    auto nextRefresh = std::chrono::steady_clock::now();
    std::unique_lock lock(m_clusterMutex);
    while (!m_clusterStopping) {
        m_clusterWake.wait_until(
            lock, nextRefresh, [this] { return m_clusterStopping || m_checksAdded; });
        if (m_clusterStopping)
            break;
        m_checksAdded = false;
        std::vector<std::uint32_t> checks;
        const std::int64_t now = wallClockMs();
        for (auto it = m_pendingChecks.begin(); it != m_pendingChecks.end();) {
            if (it->second <= now) {
                checks.push_back(it->first);
                it = m_pendingChecks.erase(it);
            } else {
                ++it;
            }
        }
        lock.unlock();
        checkChains(checks);
        std::vector<std::uint32_t> videos;
        {
            std::lock_guard active(m_activeMutex);
            videos.assign(m_activeVideos.begin(), m_activeVideos.end());
        }
        const bool countsDue = std::chrono::steady_clock::now() >= nextRefresh;
        if (countsDue) {
            // The sweep: a chain that stopped short of the store's head is filled within a
            // second (plus the gap wait).
            checkChains(videos);
            for (const auto videoId : videos)
                m_cluster.counts->setLocalCount(videoId, m_engine->viewers(videoId));
            auto totals = m_cluster.counts->clusterCounts(videos);
            lock.lock();
            if (totals) {
                for (const auto& [videoId, n] : *totals)
                    m_clusterCounts[videoId] = { n, now };
            }
            nextRefresh = std::chrono::steady_clock::now() + refresh;
        } else {
            lock.lock();
        }
        if (!m_pendingChecks.empty())
            nextRefresh = std::min(
                nextRefresh, std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
    }
}

std::map<std::uint32_t, std::uint64_t> LiveService::viewerCounts(
    const std::vector<std::uint32_t>& videos)
{
    std::map<std::uint32_t, std::uint64_t> out;
    for (const auto videoId : videos)
        out[videoId] = m_engine->viewers(videoId);
    if (!m_redisBus || videos.empty())
        return out;
    // Cluster totals younger than a second are served from the cache; the rest are read from
    // Redis in one round trip pair (bounded by its I/O timeout; local counts if Redis is away).
    const std::int64_t now = wallClockMs();
    std::vector<std::uint32_t> missing;
    {
        std::lock_guard lock(m_clusterMutex);
        for (const auto videoId : videos) {
            auto it = m_clusterCounts.find(videoId);
            if (it != m_clusterCounts.end() && now - it->second.second < 1000)
                out[videoId] = it->second.first;
            else
                missing.push_back(videoId);
        }
    }
    // While Redis is away a request must not wait for its I/O timeout: local counts (or the
    // last cluster totals above) instead.
    if (missing.empty() || !m_redisBus->healthy())
        return out;
    if (auto totals = m_cluster.counts->clusterCounts(missing)) {
        std::lock_guard lock(m_clusterMutex);
        for (const auto videoId : missing) {
            const auto it = totals->find(videoId);
            const std::uint64_t n = it == totals->end() ? 0 : it->second;
            m_clusterCounts[videoId] = { n, now };
            out[videoId] = n;
        }
    }
    return out;
}

std::uint64_t LiveService::viewerCount(std::uint32_t videoId)
{
    return viewerCounts({ videoId })[videoId];
}

std::string LiveService::healthJson() const
{
    if (!m_redisBus)
        return server::healthJson();
    // 200 either way: a node with Redis away still serves its own viewers and posts (other nodes
    // catch up from the store), so a load balancer must keep routing to it.
    return clusterHealthJson(m_redisBus->healthy(), m_settings.nodeId);
}

std::string LiveService::renderMetrics()
{
    const auto s = m_engine->stats();
    metrics::ExternalGauges g;
    g.openStreams = s.openStreams;
    g.deliveries = s.deliveries;
    g.slowDisconnects = s.slowDisconnects;
    g.clientDisconnects = s.clientDisconnects;
    g.heartbeats = s.heartbeats;
    g.bytesWritten = s.bytesWritten;
    g.framesPublished = s.framesPublished;
    g.nodeId = m_settings.nodeId;
    if (m_redisBus) {
        g.clustered = true;
        g.busUp = m_redisBus->healthy();
        g.busReconnects = m_redisBus->reconnects();
        g.busMessagesIn = m_redisBus->messagesIn();
        g.busMessagesOut = m_redisBus->messagesOut();
        g.busPublishFailures = m_redisBus->publishFailures();
        g.gapFills = m_chain->filledComments();
        g.chainGapFills = m_chain->chainGapFills();
        g.lateComments = m_chain->late();
        g.duplicatesDropped = m_chain->duplicates();
        g.leaseRenewFailures = m_cluster.lease->renewFailures();
        g.countWriteFailures = m_cluster.counts->writeFailures();
    }
    std::string text = m_metrics.render(g);
    if (m_relay)
        text += m_relay->renderMetrics();
    if (m_extraMetrics)
        text += m_extraMetrics();
    return text;
}

} // namespace livecomments::server
