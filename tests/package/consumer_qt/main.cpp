// SPDX-License-Identifier: MIT
// lc_qt_consumer QML_FILE QML_IMPORT_DIR URL VIDEO TOKEN: loads QML_FILE (a LiveSession from the
// installed QML module) and exits 0 once the comment it posts arrives in session.comments.
#include <QAbstractItemModel>
#include <QGuiApplication>
#include <QQmlComponent>
#include <QQmlEngine>
#include <QTimer>
#include <QUrl>
#include <QtQml/qqmlextensionplugin.h>

#include <cstdio>

Q_IMPORT_QML_PLUGIN(LiveCommentsPlugin)

int main(int argc, char* argv[])
{
    QGuiApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() != 6) {
        std::fputs("usage: lc_qt_consumer QML_FILE QML_IMPORT_DIR URL VIDEO TOKEN\n", stderr);
        return 2;
    }
    const QString expected = QStringLiteral("hello from QML");
    QQmlEngine engine;
    // The installed module directory (qmldir + typeinfo), as tooling would use it.
    engine.addImportPath(args[2]);
    QQmlComponent component(&engine, QUrl::fromLocalFile(args[1]));
    if (component.isError()) {
        for (const auto& e : component.errors())
            std::fprintf(stderr, "QML: %s\n", qPrintable(e.toString()));
        return 3;
    }
    QObject* session = component.createWithInitialProperties({ { "server", QUrl(args[3]) },
        { "videoId", args[4].toInt() }, { "token", args[5] }, { "expected", expected } });
    if (!session) {
        std::fprintf(stderr, "QML: %s\n", qPrintable(component.errorString()));
        return 3;
    }
    auto* model = session->property("comments").value<QAbstractItemModel*>();
    if (!model)
        return 4;
    const int textRole = model->roleNames().key("text", -1);
    // The comment arrives through the session's live stream; check whenever rows are added.
    QObject::connect(model, &QAbstractItemModel::rowsInserted, &app, [&] {
        for (int row = 0; row < model->rowCount(); ++row) {
            if (model->index(row, 0).data(textRole).toString() == expected) {
                std::printf("qt consumer ok: received \"%s\"\n", qPrintable(expected));
                QCoreApplication::exit(0);
            }
        }
    });
    QTimer::singleShot(20000, &app, [&] {
        std::fprintf(stderr, "no comment after 20 s (state %d, error '%s')\n",
            session->property("state").toInt(),
            qPrintable(session->property("errorString").toString()));
        QCoreApplication::exit(1);
    });
    return QCoreApplication::exec();
}
