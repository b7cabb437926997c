// SPDX-License-Identifier: MIT
// Loads the demo's Main.qml (the same file the player uses) with a QQmlApplicationEngine against
// the real server: comments posted by another client reach the chat panel and the overlay;
// scrolling to the top loads older comments without moving the view (also when a live row's
// deferred "follow the newest" is still queued as the reader scrolls up); the jump button appears
// when scrolled up and new comments arrive.
#include "demo_window.h"
#include "http_client.h"
#include "livecomments/qt/comment_model.h"
#include "server_process.h"

#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>
#include <QtTest>

Q_IMPORT_QML_PLUGIN(LiveCommentsPlugin)
Q_IMPORT_QML_PLUGIN(LiveCommentsDemoPlugin)

class TstDemoView : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void liveCommentsReachChatAndOverlay();
    void ownPostIsPendingRowThenStoredInPlace();
    void scrollingUpBeforeTheDeferredFollowStaysPut();
    void scrollingUpLoadsOlderWithoutMovingTheView();
    void jumpButtonAppearsWhenScrolledUp();
    void roleBadgesOnModeratorAndStreamerRows();

private:
    QQuickItem* item(const char* name) const;
    int count() const { return m_view->property("count").toInt(); }
    /// The id of the row at the top edge of the chat view and its y in window coordinates.
    QPair<QString, qreal> topRow() const;
    /// The delegate of row 0 (the newest comment, at the bottom), laid out now; or nullptr.
    QQuickItem* newestRow() const;

    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QQuickWindow* m_window = nullptr;
    QQuickItem* m_view = nullptr;
    QString m_token;
    QString m_otherToken;
    qint32 m_video = 0;
};

QQuickItem* TstDemoView::item(const char* name) const
{
    if (auto* found = m_window->findChild<QQuickItem*>(QLatin1String(name)))
        return found;
    return m_window->contentItem()->findChild<QQuickItem*>(QLatin1String(name));
}

void TstDemoView::initTestCase()
{
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY2(m_server->start(), m_server->log().constData());
    m_token = m_server->token(QStringLiteral("11"), QStringLiteral("viewer"));
    m_otherToken = m_server->token(
        QStringLiteral("12"), QStringLiteral("carol"), QStringLiteral("streamer"));
    m_video = lctest::createVideo(m_server->baseUrl(), m_otherToken, QStringLiteral("Demo view"));
    QVERIFY(m_video > 0);
    // 120 comments of history: more than two pages.
    QStringList texts;
    for (int i = 0; i < 120; ++i)
        texts << QStringLiteral("history %1").arg(i);
    for (const auto& r : lctest::postComments(m_server->baseUrl(), m_otherToken, m_video, texts))
        QCOMPARE(r.status, 201);

    m_engine = std::make_unique<QQmlApplicationEngine>();
    m_window = lctest::loadDemoWindow(*m_engine, m_server->baseUrl(), m_video, m_token);
    QVERIFY(m_window);
    QVERIFY(QTest::qWaitForWindowExposed(m_window));
    m_view = item("chatView");
    QVERIFY(m_view);
    // The newest page (50) is shown first.
    QTRY_VERIFY_WITH_TIMEOUT(count() >= 50, 15000);
    QObject* session = m_window->property("session").value<QObject*>();
    QVERIFY(session);
    QTRY_COMPARE_WITH_TIMEOUT(session->property("state").toInt(), 2 /* Live */, 15000);
}

void TstDemoView::cleanupTestCase()
{
    m_engine.reset();
    m_server.reset();
}

QPair<QString, qreal> TstDemoView::topRow() const
{
    // Apply pending model changes to the layout now (ListView lays out at polish time).
    QMetaObject::invokeMethod(m_view, "forceLayout");
    const qreal contentY = m_view->property("contentY").toReal();
    int index = -1;
    QMetaObject::invokeMethod(m_view, "indexAt", Q_RETURN_ARG(int, index),
        Q_ARG(qreal, m_view->width() / 2), Q_ARG(qreal, contentY + 100)); // below the 84 px footer
    if (index < 0)
        return { {}, 0 };
    QQuickItem* delegate = nullptr;
    QMetaObject::invokeMethod(
        m_view, "itemAtIndex", Q_RETURN_ARG(QQuickItem*, delegate), Q_ARG(int, index));
    if (!delegate)
        return { {}, 0 };
    return { delegate->property("commentId").toString(), delegate->mapToScene(QPointF(0, 0)).y() };
}

QQuickItem* TstDemoView::newestRow() const
{
    QMetaObject::invokeMethod(m_view, "forceLayout");
    QQuickItem* row = nullptr;
    QMetaObject::invokeMethod(m_view, "itemAtIndex", Q_RETURN_ARG(QQuickItem*, row), Q_ARG(int, 0));
    return row;
}

void TstDemoView::liveCommentsReachChatAndOverlay()
{
    QQuickItem* overlay = item("danmakuOverlay");
    QVERIFY(overlay);
    const int shownBefore = overlay->property("shownTotal").toInt();
    const auto r = lctest::postComment(
        m_server->baseUrl(), m_otherToken, m_video, QStringLiteral("hello from another client"));
    QCOMPARE(r.status, 201);
    // Row 0 of the newest-first model is the newest comment, at the bottom of the panel. (The
    // count is not compared: an older page may be prefetched meanwhile.)
    QTRY_VERIFY_WITH_TIMEOUT(newestRow()
            && newestRow()->property("text").toString()
                == QStringLiteral("hello from another client"),
        10000);
    QCOMPARE(newestRow()->property("userName").toString(), QStringLiteral("carol"));
    // It sits at the bottom edge of the panel: the view follows the live edge.
    const qreal bottom = newestRow()->mapToItem(m_view, QPointF(0, newestRow()->height())).y();
    QVERIFY2(qAbs(bottom - m_view->height()) < 2, qPrintable(QString::number(bottom)));
    QTRY_COMPARE_WITH_TIMEOUT(overlay->property("shownTotal").toInt(), shownBefore + 1, 10000);
    QCOMPARE(
        overlay->property("lastShownText").toString(), QStringLiteral("hello from another client"));
}

void TstDemoView::ownPostIsPendingRowThenStoredInPlace()
{
    QQuickItem* overlay = item("danmakuOverlay");
    QVERIFY(overlay);
    QObject* session = m_window->property("session").value<QObject*>();
    QVERIFY(session);
    const int shownBefore = overlay->property("shownTotal").toInt();
    QString key;
    QVERIFY(QMetaObject::invokeMethod(session, "post", Q_RETURN_ARG(QString, key),
        Q_ARG(QString, QStringLiteral("my own words"))));
    QVERIFY(!key.isEmpty());
    // Laid out before the event loop runs again, i.e. before any answer can be in: the newest
    // row is the post, pending, greyed with "sending…".
    QQuickItem* row = newestRow();
    QVERIFY(row);
    QCOMPARE(row->property("text").toString(), QStringLiteral("my own words"));
    QCOMPARE(row->property("pending").toBool(), true);
    QCOMPARE(row->property("localId").toString(), key);
    QCOMPARE(row->objectName(), QStringLiteral("pendingRow"));
    QQuickItem* label = row->findChild<QQuickItem*>(QStringLiteral("pendingLabel"));
    QVERIFY(label);
    QVERIFY(label->isVisible());
    QCOMPARE(overlay->property("shownTotal").toInt(), shownBefore); // not stored yet
    // Stored: the same delegate shows the stored comment (no new row, nothing moved); the
    // overlay shows it now, once.
    QTRY_VERIFY_WITH_TIMEOUT(!row->property("pending").toBool(), 10000);
    QCOMPARE(newestRow(), row);
    QVERIFY(row->property("commentId").toString() != QStringLiteral("0"));
    QCOMPARE(row->objectName(), QStringLiteral("chatRow"));
    QVERIFY(!label->isVisible());
    QCOMPARE(row->property("own").toBool(), true);
    QTRY_COMPARE_WITH_TIMEOUT(overlay->property("shownTotal").toInt(), shownBefore + 1, 10000);
    QCOMPARE(overlay->property("lastShownText").toString(), QStringLiteral("my own words"));
}

void TstDemoView::scrollingUpBeforeTheDeferredFollowStaysPut()
{
    // The panel follows the newest row with a deferred call queued on each live insertion; a
    // reader who scrolls up before it runs must stay where they scrolled to. The row is put into
    // the model directly so that the order (insertion, scroll, deferred call) is certain; through
    // the server it depends on when the event loop runs (this was the "rows move in about half
    // of the runs" defect of scrollingUpLoadsOlderWithoutMovingTheView).
    QObject* session = m_window->property("session").value<QObject*>();
    QVERIFY(session);
    auto* model = qobject_cast<livecomments::qt::CommentModel*>(
        session->property("comments").value<QObject*>());
    QVERIFY(model);
    QQuickItem* jump = item("jumpButton");
    QVERIFY(jump);
    QMetaObject::invokeMethod(m_view, "positionViewAtBeginning");
    QTRY_VERIFY(!jump->isVisible()); // following the newest row
    livecomments::qt::Comment c;
    c.id = livecomments::qt::Comment::parseId(model->newestId()) + 1;
    c.videoId = m_video;
    c.userId = QStringLiteral("12");
    c.userName = QStringLiteral("carol");
    c.text = QStringLiteral("deferred follow");
    c.createdAt = QDateTime::currentDateTimeUtc();
    model->addLive(c);
    QCOMPARE(model->flush(), 1); // liveInserted: the follow is queued now
    // Scroll up (BottomToTop: older rows have smaller contentY), as a reader does.
    QMetaObject::invokeMethod(m_view, "forceLayout");
    m_view->setProperty("contentY", m_view->property("contentY").toReal() - 300);
    QVERIFY(jump->isVisible()); // no longer following
    const auto anchor = topRow();
    QVERIFY(!anchor.first.isEmpty());
    // Let the queued call run, then the view is where the reader left it.
    QCoreApplication::sendPostedEvents();
    QCoreApplication::processEvents();
    QCOMPARE(topRow(), anchor);
    QVERIFY(jump->isVisible());
    QVERIFY(model->remove(c.id)); // the row was never on the server
}

void TstDemoView::scrollingUpLoadsOlderWithoutMovingTheView()
{
    // 120 history comments, the live one and the own post of the tests before.
    const int total = 122;
    const int before = count();
    QVERIFY(before < total); // not everything is loaded yet
    // Scroll up near the top, as a reader does: a few rows below the oldest loaded one, which is
    // inside the prefetch distance (BottomToTop: the end of the list is at the top).
    QMetaObject::invokeMethod(m_view, "positionViewAtEnd");
    QMetaObject::invokeMethod(m_view, "forceLayout");
    m_view->setProperty("contentY", m_view->property("contentY").toReal() + 150);
    const auto anchor = topRow();
    QVERIFY(!anchor.first.isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(count() > before, 15000);
    // The row the reader looked at is still where it was.
    QCOMPARE(topRow(), anchor);
    // Keep reading upwards: everything arrives eventually, and the oldest is shown.
    for (int i = 0; i < 5 && count() < total; ++i) {
        QMetaObject::invokeMethod(m_view, "positionViewAtEnd");
        QTRY_VERIFY_WITH_TIMEOUT(count() >= std::min(total, before + 50 * (i + 1)), 15000);
    }
    QCOMPARE(count(), total);
}

void TstDemoView::jumpButtonAppearsWhenScrolledUp()
{
    QQuickItem* jump = item("jumpButton");
    QVERIFY(jump);
    QMetaObject::invokeMethod(m_view, "positionViewAtEnd"); // scrolled far up
    QTRY_VERIFY_WITH_TIMEOUT(jump->isVisible(), 5000);
    const auto anchor = topRow();
    const auto r = lctest::postComment(
        m_server->baseUrl(), m_otherToken, m_video, QStringLiteral("while you were away"));
    QCOMPARE(r.status, 201);
    QTRY_VERIFY_WITH_TIMEOUT(
        jump->property("text").toString().contains(QStringLiteral("1 new")), 10000);
    QCOMPARE(topRow().first, anchor.first); // the reader's place did not move
    QMetaObject::invokeMethod(jump, "clicked");
    QTRY_VERIFY_WITH_TIMEOUT(!jump->isVisible(), 5000);
}

void TstDemoView::roleBadgesOnModeratorAndStreamerRows()
{
    // End to end: the server stores each comment's role (the posting token's) and sends
    // user.role; the chat badges the streamer of THIS video and moderators, and nobody else —
    // not a user whose token has the streamer role but who streams another video.
    const QUrl base = m_server->baseUrl();
    const QString moderator = m_server->token(
        QStringLiteral("31"), QStringLiteral("mona"), QStringLiteral("moderator"));
    const QString otherStreamer
        = m_server->token(QStringLiteral("32"), QStringLiteral("sam"), QStringLiteral("streamer"));
    const QString viewer
        = m_server->token(QStringLiteral("33"), QStringLiteral("vic"), QStringLiteral("viewer"));
    // Posted oldest first, so newest first they are rows 0..3.
    const QList<QPair<QString, QString>> posts {
        { m_otherToken, QStringLiteral("badge: the video's streamer") },
        { moderator, QStringLiteral("badge: moderator") },
        { otherStreamer, QStringLiteral("badge: another video's streamer") },
        { viewer, QStringLiteral("badge: viewer") },
    };
    for (const auto& [token, text] : posts)
        QCOMPARE(lctest::postComment(base, token, m_video, text).status, 201);
    const QStringList expected { QString(), QString(), QStringLiteral("MOD"),
        QStringLiteral("STREAMER") };
    const QStringList roles { QStringLiteral("viewer"), QStringLiteral("streamer"),
        QStringLiteral("moderator"), QStringLiteral("streamer") };
    const auto rowText = [this](int row) -> QString {
        QMetaObject::invokeMethod(m_view, "forceLayout");
        QQuickItem* delegate = nullptr;
        QMetaObject::invokeMethod(
            m_view, "itemAtIndex", Q_RETURN_ARG(QQuickItem*, delegate), Q_ARG(int, row));
        return delegate ? delegate->property("text").toString() : QString();
    };
    QTRY_COMPARE_WITH_TIMEOUT(rowText(0), posts.at(3).second, 15000);
    for (int row = 0; row < 4; ++row) {
        QQuickItem* delegate = nullptr;
        QMetaObject::invokeMethod(
            m_view, "itemAtIndex", Q_RETURN_ARG(QQuickItem*, delegate), Q_ARG(int, row));
        QVERIFY(delegate);
        QCOMPARE(delegate->property("text").toString(), posts.at(3 - row).second);
        QCOMPARE(delegate->property("role").toString(), roles.at(row));
        QCOMPARE(delegate->property("badge").toString(), expected.at(row));
        auto* badge = delegate->findChild<QQuickItem*>(QStringLiteral("roleBadge"));
        QVERIFY(badge);
        QCOMPARE(badge->isVisible(), !expected.at(row).isEmpty());
    }
}

int main(int argc, char** argv)
{
    // The software scene graph works on the offscreen platform without GL.
    qputenv("QT_QUICK_BACKEND", "software");
    QGuiApplication app(argc, argv);
    TstDemoView test;
    return QTest::qExec(&test, argc, argv);
}
#include "tst_demo_view.moc"
