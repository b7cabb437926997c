// SPDX-License-Identifier: MIT
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace livecomments::bench {

/// CLOCK_MONOTONIC in nanoseconds: the clock every comment is stamped with and every delivery
/// is measured against (publishers and subscribers live in the same process).
std::int64_t nowNs();

/// Target address parsed from `http://HOST:PORT` (IPv4 or a name that resolves to one).
struct Endpoint {
    sockaddr_in address {};
    std::string hostHeader; ///< HOST:PORT, for the Host header
};

/// Parses `url`; returns false (with `error` set) when it is not http://HOST[:PORT][/].
bool parseUrl(const std::string& url, Endpoint& out, std::string& error);

/// The IPv4 address 127.0.0.(1 + index % sources), in network byte order.
in_addr loopbackSource(std::size_t index, unsigned sources);

/// Incremental decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1). Feed it any
/// slicing of the stream; it calls `sink(std::string_view)` with payload bytes only.
/// Threading: one instance per connection, used by one thread.
class ChunkedDecoder {
public:
    /// Returns false when the stream is malformed; `finished()` tells the last chunk was seen.
    template <typename Sink> bool feed(std::string_view input, Sink&& sink);
    bool finished() const { return m_state == State::Done; }
    void reset() { *this = ChunkedDecoder(); }

private:
    enum class State : std::uint8_t {
        Size,
        SizeExtension,
        SizeLf,
        Data,
        DataCr,
        DataLf,
        Trailer,
        Done
    };
    State m_state = State::Size;
    bool m_sawDigit = false;
    std::uint64_t m_remaining = 0;
    std::uint8_t m_trailerNewlines = 0;
};

template <typename Sink> bool ChunkedDecoder::feed(std::string_view input, Sink&& sink)
{
    std::size_t i = 0;
    while (i < input.size()) {
        const char c = input[i];
        switch (m_state) {
        case State::Size: {
            int digit = -1;
            if (c >= '0' && c <= '9')
                digit = c - '0';
            else if (c >= 'a' && c <= 'f')
                digit = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                digit = c - 'A' + 10;
            if (digit >= 0) {
                if (m_remaining > (std::uint64_t { 1 } << 56))
                    return false;
                m_remaining = m_remaining * 16 + static_cast<std::uint64_t>(digit);
                m_sawDigit = true;
            } else if (c == ';' || c == ' ' || c == '\t') {
                m_state = State::SizeExtension;
            } else if (c == '\r') {
                m_state = State::SizeLf;
            } else if (c == '\n') {
                m_state = State::SizeLf;
                continue; // handle the LF in SizeLf
            } else {
                return false;
            }
            ++i;
            break;
        }
        case State::SizeExtension:
            if (c == '\r' || c == '\n')
                m_state = State::SizeLf;
            if (c != '\n')
                ++i;
            break;
        case State::SizeLf:
            if (c != '\n')
                return false;
            ++i;
            if (!m_sawDigit)
                return false;
            m_sawDigit = false;
            if (m_remaining == 0) {
                m_state = State::Trailer;
                m_trailerNewlines = 1;
            } else {
                m_state = State::Data;
            }
            break;
        case State::Data: {
            const std::size_t n
                = static_cast<std::size_t>(std::min<std::uint64_t>(m_remaining, input.size() - i));
            sink(input.substr(i, n));
            i += n;
            m_remaining -= n;
            if (m_remaining == 0)
                m_state = State::DataCr;
            break;
        }
        case State::DataCr:
            if (c == '\r') {
                m_state = State::DataLf;
                ++i;
            } else if (c == '\n') {
                m_state = State::DataLf;
            } else {
                return false;
            }
            break;
        case State::DataLf:
            if (c != '\n')
                return false;
            ++i;
            m_state = State::Size;
            break;
        case State::Trailer:
            // Trailer fields end with an empty line; count consecutive LFs ignoring CR.
            if (c == '\n') {
                if (++m_trailerNewlines >= 2)
                    m_state = State::Done;
            } else if (c != '\r') {
                m_trailerNewlines = 0;
            }
            ++i;
            break;
        case State::Done:
            return true;
        }
    }
    return true;
}

/// Minimal blocking HTTP/1.1 keep-alive client for the publisher threads and setup calls.
/// Reconnects transparently when the server closed the connection. Threading: one per thread.
class HttpClient {
public:
    HttpClient(Endpoint endpoint, in_addr source);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    /// Sends one request and reads the whole response. Returns the status code, or -1 on a
    /// transport failure (`body` then holds the reason).
    int request(std::string_view method, std::string_view path, std::string_view extraHeaders,
        std::string_view body, std::string& responseBody, int timeoutMs = 5000);

private:
    bool ensureConnected(int timeoutMs, std::string& error);
    void disconnect();
    int readResponse(std::string& body, bool& keepAlive);
    /// recv() into m_buffer; false on close, error or timeout (reason in `why`).
    bool fill(std::string& why);

    Endpoint m_endpoint;
    in_addr m_source;
    int m_fd = -1;
    std::string m_buffer;
    bool m_staleClose = false; ///< last failure: peer closed before any response byte
};

} // namespace livecomments::bench
