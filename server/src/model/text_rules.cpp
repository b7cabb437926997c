// SPDX-License-Identifier: MIT
#include "model/text_rules.h"

#include "model/errors.h"

#include <cstdio>

namespace livecomments::server {

namespace {

/// Decodes one code point at `i`; returns its length or 0 when invalid.
std::size_t decode(std::string_view s, std::size_t i, char32_t& cp)
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t min = 0;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    } else if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size())
        return 0;
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/// "U+202E".
std::string codePointName(char32_t cp)
{
    char buffer[16];
    std::snprintf(buffer, sizeof buffer, "U+%04X", static_cast<unsigned>(cp));
    return buffer;
}

bool isAsciiSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

} // namespace

bool isBidiControl(char32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E
        || cp == 0x200F || cp == 0x061C;
}

bool isInvisibleFormat(char32_t cp)
{
    return cp == 0x200B || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF
        || (cp >= 0xFFF9 && cp <= 0xFFFB);
}

bool isControl(char32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

long utf8CodePoints(std::string_view text)
{
    long count = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t cp = 0;
        const std::size_t len = decode(text, i, cp);
        if (len == 0)
            return -1;
        i += len;
        ++count;
    }
    return count;
}

std::string normaliseText(
    std::string_view text, const std::string& field, std::size_t maxCodePoints, bool allowNewline)
{
    // U+2028 / U+2029 in UTF-8; a viewer would show them as line breaks, so they are line ends.
    static constexpr std::string_view kLineSeparator = "\xE2\x80\xA8";
    static constexpr std::string_view kParagraphSeparator = "\xE2\x80\xA9";
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < text.size() && text[i + 1] == '\n')
                ++i;
        } else if (text.compare(i, 3, kLineSeparator) == 0
            || text.compare(i, 3, kParagraphSeparator) == 0) {
            out.push_back('\n');
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    std::size_t begin = 0, end = out.size();
    while (begin < end && isAsciiSpace(out[begin]))
        ++begin;
    while (end > begin && isAsciiSpace(out[end - 1]))
        --end;
    out = out.substr(begin, end - begin);

    std::size_t count = 0;
    for (std::size_t i = 0; i < out.size();) {
        char32_t cp = 0;
        const std::size_t len = decode(out, i, cp);
        if (len == 0)
            throw badField(field, "not valid UTF-8");
        if (isControl(cp) && !(cp == '\n' && allowNewline))
            throw badField(field, "control characters are not allowed (" + codePointName(cp) + ")");
        if (isBidiControl(cp))
            throw badField(field,
                "bidirectional control characters are not allowed (" + codePointName(cp) + ")");
        if (isInvisibleFormat(cp))
            throw badField(
                field, "invisible format characters are not allowed (" + codePointName(cp) + ")");
        i += len;
        ++count;
    }
    if (count == 0)
        throw badField(field, "must not be empty");
    if (count > maxCodePoints)
        throw badField(field, "longer than " + std::to_string(maxCodePoints) + " characters");
    return out;
}

} // namespace livecomments::server
