// SPDX-License-Identifier: MIT
// libFuzzer: every request-body shape (the three comment shapes and POST /videos) and the text
// rules applied after decoding. Invariants beyond "no crash, no sanitizer report": a decoded
// liveVideoId is a positive int32, only ApiError 400 escapes, and normalised text is valid UTF-8
// without refused characters and normalises to itself.
#include "model/errors.h"
#include "model/request_body.h"
#include "model/text_rules.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace livecomments::server;

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

void checkText(const std::string& raw, const std::string& field, bool allowNewline)
{
    try {
        const std::string clean = normaliseText(raw, field, kMaxCommentCodePoints, allowNewline);
        check(utf8CodePoints(clean) > 0);
        check(clean.find('\r') == std::string::npos);
        check(normaliseText(clean, field, kMaxCommentCodePoints, allowNewline) == clean);
    } catch (const ApiError& e) {
        check(e.kind() == ErrorKind::BadRequest);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    for (const CommentShape shape :
        { CommentShape::Design, CommentShape::Alias, CommentShape::Create }) {
        try {
            const CommentRequest request = decodeCommentBody(body, shape);
            if (shape == CommentShape::Create)
                check(request.videoId >= 1 && request.videoId <= 2147483647u);
            else
                check(request.videoId == 0);
            check(request.field == "text" || request.field == "comment"
                || request.field == "message");
            checkText(request.text, request.field, true);
        } catch (const ApiError& e) {
            check(e.kind() == ErrorKind::BadRequest);
        }
    }
    try {
        checkText(decodeVideoBody(body), "title", false);
    } catch (const ApiError& e) {
        check(e.kind() == ErrorKind::BadRequest);
    }
    // The raw bytes as text too: the rules must hold for any byte string, not only JSON strings.
    checkText(std::string(body), "text", true);
    return 0;
}
