// SPDX-License-Identifier: MIT
#pragma once

#include <pthread.h>

#include <string>

namespace livecomments::server {

/// Names the calling thread (what `top -H`, `ps -L`, gdb and perf show). Linux keeps at most
/// 15 characters; longer names are cut, never refused.
inline void setThreadName(const std::string& name)
{
    ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

} // namespace livecomments::server
