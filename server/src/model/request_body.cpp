// SPDX-License-Identifier: MIT
#include "model/request_body.h"

#include "model/errors.h"

#include <nlohmann/json.hpp>

namespace livecomments::server {

namespace {

using Json = nlohmann::json;

/// Parses `body` as one JSON object. The depth callback keeps a hostile `[[[[…` from building a
/// deep tree (64 KiB of brackets would otherwise be 32 K levels of nodes).
Json parseObject(std::string_view body)
{
    if (body.empty())
        throw badField("body", "a JSON object is required");
    Json value;
    try {
        value = Json::parse(body.begin(), body.end(), [](int depth, Json::parse_event_t, Json&) {
            if (depth > kMaxBodyDepth)
                throw ApiError(ErrorKind::BadRequest, "bad_json",
                    "body: invalid JSON: nested deeper than " + std::to_string(kMaxBodyDepth));
            return true;
        });
    } catch (const Json::exception& e) {
        // nlohmann's message quotes at most a short token of the input, already escaped.
        throw ApiError(ErrorKind::BadRequest, "bad_json",
            std::string("body: invalid JSON: ") + (e.id == 101 ? "syntax error" : "bad value"));
    }
    if (!value.is_object())
        throw badField("body", "must be a JSON object");
    return value;
}

/// The member `field`, or nullptr when absent or null.
const Json* member(const Json& object, const std::string& field)
{
    const auto it = object.find(field);
    if (it == object.end() || it->is_null())
        return nullptr;
    return &*it;
}

std::string requiredString(const Json& object, const std::string& field)
{
    const Json* value = member(object, field);
    if (!value)
        throw badField(field, "is required");
    if (!value->is_string())
        throw badField(field, "must be a string");
    return value->get<std::string>();
}

/// An id given as a decimal string or a JSON integer, as decimal text. nlohmann keeps integers
/// exactly (int64/uint64) and turns anything out of uint64 range, any fraction and any exponent
/// into a float, so "is an integer" is decided by the number's type, never by a lossy conversion.
std::optional<std::string> optionalIdText(const Json& object, const std::string& field)
{
    const Json* value = member(object, field);
    if (!value)
        return std::nullopt;
    if (value->is_string())
        return value->get<std::string>();
    if (value->is_number_unsigned())
        return std::to_string(value->get<std::uint64_t>());
    if (value->is_number_integer())
        return std::to_string(value->get<std::int64_t>());
    if (value->is_number())
        throw badField(field, "must be an integer id (no fraction, exponent or overflow)");
    throw badField(field, "must be an id (string or integer)");
}

bool allDigits(std::string_view text)
{
    return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

} // namespace

std::uint32_t parseVideoId(std::string_view text, const std::string& field)
{
    if (!allDigits(text) || text.size() > 10)
        throw badField(field, "must be a positive integer");
    std::uint64_t n = 0;
    for (const char c : text)
        n = n * 10 + static_cast<std::uint64_t>(c - '0'); // ≤ 10 digits: cannot overflow
    if (n == 0 || n > 2147483647ULL)
        throw badField(field, "must be a positive 32-bit integer");
    return static_cast<std::uint32_t>(n);
}

std::uint64_t parseId64(std::string_view text, const std::string& field)
{
    if (!allDigits(text) || text.size() > 19)
        throw badField(field, "must be a decimal id");
    std::uint64_t n = 0;
    for (const char c : text)
        n = n * 10 + static_cast<std::uint64_t>(c - '0'); // ≤ 19 digits: below 2^64
    if (n == 0 || n > 9223372036854775807ULL)
        throw badField(field, "must be a positive 64-bit id");
    return n;
}

CommentRequest decodeCommentBody(std::string_view body, CommentShape shape)
{
    const Json object = parseObject(body);
    CommentRequest request;
    request.field = "text";
    if (shape == CommentShape::Create) {
        const auto id = optionalIdText(object, "liveVideoId");
        if (!id)
            throw badField("liveVideoId", "is required");
        request.videoId = parseVideoId(*id, "liveVideoId");
        request.field = "message";
    } else if (shape == CommentShape::Alias && !object.contains("text")) {
        request.field = "comment";
    }
    request.userId = optionalIdText(object, "user_id");
    request.text = requiredString(object, request.field);
    return request;
}

std::string decodeVideoBody(std::string_view body)
{
    return requiredString(parseObject(body), "title");
}

} // namespace livecomments::server
