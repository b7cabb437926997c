// SPDX-License-Identifier: MIT
#pragma once
// Records what a Subscription reports (callbacks run on the test's main thread through
// sdktest::mainThreadExecutor(), so no locking is needed).

#include "sdk_test_util.h"

#include <QList>
#include <QSet>

namespace sdktest {

struct SubscriptionRecorder {
    QList<quint64> ids; ///< comment ids in delivery order
    QList<livecomments::StreamStatus> states;
    QList<livecomments::Hello> hellos;
    QStringList resets;
    QList<quint64> deleted; ///< `deleted` ids
    QList<livecomments::VideoId> ended; ///< onEnded calls

    livecomments::SubscriptionCallbacks callbacks()
    {
        livecomments::SubscriptionCallbacks cbs;
        cbs.onComment = [this](const livecomments::Comment& c) { ids.append(c.id); };
        cbs.onStatus = [this](const livecomments::StreamStatus& s) { states.append(s); };
        cbs.onHello = [this](const livecomments::Hello& h) { hellos.append(h); };
        cbs.onReset = [this](const std::string& r) { resets.append(QString::fromStdString(r)); };
        cbs.onDeleted = [this](livecomments::CommentId id) { deleted.append(id); };
        cbs.onEnded = [this](livecomments::VideoId v) { ended.append(v); };
        return cbs;
    }
    livecomments::StreamState state() const
    {
        return states.isEmpty() ? livecomments::StreamState::Connecting : states.last().state;
    }
    int countState(livecomments::StreamState s, std::optional<livecomments::ErrorCode> code = {},
        int from = 0) const
    {
        int n = 0;
        for (int i = from; i < states.size(); ++i) {
            if (states[i].state != s)
                continue;
            if (code && (!states[i].error || states[i].error->code != *code))
                continue;
            ++n;
        }
        return n;
    }
    bool hasDuplicates() const
    {
        return QSet<quint64>(ids.begin(), ids.end()).size() != ids.size();
    }
};

/// Empty when @p got equals @p expected exactly; else a short description of the difference.
inline QString diffIds(const QList<quint64>& got, const QList<quint64>& expected)
{
    if (got == expected)
        return {};
    const QSet<quint64> g(got.begin(), got.end()), e(expected.begin(), expected.end());
    int missing = 0, extra = 0;
    for (auto id : expected)
        missing += !g.contains(id);
    for (auto id : got)
        extra += !e.contains(id);
    int firstDiff = 0;
    while (firstDiff < got.size() && firstDiff < expected.size()
        && got[firstDiff] == expected[firstDiff])
        ++firstDiff;
    int inversions = 0;
    for (int i = 1; i < got.size(); ++i)
        inversions += got[i] < got[i - 1];
    QString around;
    for (int i = std::max(0, firstDiff - 2); i < std::min<int>(got.size(), firstDiff + 3); ++i)
        around += QString::number(got[i] % 100000) + QLatin1Char(' ');
    return QStringLiteral("got %1 ids, expected %2: %3 missing, %4 unexpected, %5 duplicates, "
                          "%7 out-of-order steps, first difference at %6 (got ...%8)")
        .arg(got.size())
        .arg(expected.size())
        .arg(missing)
        .arg(extra)
        .arg(got.size() - g.size())
        .arg(firstDiff)
        .arg(inversions)
        .arg(around);
}

} // namespace sdktest
