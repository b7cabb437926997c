// SPDX-License-Identifier: MIT
#include "auth/jwt_auth.h"

#include "model/errors.h"

#include <Poco/Crypto/OpenSSLInitializer.h>
#include <Poco/Exception.h>
#include <Poco/JWT/JWTException.h>
#include <Poco/JWT/Signer.h>
#include <Poco/JWT/Token.h>
#include <Poco/Timestamp.h>

namespace livecomments::server::auth {

JwtAuth::JwtAuth(std::string secret)
    : m_secret(std::move(secret))
{
    Poco::Crypto::OpenSSLInitializer::initialize();
}

JwtAuth::~JwtAuth()
{
    Poco::Crypto::OpenSSLInitializer::uninitialize();
}

Principal JwtAuth::verify(const std::string& jwt) const
{
    if (jwt.empty())
        throw unauthorized("missing bearer token");
    Poco::JWT::Signer signer(m_secret); // allows HS256 only: "none" and other algs are refused
    Poco::JWT::Token token;
    try {
        token = signer.verify(jwt);
    } catch (const Poco::JWT::SignatureVerificationException&) {
        throw unauthorized("token signature is invalid");
    } catch (const Poco::JWT::UnallowedAlgorithmException&) {
        throw unauthorized("token algorithm is not HS256");
    } catch (const Poco::Exception&) {
        throw unauthorized("token is malformed");
    } catch (const std::exception&) {
        throw unauthorized("token is malformed");
    }
    if (token.getAlgorithm() != Poco::JWT::Signer::ALGO_HS256)
        throw unauthorized("token algorithm is not HS256");

    const auto& claims = token.payload();
    try {
        if (!claims.has("exp"))
            throw unauthorized("token has no exp claim");
        const double exp = claims.get("exp").convert<double>();
        const double now = static_cast<double>(Poco::Timestamp().epochMicroseconds()) / 1e6;
        if (exp <= now)
            throw unauthorized("token expired");

        Principal principal;
        if (!claims.has("sub"))
            throw unauthorized("token has no sub claim");
        principal.userId = claims.get("sub").convert<std::string>();
        if (principal.userId.empty() || principal.userId.size() > 64)
            throw unauthorized("token sub is empty or too long");
        principal.name = claims.has("name") ? claims.get("name").convert<std::string>()
                                            : "user-" + principal.userId;
        if (claims.has("role")
            && !parseRole(claims.get("role").convert<std::string>(), principal.role))
            throw unauthorized("token role must be viewer, streamer or moderator");
        return principal;
    } catch (const Poco::Exception&) {
        throw unauthorized("token claims are malformed");
    }
}

std::string JwtAuth::mint(const Principal& principal, std::int64_t ttlSeconds) const
{
    Poco::JWT::Token token;
    token.setType("JWT");
    token.setSubject(principal.userId);
    token.payload().set("name", principal.name);
    token.payload().set("role", std::string(roleName(principal.role)));
    // Integer NumericDates (RFC 7519 §2): Poco's setters would write fractional seconds.
    const Poco::Int64 now = Poco::Timestamp().epochTime();
    token.payload().set("iat", now);
    token.payload().set("exp", now + static_cast<Poco::Int64>(ttlSeconds));
    Poco::JWT::Signer signer(m_secret);
    return signer.sign(token, Poco::JWT::Signer::ALGO_HS256);
}

} // namespace livecomments::server::auth
