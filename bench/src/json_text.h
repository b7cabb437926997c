// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>

namespace livecomments::bench {

/// @p text as a JSON string literal, quotes included: `"`, `\` and control characters escaped,
/// every other byte (UTF-8 included) copied as is. The bench's only JSON escaper: the report,
/// the request bodies and the parser bench's generated stream all go through it. The server and
/// the SDK have escapers of their own on purpose: the load tool speaks the wire protocol only and
/// links neither (it also drives nginx+nchan, and builds without the SDK).
/// Threading: pure function.
std::string jsonString(std::string_view text);

} // namespace livecomments::bench
