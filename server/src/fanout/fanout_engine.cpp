// SPDX-License-Identifier: MIT
// API skeleton only: the epoll implementation replaces this in the next commit. Every call fails
// safely (open() refuses and closes the fd) so server-core can compile and link against the API.
#include "fanout_engine.h"

#include <unistd.h>

namespace livecomments::server::fanout {

FramePtr makeFrame(std::uint64_t id, std::string bytes)
{
    return std::make_shared<const Frame>(Frame { id, std::move(bytes) });
}

class Engine::Impl { };

Engine::Engine(EngineOptions) { }
Engine::~Engine() = default;
void Engine::start() { }
bool Engine::open(int fd, SubscriberInfo, std::string)
{
    ::close(fd);
    return false;
}
void Engine::resume(const std::string&, std::vector<FramePtr>) { }
void Engine::publish(std::uint32_t, FramePtr) { }
bool Engine::close(const std::string&)
{
    return false;
}
std::optional<SubscriberInfo> Engine::find(const std::string&) const
{
    return std::nullopt;
}
std::size_t Engine::viewers(std::uint32_t) const
{
    return 0;
}
EngineStats Engine::stats() const
{
    return {};
}
void Engine::shutdown(std::string, std::chrono::milliseconds) { }

} // namespace livecomments::server::fanout
