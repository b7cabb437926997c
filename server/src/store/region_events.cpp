// SPDX-License-Identifier: MIT
#include "store/region_events.h"

#include "model/json_text.h"

#include <nlohmann/json.hpp>

#include <limits>
#include <stdexcept>

namespace livecomments::server::store {

namespace {

using nlohmann::json;

const char* typeName(RegionEvent::Type type)
{
    switch (type) {
    case RegionEvent::Type::VideoCreated:
        return "video";
    case RegionEvent::Type::CommentAdded:
        return "comment";
    case RegionEvent::Type::CommentDeleted:
        return "deleted";
    case RegionEvent::Type::VideoEnded:
        return "ended";
    }
    return "";
}

[[noreturn]] void bad(const std::string& why)
{
    throw std::invalid_argument(why);
}

const json& field(const json& object, const char* name)
{
    const auto it = object.find(name);
    if (it == object.end())
        bad(std::string("event field '") + name + "' is missing");
    return *it;
}

std::string text(const json& object, const char* name)
{
    const json& v = field(object, name);
    if (!v.is_string())
        bad(std::string("event field '") + name + "' must be a string");
    return v.get<std::string>();
}

std::int64_t integer(const json& object, const char* name)
{
    const json& v = field(object, name);
    if (!v.is_number_integer())
        bad(std::string("event field '") + name + "' must be an integer");
    return v.get<std::int64_t>();
}

std::uint32_t videoIdOf(const json& object, const char* name)
{
    const std::int64_t id = integer(object, name);
    if (id <= 0 || id > std::numeric_limits<std::int32_t>::max())
        bad(std::string("event field '") + name + "' is not a video id");
    return static_cast<std::uint32_t>(id);
}

/// Comment ids travel as decimal strings, like everywhere in the protocol (64-bit).
std::uint64_t commentIdOf(const json& object)
{
    const std::string id = text(object, "id");
    if (id.empty() || id.size() > 20 || id.find_first_not_of("0123456789") != std::string::npos)
        bad("event field 'id' must be a decimal comment id");
    try {
        return std::stoull(id);
    } catch (const std::exception&) {
        bad("event field 'id' must be a decimal comment id");
    }
}

} // namespace

std::string encodeRegionEvent(const RegionEvent& e)
{
    // Written like every JSON text of the server (model/json_text.h); read with nlohmann-json.
    std::string out = "{\"type\":\"";
    out += typeName(e.type);
    out += "\",\"origin\":" + jsonString(e.origin);
    switch (e.type) {
    case RegionEvent::Type::VideoCreated:
        out += ",\"video\":{\"id\":" + std::to_string(e.video.id) + ",\"title\":"
            + jsonString(e.video.title) + ",\"streamer_id\":" + jsonString(e.video.streamerId)
            + ",\"streamer_name\":" + jsonString(e.video.streamerName)
            + ",\"created_at\":" + std::to_string(e.video.createdAtMs) + "}";
        break;
    case RegionEvent::Type::CommentAdded:
    case RegionEvent::Type::CommentDeleted:
        out += ",\"video_id\":" + std::to_string(e.comment.videoId) + ",\"id\":\""
            + std::to_string(e.comment.id) + "\"";
        if (e.type == RegionEvent::Type::CommentAdded)
            out += ",\"user_id\":" + jsonString(e.comment.userId)
                + ",\"user_name\":" + jsonString(e.comment.userName) + ",\"user_role\":\""
                + roleName(e.comment.userRole) + "\",\"text\":" + jsonString(e.comment.text)
                + ",\"created_at\":" + std::to_string(e.comment.createdAtMs);
        break;
    case RegionEvent::Type::VideoEnded:
        out += ",\"video_id\":" + std::to_string(e.video.id)
            + ",\"ended_at\":" + std::to_string(e.video.endedAtMs);
        break;
    }
    out += "}";
    return out;
}

std::string regionBatchJson(const std::string& region, const std::vector<std::string>& events)
{
    std::string out = "{\"region\":" + jsonString(region) + ",\"events\":[";
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (i > 0)
            out += ',';
        out += events[i];
    }
    out += "]}";
    return out;
}

std::vector<RegionEvent> decodeRegionBatch(const std::string& body, std::string& region)
{
    const json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        bad("the body is not a JSON object");
    region = text(doc, "region");
    const json& list = field(doc, "events");
    if (!list.is_array())
        bad("'events' must be an array");
    std::vector<RegionEvent> events;
    events.reserve(list.size());
    for (const json& item : list) {
        if (!item.is_object())
            bad("every event must be an object");
        RegionEvent e;
        e.origin = text(item, "origin");
        if (e.origin != region)
            bad("event origin '" + e.origin + "' is not the sending region '" + region + "'");
        const std::string type = text(item, "type");
        if (type == "video") {
            e.type = RegionEvent::Type::VideoCreated;
            const json& v = field(item, "video");
            if (!v.is_object())
                bad("'video' must be an object");
            e.video.id = videoIdOf(v, "id");
            e.video.title = text(v, "title");
            e.video.streamerId = text(v, "streamer_id");
            e.video.streamerName = text(v, "streamer_name");
            e.video.createdAtMs = integer(v, "created_at");
        } else if (type == "comment" || type == "deleted") {
            e.type = type == "comment" ? RegionEvent::Type::CommentAdded
                                       : RegionEvent::Type::CommentDeleted;
            e.comment.videoId = videoIdOf(item, "video_id");
            e.comment.id = commentIdOf(item);
            if (e.type == RegionEvent::Type::CommentAdded) {
                e.comment.userId = text(item, "user_id");
                e.comment.userName = text(item, "user_name");
                // Absent from older peers, and a role this version does not know: a viewer.
                if (item.contains("user_role")
                    && !parseRole(text(item, "user_role"), e.comment.userRole))
                    e.comment.userRole = Role::Viewer;
                e.comment.text = text(item, "text");
                e.comment.createdAtMs = integer(item, "created_at");
            }
        } else if (type == "ended") {
            e.type = RegionEvent::Type::VideoEnded;
            e.video.id = videoIdOf(item, "video_id");
            e.video.endedAtMs = integer(item, "ended_at");
        } else {
            bad("unknown event type '" + type + "'");
        }
        events.push_back(std::move(e));
    }
    return events;
}

} // namespace livecomments::server::store
