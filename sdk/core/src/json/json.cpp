// SPDX-License-Identifier: MIT
#include "json/json.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdlib>
#include <exception>

namespace livecomments::json {

Value Value::boolean(bool b)
{
    Value v;
    v.m_type = Type::Bool;
    v.m_bool = b;
    return v;
}

Value Value::number(std::string text)
{
    Value v;
    v.m_type = Type::Number;
    v.m_text = std::move(text);
    return v;
}

Value Value::number(std::int64_t n)
{
    return number(std::to_string(n));
}

Value Value::string(std::string s)
{
    Value v;
    v.m_type = Type::String;
    v.m_text = std::move(s);
    return v;
}

Value Value::array(std::vector<Value> items)
{
    Value v;
    v.m_type = Type::Array;
    v.m_items = std::move(items);
    return v;
}

Value Value::object(std::vector<std::pair<std::string, Value>> members)
{
    Value v;
    v.m_type = Type::Object;
    v.m_members = std::move(members);
    return v;
}

std::optional<std::int64_t> Value::asInt64() const
{
    if (m_type != Type::Number || m_text.empty())
        return std::nullopt;
    for (char c : m_text) {
        if (c == '.' || c == 'e' || c == 'E')
            return std::nullopt;
    }
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(m_text.c_str(), &end, 10);
    if (errno == ERANGE || end != m_text.c_str() + m_text.size())
        return std::nullopt;
    return static_cast<std::int64_t>(n);
}

double Value::asDouble() const
{
    if (m_type != Type::Number)
        return 0;
    return std::strtod(m_text.c_str(), nullptr);
}

const Value* Value::find(std::string_view key) const
{
    if (m_type != Type::Object)
        return nullptr;
    for (auto it = m_members.rbegin(); it != m_members.rend(); ++it) {
        if (it->first == key)
            return &it->second;
    }
    return nullptr;
}

void Value::set(std::string key, Value v)
{
    for (auto& m : m_members) {
        if (m.first == key) {
            m.second = std::move(v);
            return;
        }
    }
    m_members.emplace_back(std::move(key), std::move(v));
}

std::size_t utf8SequenceLength(std::string_view s, std::size_t i) noexcept
{
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80)
        return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; // no overlongs
        if (c == 0xED)
            hi = 0x9F; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; // max U+10FFFF
    } else {
        return 0;
    }
    if (i + len > s.size())
        return 0;
    if (b(i + 1) < lo || b(i + 1) > hi)
        return 0;
    for (std::size_t k = 2; k < len; ++k) {
        if (b(i + k) < 0x80 || b(i + k) > 0xBF)
            return 0;
    }
    return len;
}

bool isValidUtf8(std::string_view s) noexcept
{
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8SequenceLength(s, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

namespace {

// Length of the maximal subpart of an ill-formed sequence starting at i (Unicode §3.9,
// "U+FFFD substitution of maximal subparts"): at least 1.
std::size_t invalidSubpartLength(std::string_view s, std::size_t i)
{
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 1;
    std::size_t k = 1;
    for (; k < len && i + k < s.size(); ++k) {
        const auto d = static_cast<unsigned char>(s[i + k]);
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (d < l || d > h)
            break;
    }
    return k;
}

// Builds a Value from nlohmann's SAX events. nlohmann's parser is iterative (an explicit stack),
// so only what we build could recurse: the depth limit bounds both the build and the recursive
// destruction and serialization of the result. Returning false stops the parser at once.
// The member names are nlohmann's SAX interface, hence snake_case.
// NOLINTBEGIN(readability-identifier-naming)
class Builder {
public:
    using Json = nlohmann::json;

    bool null() { return add(Value::null()); }
    bool boolean(bool b) { return add(Value::boolean(b)); }
    // Integers arrive as exact 64-bit values (text lost, so "-0" reads as 0); anything beyond
    // uint64 arrives as a float with its source text, which Value keeps.
    bool number_integer(Json::number_integer_t n) { return add(Value::number(std::to_string(n))); }
    bool number_unsigned(Json::number_unsigned_t n)
    {
        return add(Value::number(std::to_string(n)));
    }
    bool number_float(Json::number_float_t, const Json::string_t& text)
    {
        return add(Value::number(text));
    }
    bool string(Json::string_t& s) { return add(Value::string(std::move(s))); }
    bool binary(Json::binary_t&) { return fail("binary values are not JSON"); }
    bool start_object(std::size_t) { return open(Value::object()); }
    bool key(Json::string_t& k)
    {
        m_keys.push_back(std::move(k));
        return true;
    }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(Value::array()); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e)
    {
        return fail(e.what());
    }

    std::optional<Value> take(std::string* error)
    {
        if (!m_error.empty() || !m_root) {
            if (error)
                *error = m_error.empty() ? std::string("no value") : m_error;
            return std::nullopt;
        }
        return std::move(m_root);
    }
    bool fail(std::string what)
    {
        if (m_error.empty())
            m_error = std::move(what);
        return false;
    }

private:
    static constexpr std::size_t kMaxDepth = 128;

    bool open(Value container)
    {
        if (m_open.size() >= kMaxDepth)
            return fail("nesting deeper than " + std::to_string(kMaxDepth));
        m_open.push_back(std::move(container));
        return true;
    }
    bool close()
    {
        Value done = std::move(m_open.back());
        m_open.pop_back();
        return add(std::move(done));
    }
    bool add(Value v)
    {
        if (m_open.empty()) {
            m_root = std::move(v);
            return true;
        }
        Value& parent = m_open.back();
        if (parent.isArray()) {
            parent.append(std::move(v));
        } else {
            // Duplicate names: the last one wins (docs/sdk.md "JSON").
            parent.set(std::move(m_keys.back()), std::move(v));
            m_keys.pop_back();
        }
        return true;
    }

    std::vector<Value> m_open; ///< containers being filled, outermost first
    std::vector<std::string> m_keys; ///< pending member names of the open objects
    std::optional<Value> m_root;
    std::string m_error;
};
// NOLINTEND(readability-identifier-naming)

void serializeTo(std::string& out, const Value& v)
{
    switch (v.type()) {
    case Value::Type::Null:
        out += "null";
        break;
    case Value::Type::Bool:
        out += v.asBool() ? "true" : "false";
        break;
    case Value::Type::Number:
        out += v.text();
        break;
    case Value::Type::String:
        appendQuoted(out, v.text());
        break;
    case Value::Type::Array: {
        out += '[';
        bool first = true;
        for (const auto& item : v.items()) {
            if (!first)
                out += ',';
            first = false;
            serializeTo(out, item);
        }
        out += ']';
        break;
    }
    case Value::Type::Object: {
        out += '{';
        bool first = true;
        for (const auto& [key, item] : v.members()) {
            if (!first)
                out += ',';
            first = false;
            appendQuoted(out, key);
            out += ':';
            serializeTo(out, item);
        }
        out += '}';
        break;
    }
    }
}

} // namespace

std::optional<Value> parse(std::string_view text, std::string* error)
{
    Builder builder;
    try {
        // Strict RFC 8259: one value, no comments; strings must be valid UTF-8 (nlohmann rejects
        // overlongs, surrogates and truncated sequences, and lone \u surrogates).
        nlohmann::json::sax_parse(
            text.begin(), text.end(), &builder, nlohmann::json::input_format_t::json, true, false);
    } catch (const std::exception& e) {
        // Only allocation failures can get here; nothing throws across this API.
        builder.fail(e.what());
    }
    return builder.take(error);
}

void appendQuoted(std::string& out, std::string_view s)
{
    static const char kHex[] = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const std::size_t n = utf8SequenceLength(s, i);
            if (n == 0) {
                out += "\\ufffd";
                i += invalidSubpartLength(s, i);
            } else {
                out.append(s.data() + i, n);
                i += n;
            }
            continue;
        }
        ++i;
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
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 0xF];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

std::string quoted(std::string_view s)
{
    std::string out;
    out.reserve(s.size() + 2);
    appendQuoted(out, s);
    return out;
}

std::string serialize(const Value& v)
{
    std::string out;
    serializeTo(out, v);
    return out;
}

} // namespace livecomments::json
