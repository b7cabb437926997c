// SPDX-License-Identifier: MIT
// Content safety in the player: loads the demo's Main.qml (the file the player ships) against the
// real server, posts comments that are markup (`<b>x</b>`, `<img src=…>`, a link) from another
// client, and checks that every Text item showing them — chat rows and the overlay — renders
// them as plain text (textFormat Text.PlainText), so markup is shown, never interpreted.
#include "demo_window.h"
#include "http_client.h"
#include "server_process.h"

#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickWindow>
#include <QtQml/qqmlextensionplugin.h>
#include <QtTest>

Q_IMPORT_QML_PLUGIN(LiveCommentsPlugin)
Q_IMPORT_QML_PLUGIN(LiveCommentsDemoPlugin)

namespace {

/// QQuickText::PlainText (the enum is in a private header).
constexpr int kPlainText = 0;

/// Every Text item (QQuickText) of the visual tree below `root`.
void collectTexts(QQuickItem* root, QList<QQuickItem*>& out)
{
    if (QByteArray(root->metaObject()->className()).startsWith("QQuickText")
        && root->property("textFormat").isValid())
        out << root;
    for (QQuickItem* child : root->childItems())
        collectTexts(child, out);
}

} // namespace

class TstPlainText : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void markupIsShownAsPlainText_data();
    void markupIsShownAsPlainText();

private:
    /// The Text items whose text contains `needle`.
    QList<QQuickItem*> textsShowing(const QString& needle) const;

    std::unique_ptr<lctest::ServerProcess> m_server;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QQuickWindow* m_window = nullptr;
    QString m_otherToken;
    qint32 m_video = 0;
};

void TstPlainText::initTestCase()
{
    m_server = std::make_unique<lctest::ServerProcess>();
    QVERIFY2(m_server->start(), m_server->log().constData());
    const QString token = m_server->token(QStringLiteral("21"), QStringLiteral("viewer"));
    m_otherToken = m_server->token(
        QStringLiteral("22"), QStringLiteral("<i>carol</i>"), QStringLiteral("streamer"));
    m_video
        = lctest::createVideo(m_server->baseUrl(), m_otherToken, QStringLiteral("<b>Plain</b>"));
    QVERIFY(m_video > 0);

    m_engine = std::make_unique<QQmlApplicationEngine>();
    m_window = lctest::loadDemoWindow(*m_engine, m_server->baseUrl(), m_video, token);
    QVERIFY(m_window);
    QVERIFY(QTest::qWaitForWindowExposed(m_window));
    QObject* session = m_window->property("session").value<QObject*>();
    QVERIFY(session);
    QTRY_COMPARE_WITH_TIMEOUT(session->property("state").toInt(), 2 /* Live */, 15000);
}

void TstPlainText::cleanupTestCase()
{
    m_engine.reset();
    m_server.reset();
}

QList<QQuickItem*> TstPlainText::textsShowing(const QString& needle) const
{
    QList<QQuickItem*> all;
    collectTexts(m_window->contentItem(), all);
    QList<QQuickItem*> out;
    for (QQuickItem* text : all) {
        if (text->property("text").toString().contains(needle))
            out << text;
    }
    return out;
}

void TstPlainText::markupIsShownAsPlainText_data()
{
    QTest::addColumn<QString>("comment");
    QTest::newRow("bold") << QStringLiteral("<b>x</b>");
    QTest::newRow("image") << QStringLiteral("<img src=\"http://127.0.0.1:1/pixel.png\">");
    QTest::newRow("link") << QStringLiteral("<a href=\"http://example.invalid\">click</a>");
    QTest::newRow("styled") << QStringLiteral("<font color=\"red\" size=\"7\">BIG</font>");
}

void TstPlainText::markupIsShownAsPlainText()
{
    QFETCH(QString, comment);
    const auto r = lctest::postComment(m_server->baseUrl(), m_otherToken, m_video, comment);
    QCOMPARE(r.status, 201);
    QCOMPARE(r.json().value("text").toString(), comment); // stored as sent: text, not markup
    // The chat row shows "<name>  <text>"; the overlay (when it has a free lane) the text alone.
    QTRY_VERIFY_WITH_TIMEOUT(!textsShowing(comment).isEmpty(), 15000);
    QTRY_VERIFY_WITH_TIMEOUT(
        !textsShowing(QStringLiteral("<i>carol</i>  ") + comment).isEmpty(), 15000);
    const QList<QQuickItem*> texts = textsShowing(comment);
    for (QQuickItem* text : texts) {
        QVERIFY2(text->property("textFormat").toInt() == kPlainText,
            qPrintable(QStringLiteral("%1 (%2) renders '%3' with textFormat %4")
                           .arg(text->objectName(), text->metaObject()->className(),
                               text->property("text").toString())
                           .arg(text->property("textFormat").toInt())));
    }
    // The author's name and the video title are markup too: shown literally as well.
    const QList<QQuickItem*> names = textsShowing(QStringLiteral("<i>carol</i>"));
    for (QQuickItem* text : names)
        QCOMPARE(text->property("textFormat").toInt(), kPlainText);
    const QList<QQuickItem*> titles = textsShowing(QStringLiteral("<b>Plain</b>"));
    QVERIFY(!titles.isEmpty());
    for (QQuickItem* text : titles)
        QCOMPARE(text->property("textFormat").toInt(), kPlainText);
}

QTEST_MAIN(TstPlainText)
#include "tst_plain_text.moc"
