// SPDX-License-Identifier: MIT
#pragma once

#include <QQmlApplicationEngine>
#include <QQuickWindow>
#include <QString>
#include <QUrl>

namespace lctest {

/// Loads the demo's Main.qml (the file the player ships, from its QML module) into `engine`,
/// 1000x600, watching `videoId` on `serverUrl` with `token`. Returns its window, or nullptr when
/// the QML did not load.
inline QQuickWindow* loadDemoWindow(
    QQmlApplicationEngine& engine, const QUrl& serverUrl, qint32 videoId, const QString& token)
{
    engine.setInitialProperties({ { QStringLiteral("serverUrl"), serverUrl },
        { QStringLiteral("videoId"), videoId }, { QStringLiteral("token"), token },
        { QStringLiteral("width"), 1000 }, { QStringLiteral("height"), 600 } });
    engine.load(QUrl(QStringLiteral("qrc:/qt-project.org/imports/LiveCommentsDemo/qml/Main.qml")));
    if (engine.rootObjects().size() != 1)
        return nullptr;
    return qobject_cast<QQuickWindow*>(engine.rootObjects().constFirst());
}

} // namespace lctest
