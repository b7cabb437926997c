// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace livecomments::server::auth {

/// The documented secret `--dev` uses when no secret is configured. Never for production.
inline constexpr char kDevSecret[] = "livecomments-dev-secret";

/// Default tolerance for `exp` / `nbf` against this host's clock (--jwt-clock-skew).
inline constexpr int kDefaultClockSkewSeconds = 30;

/// Longest token accepted (bytes); real tokens are a few hundred bytes.
inline constexpr std::size_t kMaxTokenBytes = 4096;

/// The keys and clock rules of JwtAuth (docs/security.md "Tokens").
struct JwtKeys {
    std::string secret; ///< signs new tokens and verifies
    /// Key rotation: tokens signed with this secret are still accepted while the clock is before
    /// previousUntil (Unix seconds). Empty = no previous secret.
    std::string previousSecret;
    std::int64_t previousUntil = 0;
    int clockSkewSeconds = kDefaultClockSkewSeconds; ///< tolerance on exp and nbf
};

/**
 * HS256 JWT verification (a strict reader of its own) and minting (Poco::JWT).
 *
 * verify() accepts exactly `<header>.<claims>.<signature>`, each canonical base64url without
 * padding (RFC 7515 §2), a JSON-object header whose `alg` is "HS256" (no `none`, no other
 * algorithm, so no RS/HS confusion: the key is always the shared secret), `typ` absent or "JWT",
 * no `crit` (no extension is understood, RFC 7515 §4.1.11), a valid HMAC-SHA256 under the secret
 * (or the previous secret inside its window), `exp` present and `now < exp + skew`, `nbf` absent
 * or `nbf - skew <= now`, `sub` a canonical decimal user id 1..2^63-1, `name` absent or 1..64
 * printable characters (no control, bidi or invisible format character), `role` absent or
 * viewer|streamer|moderator. Everything else is a 401 whose message says why and never contains
 * the token.
 *
 * Threading: immutable after construction; verify()/mint() may run on any thread concurrently
 * (each call uses its own Poco::JWT::Signer). The object holds one reference on Poco's OpenSSL
 * initializer for its lifetime: otherwise every Signer's destructor could drop the count to zero
 * and tear OpenSSL's locks down while another thread builds a Signer (a real race, found by TSan).
 */
class JwtAuth {
public:
    explicit JwtAuth(std::string secret);
    explicit JwtAuth(JwtKeys keys);
    ~JwtAuth();
    JwtAuth(const JwtAuth&) = delete;
    JwtAuth& operator=(const JwtAuth&) = delete;

    /// The principal of a valid token; throws ApiError 401 with the reason otherwise.
    Principal verify(const std::string& token) const;
    /// verify() against the given clock (Unix seconds): for tests and the fuzz target.
    Principal verifyAt(const std::string& token, double nowSeconds) const;

    /// Signs a token for `principal` valid for `ttlSeconds` from now (negative = already expired).
    /// Throws std::invalid_argument when verify() would refuse the token for its subject or name
    /// (mintProblem() says which): a token that can never be used is never handed out.
    std::string mint(const Principal& principal, std::int64_t ttlSeconds) const;

    /// Why verify() would refuse a token for `principal`: {field, reason} with field "user_id"
    /// (not a canonical decimal id 1..2^63-1) or "name" (not 1..64 printable characters);
    /// nullopt when a token for it is valid.
    static std::optional<std::pair<std::string, std::string>> mintProblem(
        const Principal& principal);

private:
    JwtKeys m_keys;
};

} // namespace livecomments::server::auth
