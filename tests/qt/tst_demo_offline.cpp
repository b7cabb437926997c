// SPDX-License-Identifier: MIT
// The demo's offline story, driven through the player's own Main.qml (as tst_demo_view): watch a
// video once; reopen the player with the server DOWN → the cached history shows at once with
// "Offline — reconnecting", and the composer accepts a comment that is shown as pending; start
// the server → the gap fills and the queued comment goes out once.
#include "http_client.h"
#include "server_process.h"

#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QTemporaryDir>
#include <QtQml/qqmlextensionplugin.h>
#include <QtTest>

Q_IMPORT_QML_PLUGIN(LiveCommentsPlugin)
Q_IMPORT_QML_PLUGIN(LiveCommentsDemoPlugin)

class TstDemoOffline : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();
    void reopenedOfflineShowsCacheAndSendsQueuedCommentOnce();

private:
    /// Opens the player (Main.qml) on the fixture's server, video, token and cache file.
    bool openPlayer();
    QQuickItem* item(const char* name) const;
    int chatCount() const { return item("chatView")->property("count").toInt(); }
    QString connectionLabel() const { return item("connection")->property("label").toString(); }
    /// The texts of the chat rows, newest first (the delegates' `text`).
    QStringList chatTexts() const;
    QObject* session() const { return m_window->property("session").value<QObject*>(); }

    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QQuickWindow* m_window = nullptr;
    QTemporaryDir m_dir;
    QString m_viewerToken;
    QString m_streamerToken;
    qint32 m_video = 0;
};

void TstDemoOffline::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_server = std::make_unique<lctest::ServerProcess>(QStringList { "--retry-ms=200" });
    QVERIFY2(m_server->start(), m_server->log().constData());
    m_viewerToken = m_server->token(QStringLiteral("11"), QStringLiteral("viewer"));
    m_streamerToken = m_server->token(
        QStringLiteral("12"), QStringLiteral("carol"), QStringLiteral("streamer"));
    m_video = lctest::createVideo(m_server->baseUrl(), m_streamerToken, QStringLiteral("Offline"));
    QVERIFY(m_video > 0);
    for (const char* text : { "first", "second", "third" })
        QCOMPARE(lctest::postComment(
                     m_server->baseUrl(), m_streamerToken, m_video, QString::fromLatin1(text))
                     .status,
            201);
}

void TstDemoOffline::cleanup()
{
    m_engine.reset();
    m_window = nullptr;
}

bool TstDemoOffline::openPlayer()
{
    m_engine.reset();
    m_engine = std::make_unique<QQmlApplicationEngine>();
    m_engine->setInitialProperties({ { QStringLiteral("serverUrl"), m_server->baseUrl() },
        { QStringLiteral("videoId"), m_video }, { QStringLiteral("token"), m_viewerToken },
        { QStringLiteral("cachePath"), m_dir.filePath(QStringLiteral("player.sqlite")) },
        { QStringLiteral("width"), 1000 }, { QStringLiteral("height"), 600 } });
    m_engine->load(
        QUrl(QStringLiteral("qrc:/qt-project.org/imports/LiveCommentsDemo/qml/Main.qml")));
    if (m_engine->rootObjects().size() != 1)
        return false;
    m_window = qobject_cast<QQuickWindow*>(m_engine->rootObjects().constFirst());
    return m_window && QTest::qWaitForWindowExposed(m_window) && item("chatView")
        && item("connection") && item("composerInput");
}

namespace {
/// Depth-first search of the visual item tree (Repeater rows are visual children only).
QQuickItem* findItem(QQuickItem* root, const QString& name)
{
    if (root->objectName() == name)
        return root;
    for (QQuickItem* child : root->childItems()) {
        if (QQuickItem* found = findItem(child, name))
            return found;
    }
    return nullptr;
}
} // namespace

QQuickItem* TstDemoOffline::item(const char* name) const
{
    if (auto* found = m_window->findChild<QQuickItem*>(QLatin1String(name)))
        return found;
    return findItem(m_window->contentItem(), QLatin1String(name));
}

QStringList TstDemoOffline::chatTexts() const
{
    QQuickItem* view = item("chatView");
    QMetaObject::invokeMethod(view, "forceLayout");
    QStringList texts;
    for (int row = 0; row < chatCount(); ++row) {
        QQuickItem* delegate = nullptr;
        QMetaObject::invokeMethod(
            view, "itemAtIndex", Q_RETURN_ARG(QQuickItem*, delegate), Q_ARG(int, row));
        texts.append(delegate ? delegate->property("text").toString() : QString());
    }
    return texts;
}

void TstDemoOffline::reopenedOfflineShowsCacheAndSendsQueuedCommentOnce()
{
    // 1. Watch the video once: its history lands in the player's cache.
    QVERIFY(openPlayer());
    QTRY_COMPARE_WITH_TIMEOUT(session()->property("state").toInt(), 2 /* Live */, 15000);
    QTRY_COMPARE_WITH_TIMEOUT(chatTexts(), QStringList({ "third", "second", "first" }), 15000);
    QTRY_COMPARE_WITH_TIMEOUT(connectionLabel(), QStringLiteral("Live"), 5000);
    m_engine.reset(); // the player quits

    // 2. Life goes on without the viewer; then the server goes down.
    QCOMPARE(
        lctest::postComment(m_server->baseUrl(), m_streamerToken, m_video, "while away").status,
        201);
    QVERIFY(m_server->terminate());

    // 3. Reopen the player with the server down: cached history at once, offline status.
    QElapsedTimer clock;
    clock.start();
    QVERIFY(openPlayer());
    QTRY_COMPARE_WITH_TIMEOUT(chatTexts(), QStringList({ "third", "second", "first" }), 5000);
    QVERIFY2(clock.elapsed() < 4000, QByteArray::number(clock.elapsed()));
    QTRY_VERIFY_WITH_TIMEOUT(
        connectionLabel().startsWith(QStringLiteral("Offline — reconnecting")), 10000);

    // 4. The composer still accepts a comment; it is shown as pending.
    QQuickItem* input = item("composerInput");
    input->forceActiveFocus();
    QTRY_VERIFY_WITH_TIMEOUT(input->hasActiveFocus(), 5000);
    // QTest::keyClicks() takes widgets only; a window gets the keys one by one.
    for (const char c : QByteArrayLiteral("typed offline"))
        QTest::keyClick(m_window, c);
    QCOMPARE(input->property("text").toString(), QStringLiteral("typed offline"));
    QTest::keyClick(m_window, Qt::Key_Return);
    QTRY_COMPARE_WITH_TIMEOUT(input->property("text").toString(), QString(), 5000);
    // It is a chat row at once, the newest one, greyed with "sending…" (the composer lists
    // nothing: the chat is where own posts are).
    QTRY_COMPARE_WITH_TIMEOUT(
        chatTexts(), QStringList({ "typed offline", "third", "second", "first" }), 5000);
    QQuickItem* pending = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((pending = item("pendingRow")) != nullptr, 5000);
    QCOMPARE(pending->property("text").toString(), QStringLiteral("typed offline"));
    QCOMPARE(pending->property("pending").toBool(), true);
    QQuickItem* label = findItem(pending, QStringLiteral("pendingLabel"));
    QVERIFY(label);
    QVERIFY(label->isVisible());
    QCOMPARE(label->property("text").toString(), QStringLiteral("sending…"));
    QVERIFY(item("outboxRow") == nullptr);

    // 5. The server starts again (same store and port): the gap fills, the queued comment goes
    //    out once and shows once.
    QVERIFY2(m_server->restart(), m_server->log().constData());
    QTRY_COMPARE_WITH_TIMEOUT(session()->property("state").toInt(), 2 /* Live */, 40000);
    QTRY_COMPARE_WITH_TIMEOUT(chatTexts(),
        QStringList({ "typed offline", "while away", "third", "second", "first" }), 20000);
    QTRY_VERIFY_WITH_TIMEOUT(item("pendingRow") == nullptr, 10000);
    QVERIFY(item("failedRow") == nullptr);
    QTRY_COMPARE_WITH_TIMEOUT(connectionLabel(), QStringLiteral("Live"), 5000);
    const auto stored = lctest::http("GET",
        lctest::endpoint(
            m_server->baseUrl(), QStringLiteral("/videos/%1/comments?limit=200").arg(m_video)));
    QCOMPARE(stored.status, 200);
    QStringList serverTexts;
    for (const QJsonValue& c : stored.json().value(QStringLiteral("comments")).toArray())
        serverTexts.append(c.toObject().value(QStringLiteral("text")).toString());
    QCOMPARE(serverTexts.count(QStringLiteral("typed offline")), 1);
}

int main(int argc, char** argv)
{
    // The software scene graph works on the offscreen platform without GL.
    qputenv("QT_QUICK_BACKEND", "software");
    QGuiApplication app(argc, argv);
    TstDemoOffline test;
    return QTest::qExec(&test, argc, argv);
}
#include "tst_demo_offline.moc"
