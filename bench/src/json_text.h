// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace livecomments::bench {

/// @p text as a JSON string literal, quotes included: `"`, `\` and control characters escaped,
/// UTF-8 copied as is, invalid UTF-8 replaced by U+FFFD. The bench's only JSON escaper (the
/// report, the request bodies and the parser bench's generated stream all go through it), and
/// not a hand-written one: nlohmann-json writes it. The load tool links neither the server nor
/// the SDK (it also drives nginx+nchan, and builds without the SDK).
/// Threading: pure function.
std::string jsonString(std::string_view text);

} // namespace livecomments::bench
