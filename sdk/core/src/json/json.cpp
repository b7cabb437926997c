// SPDX-License-Identifier: MIT
#include "json/json.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

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

void appendUtf8(std::string& out, std::uint32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

class Parser {
public:
    explicit Parser(std::string_view text)
        : m_s(text)
    { }

    std::optional<Value> run(std::string* error)
    {
        skipWs();
        Value v;
        if (!parseValue(v, 0)) {
            if (error)
                *error = m_error + " at offset " + std::to_string(m_pos);
            return std::nullopt;
        }
        skipWs();
        if (m_pos != m_s.size()) {
            if (error)
                *error = "trailing characters at offset " + std::to_string(m_pos);
            return std::nullopt;
        }
        return v;
    }

private:
    static constexpr int kMaxDepth = 128;

    bool fail(const char* what)
    {
        if (m_error.empty())
            m_error = what;
        return false;
    }
    bool atEnd() const { return m_pos >= m_s.size(); }
    char peek() const { return m_s[m_pos]; }
    void skipWs()
    {
        while (!atEnd()) {
            const char c = peek();
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
                break;
            ++m_pos;
        }
    }
    bool literal(std::string_view word)
    {
        if (m_s.substr(m_pos, word.size()) != word)
            return fail("invalid literal");
        m_pos += word.size();
        return true;
    }

    bool parseValue(Value& out, int depth)
    {
        if (depth > kMaxDepth)
            return fail("nesting too deep");
        if (atEnd())
            return fail("unexpected end");
        switch (peek()) {
        case '{':
            return parseObject(out, depth);
        case '[':
            return parseArray(out, depth);
        case '"': {
            std::string s;
            if (!parseString(s))
                return false;
            out = Value::string(std::move(s));
            return true;
        }
        case 't':
            out = Value::boolean(true);
            return literal("true");
        case 'f':
            out = Value::boolean(false);
            return literal("false");
        case 'n':
            out = Value::null();
            return literal("null");
        default:
            return parseNumber(out);
        }
    }

    bool parseObject(Value& out, int depth)
    {
        ++m_pos; // '{'
        out = Value::object();
        skipWs();
        if (!atEnd() && peek() == '}') {
            ++m_pos;
            return true;
        }
        for (;;) {
            skipWs();
            if (atEnd() || peek() != '"')
                return fail("expected member name");
            std::string key;
            if (!parseString(key))
                return false;
            skipWs();
            if (atEnd() || peek() != ':')
                return fail("expected ':'");
            ++m_pos;
            skipWs();
            Value v;
            if (!parseValue(v, depth + 1))
                return false;
            out.set(std::move(key), std::move(v));
            skipWs();
            if (atEnd())
                return fail("unterminated object");
            if (peek() == ',') {
                ++m_pos;
                continue;
            }
            if (peek() == '}') {
                ++m_pos;
                return true;
            }
            return fail("expected ',' or '}'");
        }
    }

    bool parseArray(Value& out, int depth)
    {
        ++m_pos; // '['
        out = Value::array();
        skipWs();
        if (!atEnd() && peek() == ']') {
            ++m_pos;
            return true;
        }
        for (;;) {
            skipWs();
            Value v;
            if (!parseValue(v, depth + 1))
                return false;
            out.append(std::move(v));
            skipWs();
            if (atEnd())
                return fail("unterminated array");
            if (peek() == ',') {
                ++m_pos;
                continue;
            }
            if (peek() == ']') {
                ++m_pos;
                return true;
            }
            return fail("expected ',' or ']'");
        }
    }

    bool hex4(std::uint32_t& cp)
    {
        if (m_pos + 4 > m_s.size())
            return fail("short \\u escape");
        cp = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = m_s[m_pos++];
            cp <<= 4;
            if (c >= '0' && c <= '9')
                cp |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                cp |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                cp |= static_cast<std::uint32_t>(c - 'A' + 10);
            else
                return fail("bad hex digit in \\u escape");
        }
        return true;
    }

    bool parseString(std::string& out)
    {
        ++m_pos; // opening quote
        for (;;) {
            if (atEnd())
                return fail("unterminated string");
            const auto c = static_cast<unsigned char>(peek());
            if (c == '"') {
                ++m_pos;
                return true;
            }
            if (c < 0x20)
                return fail("control character in string");
            if (c == '\\') {
                ++m_pos;
                if (atEnd())
                    return fail("unterminated escape");
                const char e = m_s[m_pos++];
                switch (e) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    std::uint32_t cp = 0;
                    if (!hex4(cp))
                        return false;
                    if (cp >= 0xDC00 && cp <= 0xDFFF)
                        return fail("lone low surrogate");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (m_s.substr(m_pos, 2) != "\\u")
                            return fail("lone high surrogate");
                        m_pos += 2;
                        std::uint32_t low = 0;
                        if (!hex4(low))
                            return false;
                        if (low < 0xDC00 || low > 0xDFFF)
                            return fail("bad surrogate pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    appendUtf8(out, cp);
                    break;
                }
                default:
                    return fail("bad escape");
                }
                continue;
            }
            const std::size_t n = utf8SequenceLength(m_s, m_pos);
            if (n == 0)
                return fail("invalid UTF-8 in string");
            out.append(m_s.data() + m_pos, n);
            m_pos += n;
        }
    }

    bool digits()
    {
        const std::size_t start = m_pos;
        while (!atEnd() && peek() >= '0' && peek() <= '9')
            ++m_pos;
        return m_pos > start;
    }

    bool parseNumber(Value& out)
    {
        const std::size_t start = m_pos;
        if (!atEnd() && peek() == '-')
            ++m_pos;
        if (atEnd())
            return fail("bad number");
        if (peek() == '0') {
            ++m_pos;
        } else if (peek() >= '1' && peek() <= '9') {
            digits();
        } else {
            return fail("unexpected character");
        }
        if (!atEnd() && peek() == '.') {
            ++m_pos;
            if (!digits())
                return fail("bad fraction");
        }
        if (!atEnd() && (peek() == 'e' || peek() == 'E')) {
            ++m_pos;
            if (!atEnd() && (peek() == '+' || peek() == '-'))
                ++m_pos;
            if (!digits())
                return fail("bad exponent");
        }
        out = Value::number(std::string(m_s.substr(start, m_pos - start)));
        return true;
    }

    std::string_view m_s;
    std::size_t m_pos = 0;
    std::string m_error;
};

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
    return Parser(text).run(error);
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
