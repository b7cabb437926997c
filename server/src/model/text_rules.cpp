// SPDX-License-Identifier: MIT
#include "model/text_rules.h"

#include "model/errors.h"

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

bool isAsciiSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

} // namespace

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
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < text.size() && text[i + 1] == '\n')
                ++i;
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
        const bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
        if (control && !(cp == '\n' && allowNewline))
            throw badField(field, "control characters are not allowed");
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
