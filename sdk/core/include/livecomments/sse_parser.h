// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace livecomments {

/// One dispatched event (WHATWG HTML §9.2 "event stream interpretation").
struct SseEvent {
    std::string type; ///< "message" when no `event:` field was given
    std::string data; ///< data lines joined with '\n', trailing '\n' removed
    std::string lastEventId; ///< the parser's last event id at dispatch time
};

/// Incremental, linear-time event-stream parser. Chunk boundaries may fall anywhere (inside CRLF,
/// inside a UTF-8 sequence, inside the BOM). Not thread-safe; one instance per connection lifetime.
///
/// Follows WHATWG HTML §9.2.5/§9.2.6 exactly: one BOM stripped per stream; CR, LF and CRLF line
/// ends (a CR at the end of a chunk ends its line at once); one space after the colon removed;
/// `id` containing NUL ignored, empty `id` clears; `retry` only when all ASCII digits; blocks with
/// an empty data buffer are not dispatched (their `id` still counts); the incomplete event at
/// endOfStream() is discarded. Bytes are decoded as UTF-8 with replacement: the strings handed to
/// the callbacks are valid UTF-8, invalid sequences become U+FFFD.
///
/// Threading: owned by one connection; feed(), endOfStream() and all callbacks run synchronously
/// on the caller's thread, callbacks from inside feed(). A callback may call endOfStream() (the
/// rest of the chunk is then dropped), lastEventId() and setLastEventId(); a re-entrant feed() is
/// refused (returns false); destroying the parser from a callback is not allowed. An exception
/// thrown by a callback is caught and ignored (the parser goes on with the next line).
class SseParser {
public:
    /// Receivers of parser output. Any member may be empty (it is then skipped).
    struct Callbacks {
        std::function<void(const SseEvent&)> onEvent; ///< a dispatched event
        /// `retry:` with all-ASCII-digits value (huge values saturate)
        std::function<void(std::chrono::milliseconds)> onRetry;
        /// optional: `:` lines (heartbeats); receives the text after the colon (UTF-8
        /// decoded, no space removed); the view is valid only during the call
        std::function<void(std::string_view)> onComment;
    };
    /// Default cap for one event's data and for one line (bytes).
    static constexpr std::size_t kDefaultMaxEventBytes = 16u * 1024 * 1024;
    /// Creates a parser that reports to @p callbacks and refuses events larger than @p
    /// maxEventBytes.
    explicit SseParser(Callbacks callbacks, std::size_t maxEventBytes = kDefaultMaxEventBytes);

    /// Feeds bytes. Returns false when the pending line/event grew past maxEventBytes; the caller
    /// must drop the connection (the parser has discarded the oversized event and is ready for
    /// endOfStream()).
    ///
    /// The cap counts the data the event would deliver, and the raw bytes of any single line
    /// (which may exceed the cap by 64 bytes for the field name). Once feed() returned false it
    /// keeps returning false, ignoring its input, until endOfStream().
    bool feed(std::string_view bytes);
    /// The connection ended: discards an incomplete event and line, re-arms BOM and CR handling for
    /// the next connection. The last event id is kept (it persists across reconnects, per spec).
    void endOfStream();

    /// The last event id (empty when none was set or it was cleared by an empty `id:`).
    const std::string& lastEventId() const;
    void setLastEventId(std::string id); ///< e.g. restored from a cache

private:
    bool scan(std::string_view chunk);
    void processLine(std::string_view line);
    void processField(std::string_view name, std::string_view value);
    void dispatch();
    void resetEvent();
    void overflow();
    void resetStream();

    Callbacks m_callbacks;
    std::size_t m_maxEventBytes;
    std::size_t m_maxLineBytes; ///< cap on pending line + data buffer (cap + slack, saturated)
    std::string m_line; ///< bytes of the current, unterminated line (only when split across chunks)
    std::string m_data; ///< data buffer of the pending event
    std::string m_eventType; ///< event type buffer of the pending event
    std::string m_lastEventIdBuffer; ///< spec's "last event ID buffer" (set by `id:`)
    std::string m_lastEventId; ///< spec's "last event ID string" (set on dispatch; persists)
    std::size_t m_bomMatched = 0; ///< BOM bytes matched so far at stream start
    bool m_atStreamStart = true; ///< still inside the first three bytes where a BOM may be
    bool m_skipLf = false; ///< the previous chunk ended in CR: a leading LF belongs to it
    bool m_overflow = false; ///< an oversized event is being discarded until endOfStream()
    bool m_feeding = false; ///< inside feed() (callbacks run)
    bool m_endRequested = false; ///< endOfStream() was called from a callback
};

} // namespace livecomments
