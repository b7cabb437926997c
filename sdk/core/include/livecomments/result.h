// SPDX-License-Identifier: MIT
#pragma once

#include "livecomments/error.h"

#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

namespace livecomments {

/// Either a value or an Error; named like C++23 std::expected so it can be swapped for it later.
/// Accessing value() of an error result (or error() of a value result) is a programming error and
/// aborts; check has_value() / operator bool first.
///
/// Threading: a plain value type.
template <typename T> class Result {
public:
    Result(T value)
        : m_state(std::in_place_index<0>, std::move(value))
    { }
    Result(Error error)
        : m_state(std::in_place_index<1>, std::move(error))
    { }

    // std::optional/std::expected spelling on purpose, so Result reads like them and can give
    // way to std::expected (C++23) without touching callers.
    // NOLINTNEXTLINE(readability-identifier-naming)
    bool has_value() const noexcept { return m_state.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() &
    {
        check(true);
        return std::get<0>(m_state);
    }
    const T& value() const&
    {
        check(true);
        return std::get<0>(m_state);
    }
    T&& value() &&
    {
        check(true);
        return std::get<0>(std::move(m_state));
    }
    const Error& error() const
    {
        check(false);
        return std::get<1>(m_state);
    }
    /// The value, or @p fallback when this holds an error.
    // NOLINTNEXTLINE(readability-identifier-naming): std::expected spelling
    template <typename U> T value_or(U&& fallback) const&
    {
        return has_value() ? std::get<0>(m_state) : static_cast<T>(std::forward<U>(fallback));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    void check(bool wantValue) const
    {
        if (has_value() != wantValue)
            std::abort();
    }
    std::variant<T, Error> m_state;
};

/// Result of an operation without a value: success or an Error.
template <> class Result<void> {
public:
    Result() = default;
    Result(Error error)
        : m_ok(false)
        , m_error(std::move(error))
    { }
    // NOLINTNEXTLINE(readability-identifier-naming): std::expected spelling
    bool has_value() const noexcept { return m_ok; }
    explicit operator bool() const noexcept { return m_ok; }
    void value() const
    {
        if (!m_ok)
            std::abort();
    }
    const Error& error() const
    {
        if (m_ok)
            std::abort();
        return m_error;
    }

private:
    bool m_ok = true;
    Error m_error;
};

} // namespace livecomments
