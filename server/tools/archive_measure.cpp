// SPDX-License-Identifier: MIT
// lc-archive-measure: the archive figures of docs/performance.md. Generates N realistic chat
// comments for one video straight into a store (SQLite file or PostgreSQL database), then
// reports bytes per comment as rows, zstd levels on the same blocks, history-page latency on the
// rows, the time to archive the video, bytes per comment in blocks, and page latency on blocks.
//
// usage: lc-archive-measure --store=URL [--comments=N] [--pages=N] [--seed=N]
#include "ids/snowflake.h"
#include "model/types.h"
#include "store/archive.h"
#include "store/comment_store.h"
#include "store/store_factory.h"

#include <Poco/Data/PostgreSQL/Connector.h>
#include <Poco/Data/SQLite/Connector.h>
#include <Poco/Data/Session.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace livecomments::server;
using namespace Poco::Data::Keywords;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::string store;
    long comments = 1000000;
    int pages = 2000;
    unsigned seed = 12;
};

const char* const kWords[] = { "the", "a", "is", "this", "that", "i", "you", "he", "we", "they",
    "so", "not", "what", "how", "why", "when", "no", "yes", "just", "really", "guys", "chat",
    "stream", "game", "play", "boss", "run", "win", "lose", "again", "first", "time", "today",
    "good", "bad", "great", "insane", "crazy", "clean", "clutch", "nice", "shot", "move", "build",
    "level", "item", "map", "team", "mid", "top", "jungle", "support", "carry", "fight", "push",
    "back", "go", "left", "right", "behind", "watch", "out", "look", "at", "that", "wait", "for",
    "it", "can", "we", "get", "some", "music", "volume", "up", "down", "lag", "frames", "hello",
    "from", "germany", "brazil", "france", "japan", "poland", "canada", "love", "hate", "never",
    "always", "every", "one", "two", "three", "minutes", "hours", "streamer", "mods", "ban", "him",
    "her", "lmao", "honestly", "literally", "actually", "maybe", "probably", "definitely", "next",
    "last", "year", "tournament", "final", "round", "score", "points", "record", "pb", "world",
    "best", "worst", "ever", "seen", "remember", "old", "new", "patch", "nerf", "buff" };
const char* const kReactions[] = { "lol", "LOL", "lmao", "gg", "GG", "W", "L", "?", "???", "F",
    "KEKW", "PogChamp", "LUL", "monkaS", "Kappa", "OMEGALUL", "hi", "o7", "+1", "nice",
    "\xF0\x9F\x94\xA5", "\xF0\x9F\x98\x82\xF0\x9F\x98\x82", "\xE2\x9D\xA4\xEF\xB8\x8F", "wow",
    "clip it", "no way", "lets go", "LETS GOOO", "first", "pog" };
const char* const kNameParts[] = { "night", "owl", "dark", "star", "pixel", "gamer", "shadow",
    "wolf", "blue", "fox", "king", "queen", "ninja", "lazy", "cat", "dog", "frost", "fire", "turbo",
    "mega", "lucky", "sad", "happy", "coffee", "tea", "moon", "sun", "rogue", "mage" };

template <typename T, std::size_t N> const char* pick(const T (&list)[N], std::mt19937_64& rng)
{
    return list[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng)];
}

/// One chat line: reactions, short sentences, questions, some long ones, some copypasta.
std::string chatText(std::mt19937_64& rng, const std::vector<std::string>& copypasta)
{
    const int kind = std::uniform_int_distribution<int>(0, 99)(rng);
    if (kind < 30) {
        std::string t = pick(kReactions, rng);
        if (kind < 6)
            t += std::string(" ") + pick(kReactions, rng);
        return t;
    }
    if (kind < 36)
        return copypasta[std::uniform_int_distribution<std::size_t>(0, copypasta.size() - 1)(rng)];
    const int words = kind < 90 ? std::uniform_int_distribution<int>(2, 12)(rng)
                                : std::uniform_int_distribution<int>(12, 40)(rng);
    std::string t;
    for (int i = 0; i < words; ++i) {
        if (i)
            t += ' ';
        t += pick(kWords, rng);
        if (std::uniform_int_distribution<int>(0, 30)(rng) == 0)
            t += std::to_string(std::uniform_int_distribution<int>(0, 999)(rng));
    }
    if (kind >= 80 && kind < 88)
        t += '?';
    else if (kind >= 88 && kind < 92)
        t += std::string(" ") + pick(kReactions, rng);
    return t;
}

struct Viewer {
    std::string id, name;
};

std::vector<Viewer> makeViewers(std::mt19937_64& rng, int n)
{
    std::vector<Viewer> out;
    for (int i = 0; i < n; ++i) {
        Viewer v;
        // JWT subjects of a typical identity provider: opaque 64-bit numbers as text.
        v.id = std::to_string(
            std::uniform_int_distribution<std::uint64_t>(100000000000ULL, 999999999999999ULL)(rng));
        v.name = std::string(pick(kNameParts, rng)) + pick(kNameParts, rng);
        if (i % 3)
            v.name += std::to_string(std::uniform_int_distribution<int>(1, 9999)(rng));
        v.name[0] = static_cast<char>(v.name[0] - 'a' + 'A');
        out.push_back(std::move(v));
    }
    return out;
}

std::vector<Comment> generate(const Args& args, std::uint32_t video)
{
    std::mt19937_64 rng(args.seed);
    const auto viewers = makeViewers(rng, 20000);
    std::vector<std::string> copypasta;
    for (int i = 0; i < 20; ++i)
        copypasta.push_back(chatText(rng, { "x" }) + " " + chatText(rng, { "x" }));
    std::vector<Comment> out;
    out.reserve(static_cast<std::size_t>(args.comments));
    // A busy stream: on average one comment per 4 ms (250/s), ending a minute ago; a few
    // viewers write most of the chat (u^3 skews toward the first ones).
    std::exponential_distribution<double> gap(0.25);
    std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()
        - 60000 - args.comments * 4;
    std::uint64_t previous = 0;
    std::uniform_real_distribution<double> unit(0, 1);
    for (long i = 0; i < args.comments; ++i) {
        ms += static_cast<std::int64_t>(gap(rng));
        std::uint64_t id = ids::snowflakeFloorForUnixMs(ms) | (1ULL << 12);
        if (id <= previous)
            id = previous + 1; // same millisecond: next sequence number
        previous = id;
        const double u = unit(rng);
        const Viewer& v = viewers[static_cast<std::size_t>(u * u * u * viewers.size())];
        Comment c;
        c.id = id;
        c.videoId = video;
        c.userId = v.id;
        c.userName = v.name;
        c.text = chatText(rng, copypasta);
        c.createdAtMs = ids::snowflakeUnixMs(id);
        out.push_back(std::move(c));
    }
    return out;
}

double secondsSince(Clock::time_point t)
{
    return std::chrono::duration<double>(Clock::now() - t).count();
}

std::unique_ptr<Poco::Data::Session> rawSession(const store::StoreUrl& url)
{
    if (url.kind == store::StoreUrl::Kind::Sqlite) {
        Poco::Data::SQLite::Connector::registerConnector();
        return std::make_unique<Poco::Data::Session>("SQLite", url.path);
    }
    Poco::Data::PostgreSQL::Connector::registerConnector();
    std::string conn = "host=" + url.host + " port=" + std::to_string(url.port)
        + " user=" + url.user + " dbname=" + url.database;
    if (!url.password.empty())
        conn += " password=" + url.password;
    return std::make_unique<Poco::Data::Session>("PostgreSQL", conn);
}

void fill(Poco::Data::Session& db, const store::StoreUrl& url, const std::vector<Comment>& all)
{
    const bool pg = url.kind == store::StoreUrl::Kind::Postgres;
    const std::string insert = pg
        ? "INSERT INTO comments (id, video_id, user_id, user_name, text, created_at) VALUES "
          "($1, $2, $3, $4, $5, $6)"
        : "INSERT INTO comments (id, video_id, user_id, user_name, text, created_at) VALUES "
          "(?, ?, ?, ?, ?, ?)";
    constexpr std::size_t kChunk = 20000;
    for (std::size_t at = 0; at < all.size(); at += kChunk) {
        std::vector<Poco::Int64> ids, videos, created;
        std::vector<std::string> users, names, texts;
        for (std::size_t i = at; i < std::min(all.size(), at + kChunk); ++i) {
            ids.push_back(static_cast<Poco::Int64>(all[i].id));
            videos.push_back(all[i].videoId);
            created.push_back(all[i].createdAtMs);
            users.push_back(all[i].userId);
            names.push_back(all[i].userName);
            texts.push_back(all[i].text);
        }
        db.begin();
        db << insert, use(ids), use(videos), use(users), use(names), use(texts), use(created), now;
        db.commit();
    }
    Poco::Int64 n = static_cast<Poco::Int64>(all.size()), video = all.front().videoId;
    db << (pg ? "UPDATE videos SET comment_count = $1 WHERE id = $2"
              : "UPDATE videos SET comment_count = ? WHERE id = ?"),
        use(n), use(video), now;
}

/// The first column of `sqliteQuery` or `postgresQuery` (whichever engine `url` names).
Poco::Int64 scalar(Poco::Data::Session& db, const store::StoreUrl& url, const char* sqliteQuery,
    const char* postgresQuery)
{
    Poco::Int64 value = 0;
    db << (url.kind == store::StoreUrl::Kind::Sqlite ? sqliteQuery : postgresQuery), into(value),
        now;
    return value;
}

/// Bytes the comment rows take: tables and indexes (SQLite: dbstat; PostgreSQL: every partition
/// with its indexes and TOAST).
Poco::Int64 rowBytes(Poco::Data::Session& db, const store::StoreUrl& url)
{
    return scalar(db, url,
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ('comments', "
        "'comments_by_video')",
        "SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0)::bigint FROM pg_inherits "
        "WHERE inhparent = 'comments'::regclass");
}

/// Bytes of the archive blocks' table with its indexes (and TOAST on PostgreSQL).
Poco::Int64 blockTableBytes(Poco::Data::Session& db, const store::StoreUrl& url)
{
    return scalar(db, url,
        "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN ('comment_blocks', "
        "'sqlite_autoindex_comment_blocks_1', 'comment_blocks_by_last')",
        "SELECT pg_total_relation_size('comment_blocks')::bigint");
}

void compact(Poco::Data::Session& db, const store::StoreUrl& url)
{
    // Measure live data, not free pages left by the deletes.
    if (url.kind == store::StoreUrl::Kind::Sqlite)
        db << "VACUUM", now;
    else
        db << "VACUUM FULL ANALYZE", now;
}

void pageLatency(const char* label, store::CommentStore& s, std::uint32_t video,
    const std::vector<Comment>& all, int pages, unsigned seed)
{
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> at(50, all.size() - 1);
    std::vector<double> ms;
    std::size_t returned = 0;
    for (int i = 0; i < pages; ++i) {
        store::PageQuery q;
        q.direction = store::PageQuery::Direction::Before;
        q.cursor = all[at(rng)].id;
        q.limit = 50;
        const auto t = Clock::now();
        returned += s.comments(video, q).size();
        ms.push_back(secondsSince(t) * 1000);
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms[std::min(ms.size() - 1, std::size_t(p * ms.size()))]; };
    std::printf("%s: %d pages before=<random>&limit=50, %.1f comments/page, p50 %.3f ms, p90 "
                "%.3f ms, p99 %.3f ms, max %.3f ms\n",
        label, pages, double(returned) / pages, pct(0.5), pct(0.9), pct(0.99), ms.back());
}

void zstdLevels(const std::vector<Comment>& all)
{
    // The same 256-comment blocks at several levels (first 100,000 comments).
    const std::size_t n = std::min<std::size_t>(all.size(), 100000);
    for (const int level : { 1, 3, 6, 9, 12, 19 }) {
        std::size_t bytes = 0;
        std::vector<std::string> blocks;
        const auto t = Clock::now();
        for (std::size_t at = 0; at < n; at += store::kArchiveBlockComments) {
            std::vector<Comment> run(
                all.begin() + at, all.begin() + std::min(n, at + store::kArchiveBlockComments));
            blocks.push_back(store::archive::encodeBlock(run, level));
            bytes += blocks.back().size();
        }
        const double encode = secondsSince(t);
        const auto d = Clock::now();
        for (const auto& b : blocks)
            store::archive::decodeBlock(b, all.front().videoId);
        const double decode = secondsSince(d);
        std::printf("zstd level %2d: %.2f bytes/comment, encode %.1f us/block, decode %.1f "
                    "us/block\n",
            level, double(bytes) / n, encode * 1e6 / blocks.size(), decode * 1e6 / blocks.size());
    }
}

} // namespace

int main(int argc, char** argv)
{
    Args args;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* name) {
            const std::string prefix = std::string(name) + "=";
            return a.rfind(prefix, 0) == 0 ? a.substr(prefix.size()) : std::string();
        };
        if (!value("--store").empty())
            args.store = value("--store");
        else if (!value("--comments").empty())
            args.comments = std::atol(value("--comments").c_str());
        else if (!value("--pages").empty())
            args.pages = std::atoi(value("--pages").c_str());
        else if (!value("--seed").empty())
            args.seed = static_cast<unsigned>(std::atoi(value("--seed").c_str()));
        else {
            std::fprintf(
                stderr, "usage: %s --store=URL [--comments=N] [--pages=N] [--seed=N]\n", argv[0]);
            return 64;
        }
    }
    if (args.store.empty() || args.comments < 1000) {
        std::fprintf(stderr, "--store=URL is required, --comments at least 1000\n");
        return 64;
    }
    try {
        const auto url = store::parseStoreUrl(args.store);
        ids::SnowflakeGenerator idGen(1);
        store::StoreOptions options;
        options.synchronousFull = false;
        std::uint32_t video = 0;
        {
            auto s = store::makeCommentStore(args.store, options, idGen);
            s->open();
            const auto body = s->createVideo({ "1", "streamer", Role::Streamer }, "measure", {});
            video
                = static_cast<std::uint32_t>(std::stoul(body.body.substr(body.body.find(':') + 1)));
            s->close();
        }
        auto t = Clock::now();
        const auto all = generate(args, video);
        std::size_t textBytes = 0;
        for (const auto& c : all)
            textBytes += c.userId.size() + c.userName.size() + c.text.size();
        std::printf("generated %zu comments in %.1f s (user id + name + text: %.1f bytes/comment "
                    "on average)\n",
            all.size(), secondsSince(t), double(textBytes) / all.size());
        zstdLevels(all);
        auto db = rawSession(url);
        t = Clock::now();
        fill(*db, url, all);
        compact(*db, url);
        const Poco::Int64 before = rowBytes(*db, url);
        std::printf("filled in %.1f s; rows: %lld bytes = %.1f bytes/comment (table + indexes)\n",
            secondsSince(t), static_cast<long long>(before), double(before) / all.size());

        auto s = store::makeCommentStore(args.store, options, idGen);
        s->open();
        pageLatency("rows", *s, video, all, args.pages, args.seed);
        s->endVideo(video, { "1", "streamer", Role::Streamer });
        t = Clock::now();
        const std::size_t packed = s->archiveVideo(video);
        const double took = secondsSince(t);
        const auto stats = s->archiveStats(video);
        std::printf("archived %zu comments in %.1f s (%.0f comments/s): %zu blocks, %zu bytes of "
                    "block data = %.2f bytes/comment\n",
            packed, took, packed / took, stats.blocks, stats.blockBytes,
            double(stats.blockBytes) / all.size());
        // Right after packing the deleted rows are still in the table and its index (until
        // autovacuum); then again after a vacuum, the steady state.
        pageLatency("blocks, before vacuum", *s, video, all, args.pages, args.seed);
        compact(*db, url);
        pageLatency("blocks, after vacuum", *s, video, all, args.pages, args.seed);
        s->close();
        const Poco::Int64 rowsAfter = rowBytes(*db, url);
        const Poco::Int64 blocks = blockTableBytes(*db, url);
        std::printf("after: rows %lld bytes, block table + indexes %lld bytes = %.2f "
                    "bytes/comment (%.1fx smaller)\n",
            static_cast<long long>(rowsAfter), static_cast<long long>(blocks),
            double(rowsAfter + blocks) / all.size(), double(before) / double(rowsAfter + blocks));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lc-archive-measure: %s\n", e.what());
        return 1;
    }
    return 0;
}
