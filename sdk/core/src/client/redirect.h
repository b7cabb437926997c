// SPDX-License-Identifier: MIT
#pragma once
// Header-only (keeps the build lists untouched). Following HTTP redirects in the core, above any
// HTTP backend: the backend never follows one itself, so every backend behaves the same (hop limit,
// method rewriting, credentials).

#include "http/http.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>

namespace livecomments::detail {

/// Most redirects followed for one request or one stream connection.
constexpr int kMaxRedirects = 5;

namespace redirect_detail {
inline std::string lower(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline bool sameName(const std::string& a, const char* b)
{
    return lower(a) == b;
}
} // namespace redirect_detail

/// 301, 302, 303, 307 or 308.
inline bool isRedirectStatus(int status) noexcept
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/// "scheme://host:port" of an absolute http(s) URL (port made explicit, scheme and host
/// lower-cased); empty when @p url is not one.
inline std::string originOf(const std::string& url)
{
    const auto sep = url.find("://");
    if (sep == std::string::npos)
        return {};
    const std::string scheme = redirect_detail::lower(url.substr(0, sep));
    if (scheme != "http" && scheme != "https")
        return {};
    const auto hostStart = sep + 3;
    const auto hostEnd = url.find_first_of("/?#", hostStart);
    std::string authority = redirect_detail::lower(
        url.substr(hostStart, hostEnd == std::string::npos ? hostEnd : hostEnd - hostStart));
    if (const auto at = authority.rfind('@'); at != std::string::npos)
        authority.erase(0, at + 1); // user info is no part of the origin
    if (authority.empty())
        return {};
    // An explicit port makes "http://h" and "http://h:80" one origin; mind IPv6 brackets.
    const auto colon = authority.rfind(':');
    const auto bracket = authority.rfind(']');
    if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket))
        authority += scheme == "https" ? ":443" : ":80";
    return scheme + "://" + authority;
}

/// The absolute URL a redirect response points to (its Location resolved against @p base), or
/// std::nullopt when the response is no redirect, has no usable Location or leaves http(s).
inline std::optional<std::string> redirectTarget(
    const std::string& base, const HttpResponse& response)
{
    if (!isRedirectStatus(response.status))
        return std::nullopt;
    std::string location = response.header("location");
    while (!location.empty() && (location.back() == ' ' || location.back() == '\t'))
        location.pop_back();
    if (location.empty() || location.find_first_of("\r\n") != std::string::npos)
        return std::nullopt;
    if (const auto hash = location.find('#'); hash != std::string::npos)
        location.resize(hash);
    std::string target;
    const auto sep = base.find("://");
    if (sep == std::string::npos)
        return std::nullopt;
    if (location.find("://") != std::string::npos) {
        target = location;
    } else if (location.rfind("//", 0) == 0) {
        target = base.substr(0, sep + 1) + location; // scheme-relative
    } else {
        const auto pathStart = base.find('/', sep + 3);
        const std::string root = pathStart == std::string::npos ? base : base.substr(0, pathStart);
        if (location.front() == '/') {
            target = root + location;
        } else {
            // Relative to the base's directory (query dropped).
            std::string path = pathStart == std::string::npos ? "/" : base.substr(pathStart);
            path.resize(std::min(path.size(), path.find('?')));
            path.resize(path.rfind('/') + 1);
            target = root + path + location;
        }
    }
    if (originOf(target).empty())
        return std::nullopt;
    return target;
}

/// Rewrites @p request for the next hop to @p target after a @p status redirect, as browsers
/// do: 303 (and 301/302 after a POST) become a GET without body; 307/308 keep method and body.
/// On a hop to another origin the Authorization header is removed; returns true when it was.
inline bool applyRedirect(HttpRequest& request, int status, const std::string& target)
{
    const bool crossOrigin = originOf(target) != originOf(request.url);
    request.url = target;
    const bool toGet = (status == 303 && request.method != "HEAD")
        || ((status == 301 || status == 302) && request.method == "POST");
    auto& h = request.headers;
    if (toGet) {
        request.method = "GET";
        request.body.clear();
        h.erase(
            std::remove_if(h.begin(), h.end(),
                [](const auto& p) { return redirect_detail::sameName(p.first, "content-type"); }),
            h.end());
    }
    if (!crossOrigin)
        return false;
    const auto before = h.size();
    h.erase(std::remove_if(h.begin(), h.end(),
                [](const auto& p) { return redirect_detail::sameName(p.first, "authorization"); }),
        h.end());
    return h.size() != before;
}

} // namespace livecomments::detail
