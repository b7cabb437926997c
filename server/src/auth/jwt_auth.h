// SPDX-License-Identifier: MIT
#pragma once

#include "model/types.h"

#include <cstdint>
#include <string>

namespace livecomments::server::auth {

/// The documented secret `--dev` uses when no secret is configured. Never for production.
inline constexpr char kDevSecret[] = "livecomments-dev-secret";

/**
 * HS256 JWT verification and minting (Poco::JWT). Accepts only `alg` HS256 with a valid
 * signature, an `exp` in the future and a non-empty `sub`; `role` must be viewer|streamer|moderator
 * when present (default viewer); `name` defaults to "user-<sub>".
 *
 * Threading: immutable after construction; verify()/mint() may run on any thread concurrently
 * (each call uses its own Poco::JWT::Signer). The object holds one reference on Poco's OpenSSL
 * initializer for its lifetime: otherwise every Signer's destructor could drop the count to zero
 * and tear OpenSSL's locks down while another thread builds a Signer (a real race, found by TSan).
 */
class JwtAuth {
public:
    explicit JwtAuth(std::string secret);
    ~JwtAuth();
    JwtAuth(const JwtAuth&) = delete;
    JwtAuth& operator=(const JwtAuth&) = delete;

    /// The principal of a valid token; throws ApiError 401 with the reason otherwise.
    Principal verify(const std::string& token) const;

    /// Signs a token for `principal` valid for `ttlSeconds` from now (negative = already expired).
    std::string mint(const Principal& principal, std::int64_t ttlSeconds) const;

private:
    std::string m_secret;
};

} // namespace livecomments::server::auth
