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
/// Threading: owned by one connection; feed()/endOfStream() and every callback run on the caller's
/// thread, synchronously, from inside feed(). Callbacks must not call feed() re-entrantly.
class SseParser {
public:
    /// Receivers of parser output. Any member may be empty (it is then skipped).
    struct Callbacks {
        std::function<void(const SseEvent&)> onEvent; ///< a dispatched event
        std::function<void(std::chrono::milliseconds)>
            onRetry; ///< `retry:` with all-ASCII-digits value
        std::function<void(std::string_view)> onComment; ///< optional: `:` lines (heartbeats)
    };
    /// Default cap for one pending line or event (bytes).
    static constexpr std::size_t kDefaultMaxEventBytes = 16u * 1024 * 1024;
    /// Creates a parser that reports to @p callbacks and refuses events larger than @p
    /// maxEventBytes.
    explicit SseParser(Callbacks callbacks, std::size_t maxEventBytes = kDefaultMaxEventBytes);

    /// Feeds bytes. Returns false when the pending line/event grew past maxEventBytes; the caller
    /// must drop the connection (the parser has discarded the oversized event and is ready for
    /// endOfStream()).
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

    Callbacks m_callbacks;
    std::size_t m_maxEventBytes;
    std::string m_line; ///< bytes of the current, unterminated line (only when split across chunks)
    std::string m_data; ///< data buffer of the pending event
    std::string m_eventType; ///< event type buffer of the pending event
    std::string m_lastEventIdBuffer; ///< spec's "last event ID buffer" (set by `id:`)
    std::string m_lastEventId; ///< spec's "last event ID string" (set on dispatch; persists)
    std::size_t m_bomMatched = 0; ///< BOM bytes matched so far at stream start
    bool m_atStreamStart = true; ///< still inside the first three bytes where a BOM may be
    bool m_skipLf = false; ///< the previous chunk ended in CR: a leading LF belongs to it
    bool m_overflow = false; ///< an oversized event is being discarded until endOfStream()
};

} // namespace livecomments
