// SPDX-License-Identifier: MIT
#include "http/http.h"

#include "json/json.h"

#include <curl/curl.h>

#include <cctype>

namespace livecomments::detail {

std::string HttpResponse::header(std::string_view lowerName) const
{
    for (const auto& [name, value] : headers) {
        if (name == lowerName)
            return value;
    }
    return {};
}

Error errorFromCurl(int curlCode, const char* detail)
{
    const auto code = static_cast<CURLcode>(curlCode);
    std::string message = curl_easy_strerror(code);
    if (detail && *detail) {
        message += ": ";
        message += detail;
    }
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return Error { ErrorCode::Timeout, message, 0, -1 };
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return Error { ErrorCode::InvalidArgument, message, 0, -1 };
    case CURLE_OUT_OF_MEMORY:
        return Error { ErrorCode::Internal, message, 0, -1 };
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED:
        // Named as such so an app can tell "not trusted" from "unreachable".
        return Error { ErrorCode::Tls, "TLS: " + message, 0, -1 };
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return Error { ErrorCode::Protocol, message, 0, -1 };
    default:
        // Connection refused/reset, DNS, TLS, partial file, receive/send errors, a stream the
        // peer closed: all "the network", all worth a retry.
        return Error { ErrorCode::Network, message, 0, -1 };
    }
}

long long retryAfterMs(const HttpResponse& response)
{
    const std::string v = response.header("retry-after");
    if (v.empty() || v.size() > 9)
        return -1;
    long long seconds = 0;
    for (char c : v) {
        if (!std::isdigit(static_cast<unsigned char>(c)))
            return -1;
        seconds = seconds * 10 + (c - '0');
    }
    return seconds * 1000;
}

Error errorFromHttp(const HttpResponse& response)
{
    const int status = response.status;
    std::string message = "HTTP " + std::to_string(status);
    if (auto body = json::parse(response.body)) {
        if (const auto* err = body->find("error")) {
            const auto* code = err->find("code");
            const auto* msg = err->find("message");
            if (code && code->isString())
                message += " " + code->text();
            if (msg && msg->isString())
                message += ": " + msg->text();
        }
    }
    return Error { errorCodeForHttpStatus(status), message, status, retryAfterMs(response) };
}

std::string urlEncode(std::string_view s)
{
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    return out;
}

} // namespace livecomments::detail
