// SPDX-License-Identifier: MIT
#include "client/timeline_impl.h"

#include "client/wire.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace livecomments::detail {

namespace {
bool byId(const Comment& a, const Comment& b)
{
    return a.id < b.id;
}
} // namespace

TimelineImpl::TimelineImpl(std::shared_ptr<ClientCore> core, VideoId video, TimelineOptions options,
    TimelineCallbacks callbacks)
    : m_core(std::move(core))
    , m_video(video)
    , m_options(options)
    , m_callbacks(std::move(callbacks))
    , m_backoff(m_core->config().backoff)
{
    m_options.pageSize = std::clamp(m_options.pageSize, 1, 200);
}

std::vector<Comment> TimelineImpl::snapshot() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    std::vector<Comment> out = m_seq;
    out.insert(out.end(), m_own.begin(), m_own.end());
    return out;
}

std::size_t TimelineImpl::size() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_seq.size() + m_own.size();
}

TimelineStatus TimelineImpl::status() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_status;
}

void TimelineImpl::publishStatus()
{
    TimelineStatus s;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        s = m_status;
    }
    if (m_callbacks.onStatus) {
        auto cb = m_callbacks.onStatus;
        m_core->deliver(m_gate, [cb, s] { cb(s); });
    }
}

void TimelineImpl::emit(TimelineChange change)
{
    if (m_callbacks.onChange) {
        auto cb = m_callbacks.onChange;
        m_core->deliver(m_gate, [cb, change = std::move(change)] { cb(change); });
    }
}

std::chrono::milliseconds TimelineImpl::retryDelay(const Error& e)
{
    auto d = m_backoff.nextDelay();
    if (e.retryAfterMs > d.count())
        d = std::chrono::milliseconds(e.retryAfterMs);
    return d;
}

void TimelineImpl::onRequestFailed(const Error& e, void (TimelineImpl::*retry)())
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_status.lastError = e;
        if (!e.isRecoverable() && retry == &TimelineImpl::fetchFillPage)
            m_status.fillingGap = false; // give up; the hole stays (lastError says why)
    }
    publishStatus();
    if (!e.isRecoverable())
        return;
    auto weak = weak_from_this();
    m_core->loop().addTimer(retryDelay(e), [weak, retry] {
        if (auto self = weak.lock(); self && !self->m_closed)
            ((*self).*retry)();
    });
}

void TimelineImpl::startOnLoop()
{
    if (m_closed)
        return;
    CommentId newest = 0;
    if (useCache()) {
        m_core->cache()->touch(m_video);
        m_core->cache()->setOpen(m_video, true);
        if (auto slice = m_core->cache()->newest(m_video, m_options.pageSize)) {
            // Instant display of what we had; then catch up with the present.
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_status.atBeginning = slice->reachesBeginning;
            }
            insert(std::move(slice->comments));
            if (!m_seq.empty())
                newest = m_seq.back().id;
            m_revalidateOnHello = newest;
            if (newest || m_status.atBeginning) {
                m_initialRequested = true;
                publishStatus();
                markReady();
            }
        }
    }
    if (m_options.pendingPosts) {
        // Posts queued before this timeline opened (also those restored from the cache).
        for (const auto& e : m_core->pendingPosts())
            outboxChangedOnLoop(e);
    }
    if (m_options.live) {
        startLive(newest);
    } else if (!m_ready) {
        initialLoad();
    } else if (newest) {
        startFill(newest);
    }
}

void TimelineImpl::startLive(CommentId resumeAfter)
{
    auto weak = weak_from_this();
    SubscriptionCallbacks sink;
    sink.onStatus = [weak](const StreamStatus& s) {
        auto self = weak.lock();
        if (self && s.state != StreamState::Live)
            self->flushReplay(); // the connection is gone: what came of the replay is complete
        if (self && self->m_callbacks.onStreamStatus) {
            auto cb = self->m_callbacks.onStreamStatus;
            self->m_core->deliver(self->m_gate, [cb, s] { cb(s); });
        }
    };
    sink.onHello = [weak](const Hello& h) {
        auto self = weak.lock();
        if (self && self->m_ready && h.resumed && h.lastIdKnown && h.lastId > self->newestId()) {
            // The replay that follows ends with the video's newest id: merge it as one change.
            // The timer only bounds the wait should that comment have been deleted meanwhile.
            self->flushReplay();
            self->m_replayUntil = h.lastId;
            auto w = self->weak_from_this();
            self->m_replayTimer
                = self->m_core->loop().addTimer(std::chrono::milliseconds(1000), [w] {
                      if (auto t = w.lock()) {
                          t->m_replayTimer = 0;
                          t->flushReplay();
                      }
                  });
        }
        if (self && self->m_revalidateOnHello) {
            // The server is reachable: check the page the cache showed (deleted meanwhile?).
            self->revalidate(std::exchange(self->m_revalidateOnHello, 0) + 1);
        }
        if (self && !self->m_initialRequested) {
            self->m_initialRequested = true;
            self->initialLoad();
        }
    };
    sink.onComment = [weak](const Comment& c) {
        auto self = weak.lock();
        if (!self || self->m_closed)
            return;
        if (!self->m_ready) {
            self->m_pendingLive.push_back(c);
            return;
        }
        self->addLive(c);
    };
    sink.onDeleted = [weak](CommentId id) {
        if (auto self = weak.lock()) {
            self->flushReplay();
            self->remove(id);
        }
    };
    sink.onReset = [weak](const std::string&) {
        auto self = weak.lock();
        if (!self || self->m_closed)
            return;
        self->flushReplay();
        if (!self->m_ready) {
            self->m_fillAfterReady = true;
            return;
        }
        // An empty timeline fills from the beginning: anything may have been missed.
        self->startFill(self->newestId());
    };
    sink.onViewers = [weak](std::int64_t n) {
        auto self = weak.lock();
        if (self && self->m_callbacks.onViewers) {
            auto cb = self->m_callbacks.onViewers;
            self->m_core->deliver(self->m_gate, [cb, n] { cb(n); });
        }
    };
    sink.onEnded = [weak](VideoId video) {
        auto self = weak.lock();
        if (self && self->m_callbacks.onEnded) {
            auto cb = self->m_callbacks.onEnded;
            self->m_core->deliver(self->m_gate, [cb, video] { cb(video); });
        }
    };
    SubscriptionOptions opts;
    opts.resumeAfter = resumeAfter;
    m_sub = SubscriptionImpl::acquireOnLoop(m_core, m_video, opts);
    m_listener = m_sub->addListenerOnLoop(std::move(sink), resumeAfter);
    m_sub->startOnLoop();
}

void TimelineImpl::initialLoad()
{
    if (m_closed)
        return;
    m_netPages++;
    HistoryQuery q;
    q.limit = m_options.pageSize;
    auto weak = weak_from_this();
    m_core->fetchHistoryOnLoop(m_video, q, [weak](Result<HistoryPage> r) {
        auto self = weak.lock();
        if (!self || self->m_closed)
            return;
        if (!r)
            return self->onRequestFailed(r.error(), &TimelineImpl::initialLoad);
        self->m_backoff.reset();
        HistoryPage& page = *r;
        {
            std::lock_guard<std::mutex> lock(self->m_mutex);
            self->m_status.atBeginning = !page.nextCursor;
            self->m_status.lastError.reset();
        }
        if (self->useCache())
            self->m_core->cache()->storeComments(self->m_video, page.comments);
        self->insert(std::move(page.comments));
        self->becomeReady();
    });
}

CommentId TimelineImpl::newestId() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_seq.empty() ? 0 : m_seq.back().id;
}

void TimelineImpl::markReady()
{
    m_ready = true;
    if (m_callbacks.onReady) {
        auto cb = m_callbacks.onReady;
        m_core->deliver(m_gate, [cb] { cb(); });
    }
    if (!m_olderWaiters.empty())
        loadOlderOnLoop(); // asked before the first page was in
}

void TimelineImpl::finishOlder(const Result<std::size_t>& result)
{
    auto waiters = std::move(m_olderWaiters);
    m_olderWaiters.clear();
    for (auto& w : waiters)
        m_core->deliver(m_gate, [w, result] { w(result); });
}

void TimelineImpl::loadOlderOnLoop(std::function<void(Result<std::size_t>)> onDone)
{
    if (onDone)
        m_olderWaiters.push_back(std::move(onDone));
    loadOlderOnLoop();
}

void TimelineImpl::becomeReady()
{
    m_ready = true;
    // A gap lies after the history, not after the live comments that arrived meanwhile:
    // remember where the history ends before merging them.
    const CommentId historyEnd = newestId();
    auto pending = std::move(m_pendingLive);
    m_pendingLive.clear();
    if (useCache())
        m_core->cache()->storeComments(m_video, pending);
    insert(std::move(pending));
    recordSegment();
    publishStatus();
    markReady();
    // A live timeline always catches up after the first page: the stream's starting point is
    // not tied to the page (the page was read after hello, the stream may have started earlier
    // or later, or reset meanwhile), so whatever lies between the two is fetched with `after=`.
    if (m_options.live || m_fillAfterReady) {
        m_fillAfterReady = false;
        startFill(historyEnd);
    }
    maybePrefetch();
}

void TimelineImpl::startFill(CommentId from)
{
    if (m_closed)
        return;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_status.fillingGap) {
            m_refill = true; // a new gap opened while filling: go on from where we are
            return;
        }
        m_status.fillingGap = true;
    }
    m_fillCursor = from;
    publishStatus();
    fetchFillPage();
}

void TimelineImpl::fetchFillPage()
{
    HistoryQuery q;
    q.after = std::to_string(std::max<CommentId>(m_fillCursor, 1)); // ids start above 0
    q.limit = 200;
    auto weak = weak_from_this();
    m_core->fetchHistoryOnLoop(m_video, q, [weak](Result<HistoryPage> r) {
        auto self = weak.lock();
        if (!self || self->m_closed)
            return;
        if (!r)
            return self->onRequestFailed(r.error(), &TimelineImpl::fetchFillPage);
        self->m_backoff.reset();
        HistoryPage& page = *r;
        for (const auto& c : page.comments)
            self->m_fillCursor = std::max(self->m_fillCursor, c.id);
        if (self->useCache())
            self->m_core->cache()->storeComments(self->m_video, page.comments);
        self->insert(std::move(page.comments));
        if (page.nextCursor) {
            self->recordSegment();
            self->fetchFillPage();
            return;
        }
        bool again = false;
        {
            std::lock_guard<std::mutex> lock(self->m_mutex);
            again = self->m_refill;
            self->m_refill = false;
            if (!again)
                self->m_status.fillingGap = false;
            self->m_status.lastError.reset();
        }
        if (again) {
            self->fetchFillPage();
            return;
        }
        self->recordSegment();
        self->publishStatus();
    });
}

void TimelineImpl::insert(std::vector<Comment> comments, bool settle)
{
    if (settle && !m_own.empty())
        comments = settleEchoes(std::move(comments));
    if (comments.empty())
        return;
    std::sort(comments.begin(), comments.end(), byId);
    comments.erase(std::unique(comments.begin(), comments.end(),
                       [](const Comment& a, const Comment& b) { return a.id == b.id; }),
        comments.end());
    std::vector<TimelineChange> changes;
    std::size_t insertedBeforeReader = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        std::vector<Comment> merged;
        merged.reserve(m_seq.size() + comments.size());
        std::size_t i = 0, j = 0;
        bool lastFresh = false;
        while (i < m_seq.size() || j < comments.size()) {
            const bool takeOld
                = j >= comments.size() || (i < m_seq.size() && m_seq[i].id <= comments[j].id);
            if (takeOld) {
                if (j < comments.size() && m_seq[i].id == comments[j].id)
                    ++j; // duplicate: keep ours
                merged.push_back(std::move(m_seq[i++]));
                lastFresh = false;
                continue;
            }
            if (!lastFresh) {
                TimelineChange c;
                c.kind = TimelineChange::Kind::Inserted;
                c.index = merged.size();
                changes.push_back(std::move(c));
            }
            if (m_reader != kNoReader && i <= m_reader)
                ++insertedBeforeReader;
            changes.back().comments.push_back(comments[j]);
            changes.back().count++;
            merged.push_back(std::move(comments[j++]));
            lastFresh = true;
        }
        m_seq = std::move(merged);
    }
    if (m_reader != kNoReader)
        m_reader += insertedBeforeReader;
    for (auto& c : changes)
        emit(std::move(c));
}

void TimelineImpl::addLive(const Comment& c)
{
    if (m_replayUntil) {
        m_replayBatch.push_back(c);
        if (c.id >= m_replayUntil)
            flushReplay();
        return;
    }
    if (useCache())
        m_core->cache()->storeComments(m_video, { c });
    insert({ c });
    recordSegment();
}

void TimelineImpl::flushReplay()
{
    if (m_replayTimer)
        m_core->loop().cancelTimer(std::exchange(m_replayTimer, 0));
    m_replayUntil = 0;
    auto batch = std::move(m_replayBatch);
    m_replayBatch.clear();
    if (batch.empty() || m_closed)
        return;
    if (useCache())
        m_core->cache()->storeComments(m_video, batch);
    insert(std::move(batch));
    recordSegment();
}

namespace {
std::string trimmed(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}
} // namespace

std::vector<Comment> TimelineImpl::settleEchoes(std::vector<Comment> comments)
{
    // The echo carries no outbox key: it is ours when our user wrote that very text. The oldest
    // pending post with it is the one the server stored first (the outbox sends in order).
    std::vector<Comment> rest;
    for (auto& c : comments) {
        std::optional<std::size_t> match;
        if (c.user.id == m_core->ownerUser()) {
            std::lock_guard<std::mutex> lock(m_mutex);
            for (std::size_t k = 0; k < m_own.size() && !match; ++k) {
                if (m_own[k].pending && trimmed(m_own[k].text) == c.text)
                    match = k;
            }
        }
        if (match)
            settleOwn(*match, std::move(c));
        else
            rest.push_back(std::move(c));
    }
    return rest;
}

void TimelineImpl::settleOwn(std::size_t k, Comment stored)
{
    TimelineChange change;
    bool merge = false;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        const std::size_t at = m_seq.size() + k;
        const auto pos = std::lower_bound(m_seq.begin(), m_seq.end(), stored.id,
            [](const Comment& c, CommentId v) { return c.id < v; });
        const bool known = pos != m_seq.end() && pos->id == stored.id;
        m_own.erase(m_own.begin() + static_cast<std::ptrdiff_t>(k));
        if (!known && k == 0 && pos == m_seq.end()) {
            // Where the pending post stood is where the stored one sorts: replace in place.
            change.kind = TimelineChange::Kind::Updated;
            change.index = at;
            change.count = 1;
            change.comments = { stored };
            m_seq.push_back(stored);
        } else {
            change.kind = TimelineChange::Kind::Removed;
            change.index = at;
            change.count = 1;
            merge = !known;
        }
    }
    emit(std::move(change));
    if (useCache() && m_ready)
        m_core->cache()->storeComments(m_video, { stored });
    if (merge)
        insert({ std::move(stored) }, false);
}

void TimelineImpl::outboxChangedOnLoop(const OutboxEntry& e)
{
    if (!m_options.pendingPosts || m_closed || e.videoId != m_video)
        return;
    std::optional<std::size_t> k;
    std::size_t base = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        base = m_seq.size();
        for (std::size_t i = 0; i < m_own.size() && !k; ++i) {
            if (m_own[i].localId == e.key)
                k = i;
        }
    }
    if (e.state == PostState::Sent) {
        if (!e.comment)
            return;
        if (k) {
            settleOwn(*k, *e.comment);
        } else if (m_ready) {
            insert({ *e.comment }, false); // settled by its echo already: deduplicated
        }
        return;
    }
    TimelineChange change;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (e.state == PostState::Pending) {
            if (k)
                return; // a retry of a post already shown
            Comment c;
            c.videoId = m_video;
            c.text = e.text;
            c.pending = true;
            c.localId = e.key;
            m_own.push_back(c);
            change.kind = TimelineChange::Kind::Inserted;
            change.index = base + m_own.size() - 1;
            change.count = 1;
            change.comments = { c };
        } else {
            if (!k || m_own[*k].failed)
                return;
            m_own[*k].pending = false;
            m_own[*k].failed = true;
            change.kind = TimelineChange::Kind::Updated;
            change.index = base + *k;
            change.count = 1;
            change.comments = { m_own[*k] };
        }
    }
    emit(std::move(change));
}

void TimelineImpl::remove(CommentId id)
{
    if (m_closed)
        return;
    if (useCache())
        m_core->cache()->removeComment(m_video, id);
    std::size_t index = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        auto it = std::lower_bound(
            m_seq.begin(), m_seq.end(), id, [](const Comment& c, CommentId v) { return c.id < v; });
        if (it == m_seq.end() || it->id != id)
            return;
        index = static_cast<std::size_t>(it - m_seq.begin());
        m_seq.erase(it);
    }
    if (m_reader != kNoReader && index < m_reader)
        --m_reader;
    TimelineChange c;
    c.kind = TimelineChange::Kind::Removed;
    c.index = index;
    c.count = 1;
    emit(std::move(c));
}

void TimelineImpl::recordSegment()
{
    if (!useCache() || !m_ready)
        return;
    CommentId lo = 0, hi = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        if (m_seq.empty())
            return;
        lo = m_status.atBeginning ? 1 : m_seq.front().id;
        hi = m_status.fillingGap ? m_fillCursor : m_seq.back().id;
    }
    if (lo <= hi)
        m_core->cache()->addSegment(m_video, lo, hi);
    m_core->cache()->enforceLimit();
}

void TimelineImpl::revalidate(CommentId before)
{
    if (m_closed || !useCache() || before <= 1)
        return;
    const std::string query
        = "before=" + std::to_string(before) + "&limit=" + std::to_string(m_options.pageSize);
    HttpRequest req
        = m_core->makeRequest("GET", "/videos/" + std::to_string(m_video) + "/comments?" + query);
    req.headers.emplace_back("Accept", "application/json");
    const std::string etag = m_core->cache()->pageEtag(m_video, query);
    if (!etag.empty())
        req.headers.emplace_back("If-None-Match", etag);
    auto weak = weak_from_this();
    TransferCallbacks cbs;
    cbs.onDone = [weak, query, before](TransferResult& r) {
        auto self = weak.lock();
        // Best effort: offline or failing, the next open or page revalidates again.
        if (!self || self->m_closed || r.error || r.response.status != 200)
            return;
        auto page = parseHistoryPage(r.response.body);
        if (!page)
            return;
        self->m_core->cache()->setPageEtag(self->m_video, query, r.response.header("etag"));
        // The page covers [its oldest id, before) — or everything below `before` when it is the
        // last one. Whatever we hold there and the server does not is gone.
        CommentId lo = 1;
        std::unordered_set<CommentId> present;
        for (const auto& c : page->comments) {
            present.insert(c.id);
            if (page->nextCursor)
                lo = lo == 1 ? c.id : std::min(lo, c.id);
        }
        std::vector<CommentId> gone;
        {
            std::lock_guard<std::mutex> lock(self->m_mutex);
            for (const auto& c : self->m_seq) {
                if (c.id >= lo && c.id < before && !present.count(c.id))
                    gone.push_back(c.id);
            }
        }
        for (CommentId id : gone)
            self->remove(id);
        self->m_core->cache()->storeComments(self->m_video, page->comments);
        self->insert(std::move(page->comments));
    };
    m_core->startRequest(std::move(req), std::move(cbs));
}

void TimelineImpl::maybePrefetch()
{
    if (m_reader != kNoReader && m_reader < m_options.prefetchDistance)
        loadOlderOnLoop();
}

void TimelineImpl::setReaderIndexOnLoop(std::size_t index)
{
    m_reader = index;
    maybePrefetch();
}

void TimelineImpl::setReaderIdOnLoop(CommentId id)
{
    std::size_t index = 0;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        index = static_cast<std::size_t>(std::lower_bound(m_seq.begin(), m_seq.end(), id,
                                             [](const Comment& c, CommentId v) { return c.id < v; })
            - m_seq.begin());
    }
    setReaderIndexOnLoop(index);
}

void TimelineImpl::loadOlderOnLoop()
{
    CommentId oldest = 0;
    bool nothingOlder = false;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        // Not ready: markReady() comes back here; in flight: its answer serves every waiter.
        if (m_closed || !m_ready || m_status.loadingOlder)
            return;
        nothingOlder = m_status.atBeginning || m_seq.empty();
        if (!nothingOlder)
            oldest = m_seq.front().id;
    }
    if (nothingOlder) {
        finishOlder(std::size_t(0));
        return;
    }
    if (useCache()) {
        if (auto slice = m_core->cache()->olderThan(m_video, oldest, m_options.pageSize)) {
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_status.atBeginning = slice->reachesBeginning;
            }
            const std::size_t before = size();
            insert(std::move(slice->comments));
            publishStatus();
            finishOlder(size() - before);
            revalidate(oldest);
            maybePrefetch();
            return;
        }
    }
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_status.loadingOlder = true;
    }
    publishStatus();
    m_netPages++;
    HistoryQuery q;
    q.before = std::to_string(oldest);
    q.limit = m_options.pageSize;
    auto weak = weak_from_this();
    m_core->fetchHistoryOnLoop(m_video, q, [weak](Result<HistoryPage> r) {
        auto self = weak.lock();
        if (!self || self->m_closed)
            return;
        {
            std::lock_guard<std::mutex> lock(self->m_mutex);
            self->m_status.loadingOlder = false;
            if (r) {
                self->m_status.atBeginning = !r->nextCursor;
                self->m_status.lastError.reset();
            } else {
                self->m_status.lastError = r.error();
            }
        }
        std::size_t added = 0;
        if (r) {
            if (self->useCache())
                self->m_core->cache()->storeComments(self->m_video, r->comments);
            const std::size_t before = self->size();
            self->insert(std::move(r->comments));
            added = self->size() - before;
            self->recordSegment();
        }
        self->publishStatus();
        self->finishOlder(r ? Result<std::size_t>(added) : Result<std::size_t>(r.error()));
        if (r)
            self->maybePrefetch();
    });
}

void TimelineImpl::closeOnLoop()
{
    if (m_closed)
        return;
    m_closed = true;
    if (m_replayTimer)
        m_core->loop().cancelTimer(std::exchange(m_replayTimer, 0));
    if (m_sub && m_listener)
        m_sub->removeListenerOnLoop(std::exchange(m_listener, 0));
    if (useCache())
        m_core->cache()->setOpen(m_video, false);
}

} // namespace livecomments::detail
