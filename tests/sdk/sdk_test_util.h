// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the SDK tests: a Qt-main-thread executor for Client callbacks and small
// conversions. Header-only; every test that includes it is its own executable.

#include "livecomments/client.h"

#include <QCoreApplication>
#include <QMetaObject>
#include <QString>
#include <QUrl>

#include <chrono>

namespace sdktest {

/// Runs SDK callbacks on the Qt main thread (so tests need no locks and QTRY_* sees results).
inline livecomments::Executor mainThreadExecutor()
{
    return [](std::function<void()> task) {
        QMetaObject::invokeMethod(
            QCoreApplication::instance(), std::move(task), Qt::QueuedConnection);
    };
}

/// A config for tests: fast reconnects, short timeouts, callbacks on the main thread.
inline livecomments::ClientConfig testConfig(const QUrl& base, const QString& token = {})
{
    livecomments::ClientConfig cfg;
    cfg.baseUrl = base.toString(QUrl::StripTrailingSlash).toStdString();
    if (!token.isEmpty()) {
        const std::string t = token.toStdString();
        cfg.tokenProvider = [t] { return t; };
    }
    cfg.executor = mainThreadExecutor();
    cfg.backoff.initial = std::chrono::milliseconds(100);
    cfg.backoff.minimum = std::chrono::milliseconds(20);
    cfg.backoff.cap = std::chrono::milliseconds(800);
    cfg.backoff.resetAfter = std::chrono::milliseconds(1500);
    cfg.connectTimeout = std::chrono::milliseconds(3000);
    cfg.requestTimeout = std::chrono::milliseconds(10000);
    return cfg;
}

inline QString describe(const livecomments::Error& e)
{
    return QString::fromStdString(
        std::string(livecomments::errorCodeName(e.code)) + ": " + e.message);
}

} // namespace sdktest

// QCOMPARE pretty-printers for the SDK's enums (found by ADL from QTest::qCompare).
namespace livecomments {
inline char* toString(ErrorCode code)
{
    return qstrdup(std::string(errorCodeName(code)).c_str());
}
inline char* toString(StreamState state)
{
    return qstrdup(streamStateName(state));
}
inline char* toString(PostState state)
{
    return qstrdup(postStateName(state));
}
} // namespace livecomments
