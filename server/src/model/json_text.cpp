// SPDX-License-Identifier: MIT
#include "model/json_text.h"

#include <ctime>

namespace livecomments::server {

const char* roleName(Role role)
{
    switch (role) {
    case Role::Streamer:
        return "streamer";
    case Role::Moderator:
        return "moderator";
    case Role::Viewer:
        break;
    }
    return "viewer";
}

bool parseRole(const std::string& text, Role& role)
{
    if (text == "viewer")
        role = Role::Viewer;
    else if (text == "streamer")
        role = Role::Streamer;
    else if (text == "moderator")
        role = Role::Moderator;
    else
        return false;
    return true;
}

void appendJsonString(std::string& out, std::string_view text)
{
    static const char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out.push_back(kHex[c >> 4]);
                out.push_back(kHex[c & 0xf]);
            } else {
                out.push_back(ch);
            }
        }
    }
    out.push_back('"');
}

std::string jsonString(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + 2);
    appendJsonString(out, text);
    return out;
}

std::string isoTime(std::int64_t unixMs)
{
    const std::time_t seconds = static_cast<std::time_t>(unixMs / 1000);
    std::tm tm {};
    gmtime_r(&seconds, &tm);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        static_cast<int>(unixMs % 1000));
    return buffer;
}

std::string commentJson(const Comment& c)
{
    std::string out;
    out.reserve(128 + c.text.size());
    out += "{\"id\":\"";
    out += std::to_string(c.id);
    out += "\",\"video_id\":";
    out += std::to_string(c.videoId);
    out += ",\"user\":{\"id\":";
    appendJsonString(out, c.userId);
    out += ",\"name\":";
    appendJsonString(out, c.userName);
    out += ",\"role\":\"";
    out += roleName(c.userRole);
    out += "\"},\"text\":";
    appendJsonString(out, c.text);
    out += ",\"created_at\":\"";
    out += isoTime(c.createdAtMs);
    out += "\"}";
    return out;
}

std::string videoJson(const Video& v, std::size_t viewers)
{
    std::string out;
    out += "{\"id\":" + std::to_string(v.id) + ",\"title\":";
    appendJsonString(out, v.title);
    out += ",\"streamer\":{\"id\":";
    appendJsonString(out, v.streamerId);
    out += ",\"name\":";
    appendJsonString(out, v.streamerName);
    out += "},\"status\":\"";
    out += v.status == VideoStatus::Live ? "live" : "ended";
    out += "\",\"viewers\":" + std::to_string(viewers);
    out += ",\"comment_count\":" + std::to_string(v.commentCount);
    out += ",\"created_at\":\"" + isoTime(v.createdAtMs) + "\"";
    if (v.endedAtMs != 0)
        out += ",\"ended_at\":\"" + isoTime(v.endedAtMs) + "\"";
    out += "}";
    return out;
}

std::string errorJson(const std::string& code, const std::string& message)
{
    std::string out = "{\"error\":{\"code\":";
    appendJsonString(out, code);
    out += ",\"message\":";
    appendJsonString(out, message);
    out += "}}";
    return out;
}

namespace {

/// `[a,b,…]` of already encoded JSON values.
void appendArray(std::string& out, const std::vector<std::string>& items)
{
    out += '[';
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i)
            out += ',';
        out += items[i];
    }
    out += ']';
}

/// A 64-bit id as a JSON string (JavaScript numbers lose precision above 2^53), or null.
void appendIdOrNull(std::string& out, std::optional<std::uint64_t> id)
{
    if (id)
        out += '"' + std::to_string(*id) + '"';
    else
        out += "null";
}

/// `{"<key>":"<value>"}` (key is a plain identifier, value escaped).
std::string stringObject(std::string_view key, std::string_view value)
{
    std::string out = "{\"";
    out += key;
    out += "\":";
    appendJsonString(out, value);
    out += '}';
    return out;
}

} // namespace

std::string videoListJson(const std::vector<std::string>& videos)
{
    std::string out = "{\"videos\":";
    appendArray(out, videos);
    out += '}';
    return out;
}

std::string commentPageJson(
    const std::vector<std::string>& comments, std::optional<std::uint64_t> nextCursor)
{
    std::string out = "{\"comments\":";
    appendArray(out, comments);
    out += ",\"next_cursor\":";
    appendIdOrNull(out, nextCursor);
    out += '}';
    return out;
}

std::string healthJson()
{
    return "{\"status\":\"ok\"}";
}

std::string clusterHealthJson(bool busUp, unsigned nodeId)
{
    return std::string("{\"status\":\"") + (busUp ? "ok" : "degraded") + "\",\"node_id\":"
        + std::to_string(nodeId) + ",\"bus\":\"" + (busUp ? "up" : "down") + "\"}";
}

std::string tokenJson(const std::string& token)
{
    return stringObject("token", token);
}

std::string helloJson(const HelloEvent& hello)
{
    std::string out = "{\"subscription_id\":";
    appendJsonString(out, hello.subscriptionId);
    out += ",\"video_id\":" + std::to_string(hello.videoId);
    out += ",\"heartbeat_ms\":" + std::to_string(hello.heartbeatMs);
    out += ",\"resumed\":";
    out += hello.resumed ? "true" : "false";
    out += ",\"last_id\":";
    appendIdOrNull(out, hello.lastId);
    out += '}';
    return out;
}

std::string deletedJson(std::uint64_t commentId)
{
    std::string out = "{\"id\":";
    appendIdOrNull(out, commentId);
    out += '}';
    return out;
}

std::string endedJson(std::uint32_t videoId)
{
    return "{\"video_id\":" + std::to_string(videoId) + "}";
}

std::string statsJson(std::size_t viewers)
{
    return "{\"viewers\":" + std::to_string(viewers) + "}";
}

std::string resetJson(std::string_view reason)
{
    return stringObject("reason", reason);
}

std::string commentFrame(std::uint64_t id, const std::string& json)
{
    // JSON never contains a raw newline, so one `data:` line carries the whole object.
    std::string out;
    out.reserve(json.size() + 48);
    out += "id: ";
    out += std::to_string(id);
    out += "\nevent: comment\ndata: ";
    out += json;
    out += "\n\n";
    return out;
}

std::string commentFrame(const Comment& comment)
{
    return commentFrame(comment.id, commentJson(comment));
}

std::string eventFrame(std::string_view name, std::string_view json)
{
    std::string out;
    out.reserve(json.size() + name.size() + 16);
    out += "event: ";
    out += name;
    out += "\ndata: ";
    out += json;
    out += "\n\n";
    return out;
}

std::string regionIngestJson(std::size_t received, std::size_t applied)
{
    return "{\"received\":" + std::to_string(received) + ",\"applied\":" + std::to_string(applied)
        + "}";
}

} // namespace livecomments::server
