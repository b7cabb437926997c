// SPDX-License-Identifier: MIT
// libFuzzer: the SDK's JSON reader (what every REST body and SSE `data:` goes through). Checks:
// parse never throws; a parsed value serialises to JSON that parses back to the same
// serialisation; quoting any byte string yields valid UTF-8 JSON that parses to a string.
#include "json/json.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace json = livecomments::json;

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    if (const auto value = json::parse(text, &error)) {
        const std::string once = json::serialize(*value);
        const auto again = json::parse(once);
        check(again.has_value());
        check(json::serialize(*again) == once);
        check(json::isValidUtf8(once));
    } else {
        check(!error.empty());
    }
    const std::string quoted = json::quoted(text);
    check(json::isValidUtf8(quoted));
    const auto back = json::parse(quoted);
    check(back && back->isString());
    if (json::isValidUtf8(text))
        check(back->text() == text);
    return 0;
}
