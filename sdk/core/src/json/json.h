// SPDX-License-Identifier: MIT
#pragma once
// The SDK's one JSON codec: a no-throw wrapper around nlohmann-json (parsing, through its SAX
// interface) plus the writer of the wire's strings. Internal: nlohmann stays out of the public
// headers and of the SDK's link interface.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace livecomments::json {

/// A parsed JSON value. Numbers keep their source text so 64-bit integers stay exact.
///
/// Threading: a plain value type.
class Value {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };

    Value() = default;
    static Value null() { return Value(); }
    static Value boolean(bool b);
    static Value number(std::string text); ///< text must be a valid JSON number
    static Value number(std::int64_t n);
    static Value string(std::string s);
    static Value array(std::vector<Value> items = {});
    static Value object(std::vector<std::pair<std::string, Value>> members = {});

    Type type() const { return m_type; }
    bool isNull() const { return m_type == Type::Null; }
    bool isBool() const { return m_type == Type::Bool; }
    bool isNumber() const { return m_type == Type::Number; }
    bool isString() const { return m_type == Type::String; }
    bool isArray() const { return m_type == Type::Array; }
    bool isObject() const { return m_type == Type::Object; }

    bool asBool() const { return m_bool; }
    /// String contents (String) or number text (Number); empty otherwise.
    const std::string& text() const { return m_text; }
    /// An integral Number within int64, else std::nullopt.
    std::optional<std::int64_t> asInt64() const;
    /// Number as double (0 for non-numbers).
    double asDouble() const;
    const std::vector<Value>& items() const { return m_items; }
    const std::vector<std::pair<std::string, Value>>& members() const { return m_members; }
    /// Member @p key of an Object (last one wins on duplicates), nullptr when absent.
    const Value* find(std::string_view key) const;

    void append(Value v) { m_items.push_back(std::move(v)); }
    void set(std::string key, Value v);

private:
    Type m_type = Type::Null;
    bool m_bool = false;
    std::string m_text;
    std::vector<Value> m_items;
    std::vector<std::pair<std::string, Value>> m_members;
};

/// Parses one JSON text (whitespace around allowed, nothing else). Strict: rejects trailing
/// commas, leading zeros, control characters in strings, invalid UTF-8, lone surrogates and
/// more than 128 nested arrays/objects. Duplicate member names: the last one wins. Never throws:
/// on failure returns std::nullopt and sets @p error if given.
std::optional<Value> parse(std::string_view text, std::string* error = nullptr);

/// Appends @p s as a JSON string literal (with quotes). Control characters are escaped; any byte
/// sequence that is not valid UTF-8 becomes \ufffd (one per maximal invalid subpart).
void appendQuoted(std::string& out, std::string_view s);
std::string quoted(std::string_view s);
/// Serializes compactly (no whitespace).
std::string serialize(const Value& v);

/// Decodes one UTF-8 sequence at @p s[i]; returns its length or 0 when invalid (RFC 3629: no
/// overlongs, no surrogates, max U+10FFFF).
std::size_t utf8SequenceLength(std::string_view s, std::size_t i) noexcept;
/// True when @p s is entirely valid UTF-8.
bool isValidUtf8(std::string_view s) noexcept;

} // namespace livecomments::json
