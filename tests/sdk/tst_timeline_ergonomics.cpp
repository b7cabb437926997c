// SPDX-License-Identifier: MIT
// Timeline ergonomics against the real server: own posts shown at once as pending and reconciled
// by id (online, offline then online, failed for good), a resume's replay delivered as one
// change, and one shared stream per video inside a Client (counted by the server's viewers);
// the author's role (user.role) through history, the live stream and the cache.
#include "sdk_server_fixture.h"
#include "sdk_test_util.h"

#include <QtTest>

using namespace livecomments;

namespace {
/// Applies a timeline's changes in order to its own copy (what a list model does) and records
/// them.
struct Model {
    std::vector<Comment> rows;
    std::vector<TimelineChange> changes;
    bool ready = false;
    std::optional<StreamState> stream;
    TimelineCallbacks callbacks()
    {
        TimelineCallbacks cbs;
        cbs.onReady = [this] { ready = true; };
        cbs.onStreamStatus = [this](const StreamStatus& s) { stream = s.state; };
        cbs.onChange = [this](const TimelineChange& c) {
            changes.push_back(c);
            const auto at = rows.begin() + static_cast<std::ptrdiff_t>(c.index);
            switch (c.kind) {
            case TimelineChange::Kind::Inserted:
                rows.insert(at, c.comments.begin(), c.comments.end());
                break;
            case TimelineChange::Kind::Removed:
                rows.erase(at, at + static_cast<std::ptrdiff_t>(c.count));
                break;
            case TimelineChange::Kind::Updated:
                std::copy(c.comments.begin(), c.comments.end(), at);
                break;
            case TimelineChange::Kind::Reset:
                rows = c.comments;
                break;
            }
        };
        return cbs;
    }
    int countText(const std::string& text) const
    {
        return static_cast<int>(std::count_if(
            rows.begin(), rows.end(), [&](const Comment& c) { return c.text == text; }));
    }
    const Comment* find(const std::string& text) const
    {
        for (const auto& c : rows) {
            if (c.text == text)
                return &c;
        }
        return nullptr;
    }
    bool live() const { return stream == StreamState::Live; }
    /// A timeline of @p video that shows own posts as pending, feeding this model.
    Result<std::unique_ptr<Timeline>> openWithPendingPosts(Client& client, VideoId video)
    {
        TimelineOptions opts;
        opts.pendingPosts = true;
        return client.openTimeline(video, callbacks(), opts);
    }
};
} // namespace

class TstTimelineErgonomics : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void ownPostPendingThenStored();
    void offlinePostPendingThenReconciledOnce();
    void rejectedPostMarkedFailed();
    void replayIsOneChange();
    void oneStreamPerVideo();
    void authorRoleEndToEnd();

private:
    std::unique_ptr<Client> client(const QUrl& base);

    sdktest::ServerFixture m_fx;
};

void TstTimelineErgonomics::init()
{
    QVERIFY(m_fx.start("ergonomics"));
}

void TstTimelineErgonomics::cleanup()
{
    m_fx.stop();
}

std::unique_ptr<Client> TstTimelineErgonomics::client(const QUrl& base)
{
    auto c = Client::create(sdktest::testConfig(base, m_fx.token));
    if (!c)
        qWarning("%s", qPrintable(sdktest::describe(c.error())));
    return c ? std::move(*c) : nullptr;
}

void TstTimelineErgonomics::ownPostPendingThenStored()
{
    auto c = client(m_fx.server->baseUrl());
    QVERIFY(c);
    QCOMPARE(m_fx.post("first"), 201);
    Model model;
    auto timeline = model.openWithPendingPosts(*c, m_fx.video);
    QVERIFY(timeline);
    QTRY_VERIFY_WITH_TIMEOUT(model.ready && model.live() && model.find("first"), 15000);
    QTRY_VERIFY_WITH_TIMEOUT(!(*timeline)->status().fillingGap, 15000);

    std::optional<Comment> sent;
    const std::size_t before = model.changes.size();
    auto key = (*timeline)->post("mine", [&](const OutboxEntry& e) {
        if (e.state == PostState::Sent)
            sent = e.comment;
    });
    QVERIFY(key);
    // Shown at once (before the server could answer), after the newest comment.
    QTRY_VERIFY_WITH_TIMEOUT(model.changes.size() > before, 10000);
    const TimelineChange& shown = model.changes[before];
    QCOMPARE(shown.kind, TimelineChange::Kind::Inserted);
    QCOMPARE(shown.index, std::size_t(1));
    QVERIFY(shown.comments.at(0).pending);
    QCOMPARE(shown.comments.at(0).id, CommentId(0));
    QCOMPARE(shown.comments.at(0).localId, *key);

    QTRY_VERIFY_WITH_TIMEOUT(sent.has_value(), 15000);
    QTRY_VERIFY_WITH_TIMEOUT(model.find("mine") && !model.find("mine")->pending, 15000);
    QCOMPARE(model.find("mine")->id, sent->id);
    QVERIFY(model.find("mine")->localId.empty());
    // Replaced in place: one Updated at the pending post's index, nothing else for it.
    const TimelineChange& settled = model.changes[before + 1];
    QCOMPARE(settled.kind, TimelineChange::Kind::Updated);
    QCOMPARE(settled.index, std::size_t(1));
    // Its live echo came too (or came first); either way it is there once.
    QCOMPARE(m_fx.post("after"), 201);
    QTRY_VERIFY_WITH_TIMEOUT(model.find("after"), 15000);
    QCOMPARE(model.countText("mine"), 1);
    (*timeline)->close();
    QVERIFY(!(*timeline)->post("after close"));
    QCOMPARE(model.rows, (*timeline)->snapshot());
    QCOMPARE(m_fx.history(), (QStringList { "first", "mine", "after" }));
}

void TstTimelineErgonomics::offlinePostPendingThenReconciledOnce()
{
    m_fx.proxy->setRefusing(true);
    auto c = client(m_fx.proxy->baseUrl());
    QVERIFY(c);
    Model model;
    auto timeline = model.openWithPendingPosts(*c, m_fx.video);
    QVERIFY(timeline);
    auto key = c->post(m_fx.video, "typed offline");
    QVERIFY(key);
    QTRY_VERIFY_WITH_TIMEOUT(model.find("typed offline"), 10000);
    QVERIFY(model.find("typed offline")->pending);
    QCOMPARE(model.find("typed offline")->localId, *key);
    QVERIFY(!model.ready); // nothing from the server yet: only the pending post
    QCOMPARE(m_fx.history(), QStringList {});

    m_fx.proxy->setRefusing(false);
    QTRY_VERIFY_WITH_TIMEOUT(
        model.find("typed offline") && !model.find("typed offline")->pending, 30000);
    QVERIFY(model.find("typed offline")->id != 0);
    QTRY_VERIFY_WITH_TIMEOUT(model.live() && !(*timeline)->status().fillingGap, 15000);
    // Whatever the replay, the fill and the 201 brought: one row, and the server stored one.
    QCOMPARE(m_fx.post("later"), 201);
    QTRY_VERIFY_WITH_TIMEOUT(model.find("later"), 15000);
    QCOMPARE(model.countText("typed offline"), 1);
    QCOMPARE(model.rows, (*timeline)->snapshot());
    QCOMPARE(m_fx.history(), (QStringList { "typed offline", "later" }));
    for (const auto& row : model.rows)
        QVERIFY(!row.pending && !row.failed);
}

void TstTimelineErgonomics::rejectedPostMarkedFailed()
{
    auto c = client(m_fx.server->baseUrl());
    QVERIFY(c);
    Model model;
    auto timeline = model.openWithPendingPosts(*c, m_fx.video);
    QVERIFY(timeline);
    QTRY_VERIFY_WITH_TIMEOUT(model.ready, 15000);
    const std::string tooLong(600, 'x'); // the server allows 500 characters
    std::optional<OutboxEntry> failed;
    auto key = c->post(m_fx.video, tooLong, [&](const OutboxEntry& e) {
        if (e.state == PostState::Failed)
            failed = e;
    });
    QVERIFY(key);
    QTRY_VERIFY_WITH_TIMEOUT(failed.has_value(), 15000);
    QTRY_VERIFY_WITH_TIMEOUT(model.find(tooLong) && model.find(tooLong)->failed, 10000);
    QVERIFY(!model.find(tooLong)->pending);
    QCOMPARE(model.find(tooLong)->localId, *key);
    QCOMPARE(model.changes.back().kind, TimelineChange::Kind::Updated);
    QCOMPARE(model.countText(tooLong), 1);
}

void TstTimelineErgonomics::replayIsOneChange()
{
    auto c = client(m_fx.server->baseUrl());
    QVERIFY(c);
    QCOMPARE(m_fx.post("seen"), 201);
    Model model;
    auto timeline = c->openTimeline(m_fx.video, model.callbacks());
    QVERIFY(timeline);
    QTRY_VERIFY_WITH_TIMEOUT(model.ready && model.live() && model.find("seen"), 15000);
    QTRY_VERIFY_WITH_TIMEOUT(!(*timeline)->status().fillingGap, 15000);
    c->suspend();
    QTRY_VERIFY_WITH_TIMEOUT(!model.live(), 10000);
    QStringList missed;
    for (int i = 0; i < 10; ++i)
        missed << QStringLiteral("missed %1").arg(i);
    for (const auto& r :
        lctest::postComments(m_fx.server->baseUrl(), m_fx.token, m_fx.video, missed, 1))
        QCOMPARE(r.status, 201);
    const std::size_t before = model.changes.size();
    c->resume();
    QTRY_COMPARE_WITH_TIMEOUT(model.rows.size(), std::size_t(11), 15000);
    QCOMPARE(model.changes.size() - before, std::size_t(1));
    const TimelineChange& replay = model.changes.back();
    QCOMPARE(replay.kind, TimelineChange::Kind::Inserted);
    QCOMPARE(replay.index, std::size_t(1));
    QCOMPARE(replay.count, std::size_t(10));
    QCOMPARE(model.rows, (*timeline)->snapshot());
    // Live again: the next comment is a change of its own.
    QCOMPARE(m_fx.post("live"), 201);
    QTRY_COMPARE_WITH_TIMEOUT(model.rows.size(), std::size_t(12), 15000);
    QCOMPARE(model.changes.size() - before, std::size_t(2));
}

void TstTimelineErgonomics::oneStreamPerVideo()
{
    auto c = client(m_fx.server->baseUrl());
    QVERIFY(c);
    Model a, b;
    auto first = c->openTimeline(m_fx.video, a.callbacks());
    auto second = c->openTimeline(m_fx.video, b.callbacks());
    QStringList subTexts;
    SubscriptionCallbacks cbs;
    cbs.onComment = [&](const Comment& x) { subTexts << QString::fromStdString(x.text); };
    auto sub = c->subscribe(m_fx.video, cbs);
    QVERIFY(first && second && sub);
    QTRY_VERIFY_WITH_TIMEOUT(a.live() && b.live(), 15000);
    QTRY_COMPARE_WITH_TIMEOUT((*sub)->status().state, StreamState::Live, 15000);
    QTRY_COMPARE_WITH_TIMEOUT(m_fx.viewers(), 1, 10000);
    QCOMPARE(m_fx.post("to all"), 201);
    QTRY_VERIFY_WITH_TIMEOUT(a.find("to all") && b.find("to all"), 15000);
    QTRY_COMPARE_WITH_TIMEOUT(subTexts, QStringList { "to all" }, 15000);
    QCOMPARE(m_fx.viewers(), 1);

    // Another video has its own stream.
    const qint32 other = lctest::createVideo(m_fx.server->baseUrl(), m_fx.token, "other");
    Model o;
    auto third = c->openTimeline(other, o.callbacks());
    QTRY_VERIFY_WITH_TIMEOUT(o.live(), 15000);

    // Ref-counted: the stream stays while anyone uses it, and the last close ends it.
    (*first)->close();
    (*sub)->close();
    QCOMPARE(m_fx.post("still"), 201);
    QTRY_VERIFY_WITH_TIMEOUT(b.find("still"), 15000);
    QVERIFY(!a.find("still"));
    QCOMPARE(subTexts, QStringList { "to all" });
    QCOMPARE(m_fx.viewers(), 1);

    // Late openers join the running stream: a timeline gets the history before it from its
    // first page, a subscription asking for more than the stream resumed from is told to catch
    // up ("joined"); still one viewer.
    Model e;
    auto fifth = c->openTimeline(m_fx.video, e.callbacks());
    QTRY_VERIFY_WITH_TIMEOUT(e.live() && e.find("to all") && e.find("still"), 15000);
    QStringList resets;
    SubscriptionCallbacks late;
    late.onReset = [&](const std::string& r) { resets << QString::fromStdString(r); };
    SubscriptionOptions behind;
    behind.resumeAfter = b.find("to all")->id;
    auto lateSub = c->subscribe(m_fx.video, late, behind);
    QTRY_COMPARE_WITH_TIMEOUT(resets, QStringList { "joined" }, 10000);
    QCOMPARE(m_fx.viewers(), 1);
    (*fifth)->close();
    (*lateSub)->close();
    (*second)->close();
    QTRY_COMPARE_WITH_TIMEOUT(m_fx.viewers(), 0, 10000);

    // A new opener starts a new stream.
    Model d;
    auto fourth = c->openTimeline(m_fx.video, d.callbacks());
    QTRY_VERIFY_WITH_TIMEOUT(d.live() && d.find("still"), 15000);
    QTRY_COMPARE_WITH_TIMEOUT(m_fx.viewers(), 1, 10000);
}

void TstTimelineErgonomics::authorRoleEndToEnd()
{
    // What the server stores with each comment (the role of the token that posted it) reaches
    // the app's rows whichever way the row came: a history page, the live stream, the cache.
    const QString moderator = m_fx.server->token("9", "mona", "moderator");
    const QString viewer = m_fx.server->token("10", "vic", "viewer");
    const QUrl base = m_fx.server->baseUrl();
    QCOMPARE(lctest::postComment(base, moderator, m_fx.video, "mod before").status, 201);
    QCOMPARE(lctest::postComment(base, viewer, m_fx.video, "viewer before").status, 201);
    QCOMPARE(m_fx.post("streamer before"), 201);

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto cfg = sdktest::testConfig(base, viewer);
    cfg.cache.path = dir.filePath("cache.db").toStdString();
    const auto roleOf = [](const Model& m, const std::string& text) {
        const Comment* c = m.find(text);
        return c ? QString::fromStdString(c->user.role) : QStringLiteral("<missing>");
    };
    {
        auto c = Client::create(cfg);
        QVERIFY(c);
        Model model;
        auto timeline = (*c)->openTimeline(m_fx.video, model.callbacks(), {});
        QVERIFY(timeline);
        QTRY_VERIFY_WITH_TIMEOUT(
            model.ready && model.live() && model.find("streamer before"), 15000);
        QCOMPARE(roleOf(model, "mod before"), QStringLiteral("moderator"));
        QCOMPARE(roleOf(model, "viewer before"), QStringLiteral("viewer"));
        QCOMPARE(roleOf(model, "streamer before"), QStringLiteral("streamer"));

        QCOMPARE(lctest::postComment(base, moderator, m_fx.video, "mod live").status, 201);
        QCOMPARE(lctest::postComment(base, viewer, m_fx.video, "viewer live").status, 201);
        QTRY_VERIFY_WITH_TIMEOUT(model.find("mod live") && model.find("viewer live"), 15000);
        QCOMPARE(roleOf(model, "mod live"), QStringLiteral("moderator"));
        QCOMPARE(roleOf(model, "viewer live"), QStringLiteral("viewer"));
    }
    // Offline (nothing listens at the URL): the rows come from the cache, roles included.
    m_fx.stop();
    {
        auto c = Client::create(cfg);
        QVERIFY(c);
        Model model;
        auto timeline = (*c)->openTimeline(VideoId(m_fx.video), model.callbacks(), {});
        QVERIFY(timeline);
        QTRY_VERIFY_WITH_TIMEOUT(model.find("mod live") && model.find("streamer before"), 15000);
        QVERIFY(!model.live());
        QCOMPARE(roleOf(model, "mod before"), QStringLiteral("moderator"));
        QCOMPARE(roleOf(model, "mod live"), QStringLiteral("moderator"));
        QCOMPARE(roleOf(model, "streamer before"), QStringLiteral("streamer"));
        QCOMPARE(roleOf(model, "viewer live"), QStringLiteral("viewer"));
    }
}

QTEST_GUILESS_MAIN(TstTimelineErgonomics)
#include "tst_timeline_ergonomics.moc"
