// SPDX-License-Identifier: MIT
#pragma once
// RAII holders for libcurl handles (internal; public headers never include curl.h).

#include <curl/curl.h>

#include <memory>

namespace livecomments::detail {

struct CurlEasyDeleter {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
    void operator()(CURLM* h) const noexcept { curl_multi_cleanup(h); }
};
struct CurlSlistDeleter {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

/// Appends @p line to @p list (keeps ownership in the holder). Returns false on allocation failure.
inline bool appendHeader(CurlSlist& list, const char* line) noexcept
{
    curl_slist* next = curl_slist_append(list.get(), line);
    if (!next)
        return false;
    list.release();
    list.reset(next);
    return true;
}

} // namespace livecomments::detail
