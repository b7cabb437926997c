// SPDX-License-Identifier: MIT
//
// Event-stream parser. Every rule below follows the WHATWG HTML Living Standard, §9.2.5 "Parsing an
// event stream" and §9.2.6 "Interpreting an event stream"
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
#include "livecomments/sse_parser.h"

#include <cstdint>
#include <exception>
#include <limits>
#include <new>
#include <utility>

namespace livecomments {
namespace {

/// U+FEFF encoded as UTF-8. §9.2.5: "The UTF-8 decode algorithm strips one leading UTF-8 Byte
/// Order Mark (BOM), if any" — only at the very start of the stream.
constexpr unsigned char kBom[3] = { 0xEF, 0xBB, 0xBF };

/// Lines longer than the event cap by more than this are refused. The slack lets one `data:`
/// line whose *value* is exactly maxEventBytes through even when it has to be buffered across
/// chunks (the field name, colon and space are counted in the raw line).
constexpr std::size_t kLineSlack = 64;

/// UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER.
constexpr char kReplacement[] = "\xEF\xBF\xBD";

bool isAscii(std::string_view s)
{
    for (char c : s) {
        if (static_cast<unsigned char>(c) >= 0x80)
            return false;
    }
    return true;
}

/// Appends @p in to @p out decoded as the WHATWG Encoding Standard's "UTF-8 decode" would, then
/// re-encoded: valid sequences are copied byte for byte, every maximal invalid subpart becomes
/// one U+FFFD. §9.2.5 says streams "must be decoded using the UTF-8 decode algorithm", which
/// uses replacement error mode. Decoding one line at a time gives the same result as decoding
/// the whole stream because an ASCII byte (CR, LF) always ends a pending sequence (it is
/// "reprocessed" by the decoder), so no sequence can straddle a line end.
void appendUtf8(std::string& out, std::string_view in)
{
    if (isAscii(in)) {
        out.append(in);
        return;
    }
    out.reserve(out.size() + in.size());
    int needed = 0;
    int seen = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
    std::size_t start = 0; // index of the lead byte of the pending sequence
    for (std::size_t i = 0; i < in.size(); ++i) {
        const auto byte = static_cast<unsigned char>(in[i]);
        if (needed == 0) {
            if (byte <= 0x7F) {
                out.push_back(static_cast<char>(byte));
            } else if (byte >= 0xC2 && byte <= 0xDF) {
                needed = 1;
            } else if (byte >= 0xE0 && byte <= 0xEF) {
                if (byte == 0xE0)
                    lower = 0xA0; // no overlongs
                if (byte == 0xED)
                    upper = 0x9F; // no surrogates
                needed = 2;
            } else if (byte >= 0xF0 && byte <= 0xF4) {
                if (byte == 0xF0)
                    lower = 0x90; // no overlongs
                if (byte == 0xF4)
                    upper = 0x8F; // nothing above U+10FFFF
                needed = 3;
            } else {
                out.append(kReplacement);
            }
            start = i;
            continue;
        }
        if (byte < lower || byte > upper) {
            // Error: emit U+FFFD for the bytes so far and reprocess this byte.
            needed = 0;
            seen = 0;
            lower = 0x80;
            upper = 0xBF;
            out.append(kReplacement);
            --i;
            continue;
        }
        lower = 0x80;
        upper = 0xBF;
        if (++seen == needed) {
            out.append(in.substr(start, i - start + 1));
            needed = 0;
            seen = 0;
        }
    }
    if (needed != 0)
        out.append(kReplacement); // truncated sequence at the end of the line
}

std::string decodeUtf8(std::string_view in)
{
    std::string out;
    appendUtf8(out, in);
    return out;
}

/// Runs a user callback; an exception from user code must not unwind through the parser (it
/// would leave the buffers half-updated) nor out of the SDK (DESIGN: nothing throws across the
/// public API). The event counts as delivered.
template <typename Fn, typename... Args> void invokeCallback(const Fn& fn, Args&&... args) noexcept
{
    if (!fn)
        return;
    try {
        fn(std::forward<Args>(args)...);
    } catch (...) { }
}

} // namespace

SseParser::SseParser(Callbacks callbacks, std::size_t maxEventBytes)
    : m_callbacks(std::move(callbacks))
    , m_maxEventBytes(maxEventBytes)
    , m_maxLineBytes(maxEventBytes > std::numeric_limits<std::size_t>::max() - kLineSlack
              ? std::numeric_limits<std::size_t>::max()
              : maxEventBytes + kLineSlack)
{ }

const std::string& SseParser::lastEventId() const
{
    return m_lastEventId;
}

void SseParser::setLastEventId(std::string id)
{
    m_lastEventIdBuffer = id;
    m_lastEventId = std::move(id);
}

void SseParser::endOfStream()
{
    if (m_feeding) {
        // Called from a callback: scan() may hold a view into m_line; finish after it returns.
        m_endRequested = true;
        return;
    }
    resetStream();
}

void SseParser::resetStream()
{
    // §9.2.6: "Once the end of the file is reached, any pending data must be discarded. (If the
    // file ends in the middle of an event, before the final empty line, the incomplete event is not
    // dispatched.)" The last event ID string belongs to the EventSource and survives reconnection
    // (§9.2.3 sends it as Last-Event-ID); an `id:` seen in the discarded event is dropped with it.
    m_line.clear();
    if (m_line.capacity() > (std::size_t { 1 } << 20))
        std::string().swap(m_line);
    resetEvent();
    if (m_data.capacity() > (std::size_t { 1 } << 20))
        std::string().swap(m_data);
    m_lastEventIdBuffer = m_lastEventId;
    m_bomMatched = 0;
    m_atStreamStart = true;
    m_skipLf = false;
    m_overflow = false;
    m_endRequested = false;
}

bool SseParser::feed(std::string_view bytes)
{
    if (m_feeding || m_overflow)
        return false;
    m_feeding = true;
    bool ok = true;
    try {
        // §9.2.5: strip one BOM at the stream start. Its three bytes may arrive in separate chunks,
        // so match them incrementally; on a mismatch the bytes matched so far are ordinary data.
        while (m_atStreamStart && !bytes.empty()) {
            if (static_cast<unsigned char>(bytes.front()) == kBom[m_bomMatched]) {
                bytes.remove_prefix(1);
                if (++m_bomMatched == sizeof kBom) {
                    m_atStreamStart = false;
                    m_bomMatched = 0;
                }
            } else {
                m_atStreamStart = false;
                const std::size_t matched = m_bomMatched;
                m_bomMatched = 0;
                if (matched > 0)
                    ok = scan(std::string_view(reinterpret_cast<const char*>(kBom), matched));
            }
        }
        if (ok)
            ok = scan(bytes);
    } catch (...) {
        // Only std::bad_alloc can get here (callbacks are shielded). Treat like an oversized event:
        // the connection must be dropped.
        overflow();
        ok = false;
    }
    m_feeding = false;
    if (m_endRequested) {
        resetStream(); // a callback ended the stream; the rest of the chunk was dropped
        return true;
    }
    return ok;
}

bool SseParser::scan(std::string_view chunk)
{
    std::size_t pos = 0;
    const std::size_t size = chunk.size();
    const char* const p = chunk.data();
    // §9.2.5: end-of-line = CRLF / LF / CR. A CR that ended the previous chunk already ended its
    // line (so the last event of a chunk is never held back waiting for one more byte); an LF
    // opening this chunk is the second half of that CRLF and is skipped.
    if (m_skipLf && pos < size) {
        m_skipLf = false;
        if (p[pos] == '\n')
            ++pos;
    }
    while (pos < size) {
        std::size_t end = pos;
        while (end < size && p[end] != '\n' && p[end] != '\r')
            ++end;
        // Bound the pending line (and event) whether or not the line end is in this chunk, so the
        // limit does not depend on how the stream was chunked.
        if (m_line.size() + (end - pos) + m_data.size() > m_maxLineBytes) {
            overflow();
            return false;
        }
        if (end == size) {
            m_line.append(p + pos, size - pos); // unterminated: keep it for the next chunk
            return true;
        }
        if (m_line.empty()) {
            processLine(std::string_view(p + pos, end - pos));
        } else {
            m_line.append(p + pos, end - pos);
            processLine(m_line);
            m_line.clear();
        }
        if (m_overflow)
            return false;
        if (m_endRequested)
            return true;
        if (p[end] == '\r') {
            if (end + 1 < size) {
                if (p[end + 1] == '\n')
                    ++end;
            } else {
                m_skipLf = true;
            }
        }
        pos = end + 1;
    }
    return true;
}

void SseParser::processLine(std::string_view line)
{
    // §9.2.6 "Interpreting an event stream", one line at a time.
    if (line.empty()) {
        dispatch(); // "If the line is empty (a blank line): Dispatch the event"
        return;
    }
    if (line.front() == ':') {
        // "If the line starts with a U+003A COLON character (:): Ignore the line." We still hand
        // the text after the colon to onComment (heartbeat detection).
        if (m_callbacks.onComment) {
            const std::string text = decodeUtf8(line.substr(1));
            invokeCallback(m_callbacks.onComment, std::string_view(text));
        }
        return;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
        // "Otherwise, the string is not empty but does not contain a U+003A COLON character (:):
        // Process the field using the whole line as the field name, and the empty string as the
        // field value."
        processField(line, std::string_view());
        return;
    }
    std::string_view value = line.substr(colon + 1);
    // "If value starts with a U+0020 SPACE character, remove it from value." Only one.
    if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    processField(line.substr(0, colon), value);
}

void SseParser::processField(std::string_view name, std::string_view value)
{
    // Field names are compared literally ("case-sensitive"); anything else is ignored.
    if (name == "data") {
        // "Append the field value to the data buffer, then append a single U+000A LINE FEED (LF)
        // character to the data buffer." The cap counts the data the event would deliver (the
        // buffer minus its trailing LF).
        if (m_data.size() + value.size() > m_maxEventBytes) {
            overflow();
            return;
        }
        appendUtf8(m_data, value);
        m_data.push_back('\n');
    } else if (name == "event") {
        // "Set the event type buffer to field value."
        m_eventType.clear();
        appendUtf8(m_eventType, value);
    } else if (name == "id") {
        // "If the field value does not contain U+0000 NULL, then set the last event ID buffer to
        // the field value. Otherwise, ignore the field." An empty value clears it.
        if (value.find('\0') == std::string_view::npos) {
            m_lastEventIdBuffer.clear();
            appendUtf8(m_lastEventIdBuffer, value);
        }
    } else if (name == "retry") {
        // "If the field value consists of only ASCII digits, then interpret the field value as an
        // integer in base ten, and set the event stream's reconnection time to that integer.
        // Otherwise, ignore the field." An empty value is not a number; huge values saturate.
        if (value.empty())
            return;
        using Rep = std::chrono::milliseconds::rep;
        constexpr Rep kMax = std::numeric_limits<Rep>::max();
        Rep ms = 0;
        for (char c : value) {
            if (c < '0' || c > '9')
                return;
            const Rep digit = c - '0';
            ms = (ms > (kMax - digit) / 10) ? kMax : ms * 10 + digit;
        }
        invokeCallback(m_callbacks.onRetry, std::chrono::milliseconds(ms));
    }
}

void SseParser::dispatch()
{
    // §9.2.6 "Dispatch the event":
    // 1. "Set the last event ID string of the event source to the value of the last event ID
    //    buffer." — before the empty-data check, so an `id:`-only block still counts.
    m_lastEventId = m_lastEventIdBuffer;
    // 2. "If the data buffer is an empty string, set the data buffer and the event type buffer to
    //    the empty string and return."
    if (m_data.empty()) {
        resetEvent();
        return;
    }
    // 3. "If the data buffer's last character is a U+000A LINE FEED (LF) character, then remove
    //    the last character from the data buffer."
    if (m_data.back() == '\n')
        m_data.pop_back();
    SseEvent event;
    // 4-5. Type is "message" unless the event type buffer holds a non-empty value.
    event.type = m_eventType.empty() ? std::string("message") : std::move(m_eventType);
    event.data = std::move(m_data);
    event.lastEventId = m_lastEventId;
    // "Set the data buffer and the event type buffer to the empty string." (before the callback,
    // so a callback observing the parser sees the post-dispatch state)
    resetEvent();
    invokeCallback(m_callbacks.onEvent, static_cast<const SseEvent&>(event));
}

void SseParser::resetEvent()
{
    m_data.clear();
    m_eventType.clear();
}

void SseParser::overflow()
{
    // The oversized event is discarded; the caller must drop the connection and call
    // endOfStream() (which re-arms the parser).
    m_overflow = true;
    m_line.clear();
    resetEvent();
    std::string().swap(m_line);
    std::string().swap(m_data);
}

} // namespace livecomments
