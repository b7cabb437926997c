// SPDX-License-Identifier: MIT
// libFuzzer: id and cursor decoding (path video ids, comment ids, before/after/cursor,
// Last-Event-ID). Checked against an independent reference: accepted exactly when the text is
// ASCII digits whose value is in range, and then the value is that of the digits.
#include "model/errors.h"
#include "model/request_body.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace livecomments::server;

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

/// The digits' value if the text is 1..digitLimit ASCII digits, else nullopt (no overflow: the
/// limits keep it below 2^64).
std::optional<std::uint64_t> reference(std::string_view text, std::size_t digitLimit)
{
    if (text.empty() || text.size() > digitLimit)
        return std::nullopt;
    std::uint64_t n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto video = reference(text, 10);
    const bool videoOk = video && *video >= 1 && *video <= 2147483647u;
    try {
        const std::uint32_t id = parseVideoId(text, "video_id");
        check(videoOk && id == *video);
    } catch (const ApiError& e) {
        check(!videoOk && e.kind() == ErrorKind::BadRequest && e.code() == "invalid_field");
    }
    const auto id64 = reference(text, 19);
    const bool id64Ok = id64 && *id64 >= 1 && *id64 <= 9223372036854775807ULL;
    try {
        const std::uint64_t id = parseId64(text, "before");
        check(id64Ok && id == *id64);
    } catch (const ApiError& e) {
        check(!id64Ok && e.kind() == ErrorKind::BadRequest && e.code() == "invalid_field");
    }
    return 0;
}
