// SPDX-License-Identifier: MIT
// livecomments-demo --server=URL [--video=ID] [--name=NAME] [--media=FILE_OR_URL] [--token=T]
//                   [--transport=qt|curl] [--cache=FILE] [--light]
//                   [--screenshot=FILE [--screenshot-delay=MS]]
//                   [--measure-frames=SECONDS]
#include "demo_setup.h"

#include <livecomments/qt/live_session.h>

#include <QCommandLineParser>
#include <QGuiApplication>
#include <QJsonDocument>
#include <QQmlApplicationEngine>
#include <QQuickWindow>
#include <QTimer>
#include <QtQml/qqmlextensionplugin.h>

#include <cstdio>

Q_IMPORT_QML_PLUGIN(LiveCommentsPlugin)
Q_IMPORT_QML_PLUGIN(LiveCommentsDemoPlugin)

using livecomments::demo::DemoConfig;
using livecomments::demo::DemoSetup;
using livecomments::demo::FrameMeter;

int main(int argc, char* argv[])
{
    QGuiApplication app(argc, argv);
    QGuiApplication::setApplicationName(QStringLiteral("livecomments-demo"));
    QGuiApplication::setApplicationDisplayName(QStringLiteral("LiveComments"));
    QGuiApplication::setApplicationVersion(QStringLiteral("0.1"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("LiveComments demo player"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption server(QStringLiteral("server"), QStringLiteral("Server base URL."),
        QStringLiteral("URL"), QStringLiteral("http://127.0.0.1:8080"));
    const QCommandLineOption video(QStringLiteral("video"),
        QStringLiteral("Video id (default: the newest live video, else a new one)."),
        QStringLiteral("ID"));
    const QCommandLineOption name(QStringLiteral("name"),
        QStringLiteral("Display name for the dev token."), QStringLiteral("NAME"));
    const QCommandLineOption media(QStringLiteral("media"),
        QStringLiteral("Video file or URL (Qt Multimedia); default: animated scene."),
        QStringLiteral("FILE_OR_URL"));
    const QCommandLineOption token(QStringLiteral("token"),
        QStringLiteral("JWT (default: POST /auth/dev-token of a --dev server)."),
        QStringLiteral("T"));
    const QCommandLineOption transport(QStringLiteral("transport"),
        QStringLiteral("qt (Qt Network) or curl (core libcurl client)."), QStringLiteral("KIND"),
        QStringLiteral("qt"));
    const QCommandLineOption cache(QStringLiteral("cache"),
        QStringLiteral("History cache and outbox file (default: in the app-data folder; \"\" = "
                       "none)."),
        QStringLiteral("FILE"), livecomments::qt::LiveSession::defaultCachePath());
    const QCommandLineOption light(QStringLiteral("light"), QStringLiteral("Light palette."));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
        QStringLiteral("Grab the window into FILE (PNG) and exit."), QStringLiteral("FILE"));
    const QCommandLineOption screenshotDelay(QStringLiteral("screenshot-delay"),
        QStringLiteral("Milliseconds before the grab (default 4000)."), QStringLiteral("MS"),
        QStringLiteral("4000"));
    const QCommandLineOption measure(QStringLiteral("measure-frames"),
        QStringLiteral("Count frameSwapped for SECONDS, print a JSON summary and exit."),
        QStringLiteral("SECONDS"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size WxH."),
        QStringLiteral("WxH"), QStringLiteral("1280x720"));
    parser.addOptions({ server, video, name, media, token, transport, cache, light, screenshot,
        screenshotDelay, measure, size });
    parser.process(app);

    DemoConfig config;
    config.server = QUrl(parser.value(server));
    config.videoId = parser.value(video).toInt();
    config.name = parser.value(name);
    config.media = parser.value(media);
    config.token = parser.value(token);
    config.transport = parser.value(transport);
    config.cachePath = parser.value(cache);
    config.dark = !parser.isSet(light);
    if (const QString error = DemoSetup::prepare(config); !error.isEmpty()) {
        std::fprintf(stderr, "livecomments-demo: %s\n", qPrintable(error));
        return 2;
    }
    std::printf("video %d on %s\n", config.videoId, qPrintable(config.server.toString()));
    std::fflush(stdout);

    QQmlApplicationEngine engine;
    QVariantMap props = DemoSetup::initialProperties(config);
    const QStringList wh = parser.value(size).split(QLatin1Char('x'));
    if (wh.size() == 2) {
        props.insert(QStringLiteral("width"), wh.at(0).toInt());
        props.insert(QStringLiteral("height"), wh.at(1).toInt());
    }
    engine.setInitialProperties(props);
    QObject::connect(
        &engine, &QQmlApplicationEngine::objectCreationFailed, &app,
        [] { QCoreApplication::exit(1); }, Qt::QueuedConnection);
    // Qt 6.4 has no loadFromModule(); the module's files live under this import path.
    engine.load(QUrl(QStringLiteral("qrc:/qt-project.org/imports/LiveCommentsDemo/qml/Main.qml")));
    if (engine.rootObjects().isEmpty())
        return 1;
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().constFirst());
    if (!window)
        return 1;

    if (parser.isSet(screenshot)) {
        const QString file = parser.value(screenshot);
        QTimer::singleShot(parser.value(screenshotDelay).toInt(), window, [window, file] {
            const QImage image = window->grabWindow();
            const bool ok = !image.isNull() && image.save(file, "PNG");
            std::printf("screenshot %s: %s (%dx%d)\n", qPrintable(file), ok ? "ok" : "FAILED",
                image.width(), image.height());
            std::fflush(stdout);
            QCoreApplication::exit(ok ? 0 : 1);
        });
    }
    if (parser.isSet(measure)) {
        auto* meter = new FrameMeter(window);
        const int seconds = std::max(1, parser.value(measure).toInt());
        // Let the window settle (first frames, history load) before counting.
        QTimer::singleShot(1500, window, [meter] { meter->start(); });
        QTimer::singleShot(1500 + seconds * 1000, window, [meter, window] {
            QJsonObject r = meter->report();
            r.insert(
                QStringLiteral("comments_received"), window->property("receivedCount").toInt());
            r.insert(QStringLiteral("overlay_shown"), window->property("overlayShown").toInt());
            r.insert(QStringLiteral("overlay_dropped"), window->property("overlayDropped").toInt());
            std::printf("%s\n", QJsonDocument(r).toJson(QJsonDocument::Compact).constData());
            std::fflush(stdout);
            QCoreApplication::exit(0);
        });
    }
    return app.exec();
}
