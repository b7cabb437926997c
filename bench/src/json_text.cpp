// SPDX-License-Identifier: MIT
#include "json_text.h"

#include <nlohmann/json.hpp>

namespace livecomments::bench {

std::string jsonString(std::string_view text)
{
    // dump() escapes `"`, `\` and control characters; ensure_ascii off keeps UTF-8 readable.
    return nlohmann::json(std::string(text))
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace livecomments::bench
