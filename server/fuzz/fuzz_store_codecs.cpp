// SPDX-License-Identifier: MIT
// libFuzzer: the two decoders of stored and relayed data. An archive block (zstd, read back from
// the store) and a region ingest body (JSON from a peer region, after its signature checked) are
// each decoded from the input: a clear error (std::runtime_error / std::invalid_argument) or a
// value, never a crash, a hang or a huge allocation; and what decodes encodes again to the same
// value (round trip). Then the input seeds comments that must survive encode → decode exactly.
#include "store/archive.h"
#include "store/region_events.h"

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

using namespace livecomments::server;
using namespace livecomments::server::store;

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

bool sameComment(const Comment& a, const Comment& b)
{
    return a.id == b.id && a.videoId == b.videoId && a.userId == b.userId
        && a.userName == b.userName && a.userRole == b.userRole && a.text == b.text
        && a.createdAtMs == b.createdAtMs;
}

bool sameComments(const std::vector<Comment>& a, const std::vector<Comment>& b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!sameComment(a[i], b[i]))
            return false;
    }
    return true;
}

void archiveBlock(const std::string& data)
{
    std::vector<Comment> decoded;
    try {
        decoded = archive::decodeBlock(data, 7);
    } catch (const std::runtime_error&) {
        return;
    }
    if (decoded.empty())
        return;
    check(sameComments(archive::decodeBlock(archive::encodeBlock(decoded, 1), 7), decoded));
}

void regionBatch(const std::string& body)
{
    std::string region;
    std::vector<RegionEvent> events;
    try {
        events = decodeRegionBatch(body, region);
    } catch (const std::invalid_argument&) {
        return;
    }
    std::vector<std::string> encoded;
    for (const auto& e : events)
        encoded.push_back(encodeRegionEvent(e));
    std::string again;
    const auto back = decodeRegionBatch(regionBatchJson(region, encoded), again);
    check(again == region && back.size() == events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        check(back[i].type == events[i].type && back[i].origin == events[i].origin);
        check(back[i].videoId() == events[i].videoId());
        if (events[i].type == RegionEvent::Type::CommentAdded)
            check(sameComment(back[i].comment, events[i].comment));
    }
}

/// Comments made from the input (ascending ids, any bytes in the texts): encode → decode is exact.
void roundTrip(const std::uint8_t* data, std::size_t size)
{
    std::vector<Comment> comments;
    std::uint64_t id = 0;
    std::size_t at = 0;
    while (at + 3 <= size && comments.size() < kArchiveBlockComments) {
        Comment c;
        id += 1 + data[at];
        c.id = id;
        c.videoId = 7;
        c.createdAtMs = (static_cast<std::int64_t>(data[at + 1]) - 128) * 1000003;
        c.userRole = static_cast<Role>(data[at + 2] % 3);
        const std::size_t n = std::min<std::size_t>(data[at + 2] / 3, size - at - 3);
        c.text.assign(reinterpret_cast<const char*>(data + at + 3), n);
        c.userId = std::to_string(data[at]);
        c.userName = c.text.substr(0, 8);
        comments.push_back(std::move(c));
        at += 3 + n;
    }
    if (comments.empty())
        return;
    check(sameComments(archive::decodeBlock(archive::encodeBlock(comments, 1), 7), comments));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string input(reinterpret_cast<const char*>(data), size);
    archiveBlock(input);
    regionBatch(input);
    roundTrip(data, size);
    return 0;
}
