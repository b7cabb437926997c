// SPDX-License-Identifier: MIT
// libFuzzer: JWT verification. Two modes chosen by the first byte: (even) the input is the token
// text as sent; (odd) the input is "<header JSON>\n<claims JSON>", which the target signs with the
// right secret, so the fuzzer reaches the header and claim checks behind the signature. Only
// ApiError 401 may escape verify(), and an accepted principal must satisfy the documented rules.
#include "auth/jwt_auth.h"
#include "model/errors.h"
#include "model/text_rules.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace livecomments::server;

namespace {

constexpr char kSecret[] = "fuzz-secret";
constexpr double kNow = 1800000000.0; // a fixed clock keeps runs reproducible

void check(bool condition)
{
    if (!condition)
        std::abort();
}

std::string base64Url(std::string_view bytes)
{
    static const char kAlphabet[]
        = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : bytes) {
        bits = (bits << 8) | static_cast<unsigned char>(c);
        count += 8;
        while (count >= 6) {
            count -= 6;
            out.push_back(kAlphabet[(bits >> count) & 63]);
        }
    }
    if (count > 0)
        out.push_back(kAlphabet[(bits << (6 - count)) & 63]);
    return out;
}

std::string signedToken(std::string_view header, std::string_view claims)
{
    const std::string input = base64Url(header) + '.' + base64Url(claims);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), kSecret, sizeof kSecret - 1,
        reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    return input + '.' + base64Url(std::string_view(reinterpret_cast<const char*>(mac), length));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const auth::JwtAuth verifier(auth::JwtKeys { kSecret, "fuzz-previous", 1900000000, 30 });
    if (size == 0)
        return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string token;
    if (data[0] % 2 == 0) {
        token.assign(rest);
    } else {
        const auto newline = rest.find('\n');
        token = newline == std::string_view::npos
            ? signedToken(R"({"alg":"HS256","typ":"JWT"})", rest)
            : signedToken(rest.substr(0, newline), rest.substr(newline + 1));
    }
    try {
        const Principal p = verifier.verifyAt(token, kNow);
        check(!p.userId.empty() && p.userId.size() <= 19 && p.userId[0] != '0');
        check(p.userId.find_first_not_of("0123456789") == std::string::npos);
        const long name = utf8CodePoints(p.name);
        check(name >= 1 && name <= 64 + 24); // "user-<sub>" default or a checked name
    } catch (const ApiError& e) {
        check(e.kind() == ErrorKind::Unauthorized);
        // The messages are short fixed sentences: a token longer than any of them (every real
        // one is) is found in one only if verify() echoed it. A shorter token can be a piece of a
        // sentence by chance ("exactly t" is in "…exactly three parts").
        constexpr std::size_t kLongestMessage = 80;
        const std::string_view message(e.what());
        check(message.size() <= kLongestMessage);
        check(token.size() <= kLongestMessage || message.find(token) == std::string_view::npos);
    }
    return 0;
}
