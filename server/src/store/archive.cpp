// SPDX-License-Identifier: MIT
#include "store/archive.h"

#include <zstd.h>

#include <stdexcept>

namespace livecomments::server::store::archive {

namespace {

/// First byte of every block: the layout below. A new layout gets a new number, and
/// decodeBlock() keeps reading the old ones (blocks are never rewritten just to upgrade).
/// 1: without the role column (its comments were all written before roles were stored, so they
/// read as viewers); 2: with it.
constexpr unsigned char kFormatNoRoles = 1;
constexpr unsigned char kFormat = 2;

/// The role column's byte per comment (format 2).
unsigned char roleByte(Role role)
{
    switch (role) {
    case Role::Streamer:
        return 1;
    case Role::Moderator:
        return 2;
    case Role::Viewer:
        break;
    }
    return 0;
}

Role roleOfByte(unsigned char byte)
{
    switch (byte) {
    case 0:
        return Role::Viewer;
    case 1:
        return Role::Streamer;
    case 2:
        return Role::Moderator;
    default:
        throw std::runtime_error("archive block: bad role");
    }
}
/// A block never decompresses to more than this (256 comments of at most a few KiB each).
constexpr unsigned long long kMaxRawBytes = 64ULL << 20;
/// Nor holds more comments than this (the store writes kArchiveBlockComments): a corrupt count
/// must not make the decoder allocate gigabytes before it notices the data is short.
constexpr std::uint64_t kMaxComments = 1u << 16;
/// The fewest bytes one comment takes in a block (five varints/bytes of at least one byte).
constexpr std::uint64_t kMinBytesPerComment = 5;

void putVarint(std::string& out, std::uint64_t v)
{
    while (v >= 0x80) {
        out += static_cast<char>((v & 0x7F) | 0x80);
        v >>= 7;
    }
    out += static_cast<char>(v);
}

std::uint64_t zigzag(std::int64_t v)
{
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v)
{
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

struct Reader {
    const std::string& data;
    std::size_t at = 0;

    std::uint64_t varint()
    {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (at >= data.size())
                throw std::runtime_error("archive block: truncated");
            const auto byte = static_cast<unsigned char>(data[at++]);
            v |= std::uint64_t(byte & 0x7F) << shift;
            if (!(byte & 0x80))
                return v;
        }
        throw std::runtime_error("archive block: bad varint");
    }

    unsigned char byte()
    {
        if (at >= data.size())
            throw std::runtime_error("archive block: truncated");
        return static_cast<unsigned char>(data[at++]);
    }

    std::string text()
    {
        const std::uint64_t n = varint();
        if (n > data.size() - at)
            throw std::runtime_error("archive block: truncated string");
        std::string s = data.substr(at, n);
        at += n;
        return s;
    }
};

} // namespace

std::string encodeBlock(const std::vector<Comment>& comments, int level)
{
    // Column by column: the ids and timestamps are small deltas, and the names and ids of the
    // few people who comment a lot sit next to each other, which is what zstd feeds on.
    if (comments.size() > kMaxComments)
        throw std::invalid_argument("archive block: too many comments");
    std::string raw;
    raw += static_cast<char>(kFormat);
    putVarint(raw, comments.size());
    std::uint64_t previousId = 0;
    std::int64_t previousAt = 0;
    for (const auto& c : comments) {
        putVarint(raw, c.id - previousId);
        // Modulo 2^64 (no signed overflow whatever the values); decodeBlock() adds back the same.
        putVarint(raw,
            zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(c.createdAtMs)
                - static_cast<std::uint64_t>(previousAt))));
        previousId = c.id;
        previousAt = c.createdAtMs;
    }
    for (const auto& c : comments) {
        putVarint(raw, c.userId.size());
        raw += c.userId;
    }
    for (const auto& c : comments) {
        putVarint(raw, c.userName.size());
        raw += c.userName;
    }
    // Mostly one value: a run zstd shrinks to a few bytes.
    for (const auto& c : comments)
        raw += static_cast<char>(roleByte(c.userRole));
    for (const auto& c : comments) {
        putVarint(raw, c.text.size());
        raw += c.text;
    }
    std::string out(ZSTD_compressBound(raw.size()), '\0');
    const std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
    if (ZSTD_isError(n))
        throw std::runtime_error(std::string("archive block: ") + ZSTD_getErrorName(n));
    out.resize(n);
    return out;
}

std::vector<Comment> decodeBlock(const std::string& data, std::uint32_t videoId)
{
    const unsigned long long size = ZSTD_getFrameContentSize(data.data(), data.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxRawBytes)
        throw std::runtime_error("archive block: not a zstd frame of known size");
    std::string raw(size, '\0');
    const std::size_t n = ZSTD_decompress(raw.data(), raw.size(), data.data(), data.size());
    if (ZSTD_isError(n) || n != size)
        throw std::runtime_error("archive block: corrupt zstd frame");
    Reader in { raw };
    const unsigned char format = raw.empty() ? 0 : in.byte();
    if (format != kFormat && format != kFormatNoRoles)
        throw std::runtime_error("archive block: unknown format");
    const std::uint64_t count = in.varint();
    if (count > kMaxComments || count > (raw.size() - in.at) / kMinBytesPerComment)
        throw std::runtime_error("archive block: bad count");
    std::vector<Comment> out(count);
    std::uint64_t id = 0;
    std::uint64_t at = 0;
    for (auto& c : out) {
        id += in.varint();
        at += static_cast<std::uint64_t>(unzigzag(in.varint()));
        c.id = id;
        c.videoId = videoId;
        c.createdAtMs = static_cast<std::int64_t>(at);
    }
    for (auto& c : out)
        c.userId = in.text();
    for (auto& c : out)
        c.userName = in.text();
    if (format == kFormat) {
        for (auto& c : out)
            c.userRole = roleOfByte(in.byte());
    }
    for (auto& c : out)
        c.text = in.text();
    if (in.at != raw.size())
        throw std::runtime_error("archive block: trailing bytes");
    return out;
}

} // namespace livecomments::server::store::archive
