// SPDX-License-Identifier: MIT
#include "auth/jwt_auth.h"

#include "model/errors.h"
#include "model/text_rules.h"

#include <Poco/Crypto/OpenSSLInitializer.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Timestamp.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace livecomments::server::auth {

namespace {

using Json = nlohmann::json;

constexpr std::size_t kSignatureBytes = 32; // HMAC-SHA256
constexpr std::size_t kMaxNameCodePoints = 64;
constexpr int kMaxJsonDepth = 8;

int base64UrlValue(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/// Canonical base64url without padding (RFC 4648 §5, RFC 7515 §2): only the URL alphabet, no
/// '=', a length that is not 1 mod 4, and zero bits in the unused tail. Exactly one spelling per
/// byte string, so a token cannot be varied without changing its text. nullopt otherwise.
std::optional<std::string> decodeBase64Url(std::string_view text)
{
    if (text.size() % 4 == 1)
        return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : text) {
        const int v = base64UrlValue(c);
        if (v < 0)
            return std::nullopt;
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xFF));
        }
    }
    if ((bits & ((1u << count) - 1)) != 0) // non-zero leftover bits: a second spelling
        return std::nullopt;
    return out;
}

/// A JSON object or nullopt (not JSON, not an object, or nested too deep).
std::optional<Json> parseObject(const std::string& text)
{
    bool tooDeep = false;
    Json value = Json::parse(
        text,
        [&](int depth, Json::parse_event_t, Json&) {
            tooDeep = tooDeep || depth > kMaxJsonDepth;
            return !tooDeep;
        },
        false);
    if (tooDeep || !value.is_object())
        return std::nullopt;
    return value;
}

std::array<unsigned char, kSignatureBytes> hmacSha256(
    const std::string& secret, std::string_view data)
{
    std::array<unsigned char, kSignatureBytes> mac {};
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
        reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &length);
    return mac;
}

bool signedWith(const std::string& secret, std::string_view signingInput, const std::string& sig)
{
    const auto mac = hmacSha256(secret, signingInput);
    // Constant time: a byte-by-byte early exit would leak how much of a forgery is right.
    return sig.size() == mac.size() && CRYPTO_memcmp(mac.data(), sig.data(), mac.size()) == 0;
}

/// A NumericDate claim (RFC 7519 §2): a JSON number (integer or not; never a bool or string).
std::optional<double> numericDate(const Json& claims, const char* name)
{
    const auto it = claims.find(name);
    if (it == claims.end())
        return std::nullopt;
    if (!it->is_number())
        throw unauthorized(std::string("token ") + name + " claim is not a number");
    return it->get<double>();
}

/// Canonical decimal 1..2^63-1: one spelling per user, so "07" cannot pose as "7".
bool isDecimalUserId(const std::string& text)
{
    if (text.empty() || text.size() > 19 || text[0] == '0'
        || text.find_first_not_of("0123456789") != std::string::npos)
        return false;
    return text.size() < 19 || text <= "9223372036854775807";
}

/// 1..64 code points of valid UTF-8 without control, bidi or invisible format characters.
bool isDisplayName(const std::string& name)
{
    try {
        return normaliseText(name, "name", kMaxNameCodePoints, false) == name;
    } catch (const ApiError&) {
        return false;
    }
}

Principal principalOf(const Json& claims)
{
    Principal principal;
    const auto sub = claims.find("sub");
    if (sub == claims.end())
        throw unauthorized("token has no sub claim");
    if (!sub->is_string() || !isDecimalUserId(sub->get<std::string>()))
        throw unauthorized("token sub must be a decimal user id");
    principal.userId = sub->get<std::string>();
    principal.name = "user-" + principal.userId;
    if (const auto name = claims.find("name"); name != claims.end()) {
        if (!name->is_string() || !isDisplayName(name->get<std::string>()))
            throw unauthorized("token name must be 1..64 printable characters");
        principal.name = name->get<std::string>();
    }
    if (const auto role = claims.find("role"); role != claims.end()) {
        if (!role->is_string() || !parseRole(role->get<std::string>(), principal.role))
            throw unauthorized("token role must be viewer, streamer or moderator");
    }
    return principal;
}

} // namespace

JwtAuth::JwtAuth(std::string secret)
    : JwtAuth(JwtKeys { std::move(secret), {}, 0, kDefaultClockSkewSeconds })
{ }

JwtAuth::JwtAuth(JwtKeys keys)
    : m_keys(std::move(keys))
{
    Poco::Crypto::OpenSSLInitializer::initialize();
}

JwtAuth::~JwtAuth()
{
    Poco::Crypto::OpenSSLInitializer::uninitialize();
}

Principal JwtAuth::verify(const std::string& jwt) const
{
    return verifyAt(jwt, static_cast<double>(Poco::Timestamp().epochMicroseconds()) / 1e6);
}

Principal JwtAuth::verifyAt(const std::string& jwt, double now) const
{
    if (jwt.empty())
        throw unauthorized("missing bearer token");
    if (jwt.size() > kMaxTokenBytes)
        throw unauthorized("token is too long");
    const auto dot1 = jwt.find('.');
    const auto dot2 = dot1 == std::string::npos ? dot1 : jwt.find('.', dot1 + 1);
    if (dot2 == std::string::npos || jwt.find('.', dot2 + 1) != std::string::npos)
        throw unauthorized("token must have exactly three parts");
    const std::string_view text(jwt);
    const auto headerText = decodeBase64Url(text.substr(0, dot1));
    const auto claimsText = decodeBase64Url(text.substr(dot1 + 1, dot2 - dot1 - 1));
    const auto signature = decodeBase64Url(text.substr(dot2 + 1));
    if (!headerText || !claimsText || !signature)
        throw unauthorized("token parts must be base64url without padding");

    const auto header = parseObject(*headerText);
    if (!header)
        throw unauthorized("token header is not a JSON object");
    const auto alg = header->find("alg");
    if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "HS256")
        throw unauthorized("token algorithm is not HS256");
    if (header->contains("crit"))
        throw unauthorized("token has a crit header this server does not understand");
    if (const auto typ = header->find("typ"); typ != header->end()
        && (!typ->is_string()
            || (typ->get<std::string>() != "JWT" && typ->get<std::string>() != "jwt")))
        throw unauthorized("token typ must be JWT");

    const std::string_view signingInput = text.substr(0, dot2);
    if (!signedWith(m_keys.secret, signingInput, *signature)) {
        const bool previous = !m_keys.previousSecret.empty()
            && signedWith(m_keys.previousSecret, signingInput, *signature);
        if (!previous)
            throw unauthorized("token signature is invalid");
        if (now >= static_cast<double>(m_keys.previousUntil))
            throw unauthorized(
                "token is signed with the previous secret after its rollover window");
    }

    const auto claims = parseObject(*claimsText);
    if (!claims)
        throw unauthorized("token claims are not a JSON object");
    const double skew = m_keys.clockSkewSeconds;
    const auto exp = numericDate(*claims, "exp");
    if (!exp)
        throw unauthorized("token has no exp claim");
    if (now >= *exp + skew)
        throw unauthorized("token expired");
    if (const auto nbf = numericDate(*claims, "nbf"); nbf && now + skew < *nbf)
        throw unauthorized("token is not valid yet (nbf)");
    return principalOf(*claims);
}

std::optional<std::pair<std::string, std::string>> JwtAuth::mintProblem(const Principal& principal)
{
    if (!isDecimalUserId(principal.userId))
        return std::make_pair(std::string("user_id"),
            std::string("must be a canonical decimal user id (1..9223372036854775807, no sign "
                        "or leading zero)"));
    if (!isDisplayName(principal.name))
        return std::make_pair(std::string("name"),
            std::string("must be 1..64 printable characters (no control, bidi or invisible "
                        "character)"));
    return std::nullopt;
}

std::string JwtAuth::mint(const Principal& principal, std::int64_t ttlSeconds) const
{
    if (const auto problem = mintProblem(principal))
        throw std::invalid_argument(problem->first + " " + problem->second);
    Poco::JWT::Token token;
    token.setType("JWT");
    token.setSubject(principal.userId);
    token.payload().set("name", principal.name);
    token.payload().set("role", std::string(roleName(principal.role)));
    // Integer NumericDates (RFC 7519 §2): Poco's setters would write fractional seconds.
    const Poco::Int64 now = Poco::Timestamp().epochTime();
    token.payload().set("iat", now);
    token.payload().set("exp", now + static_cast<Poco::Int64>(ttlSeconds));
    Poco::JWT::Signer signer(m_keys.secret);
    return signer.sign(token, Poco::JWT::Signer::ALGO_HS256);
}

} // namespace livecomments::server::auth
