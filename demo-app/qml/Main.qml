// SPDX-License-Identifier: MIT
// The player: header, video area with the danmaku overlay, chat panel with composer.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LiveComments

ApplicationWindow {
    id: root
    width: 1280
    height: 720
    minimumWidth: 720
    minimumHeight: 420
    visible: true
    title: session.title.length ? session.title + " — LiveComments" : "LiveComments"

    // Set by main.cpp / tests through initial properties.
    property url serverUrl
    property int videoId: 0
    property string token
    property string mediaSource
    property bool hasMultimedia: false
    property bool useCurl: false
    // SQLite cache (history + persistent outbox); "" = none. main.cpp passes the app-data file.
    property string cachePath
    property bool dark: true

    // Counters for --measure-frames and tests.
    property int receivedCount: 0
    readonly property int overlayShown: videoArea.overlay.shownTotal
    readonly property int overlayDropped: videoArea.overlay.droppedTotal

    readonly property alias session: session
    readonly property alias palette_: pal

    color: pal.window

    Theme { id: pal; dark: root.dark }

    LiveSession {
        id: session
        objectName: "session"
        server: root.serverUrl
        videoId: root.videoId
        token: root.token
        transport: root.useCurl ? LiveSession.Curl : LiveSession.QtNetwork
        cachePath: root.cachePath
        onLiveComment: function(comment) {
            root.receivedCount++
            videoArea.overlay.add(comment)
        }
    }

    // Keyboard shortcuts (also listed in the header's help tooltip).
    Shortcut { sequence: "D"; context: Qt.ApplicationShortcut; enabled: !chat.composerFocused
               onActivated: videoArea.overlay.enabled = !videoArea.overlay.enabled }
    Shortcut { sequence: "]"; enabled: !chat.composerFocused
               onActivated: videoArea.overlay.density = Math.min(1, videoArea.overlay.density + 0.25) }
    Shortcut { sequence: "["; enabled: !chat.composerFocused
               onActivated: videoArea.overlay.density = Math.max(0.25, videoArea.overlay.density - 0.25) }
    Shortcut { sequence: "T"; enabled: !chat.composerFocused; onActivated: root.dark = !root.dark }
    Shortcut { sequence: "/"; enabled: !chat.composerFocused; onActivated: chat.focusComposer() }
    Shortcut { sequence: "Ctrl+End"; onActivated: chat.jumpToNewest() }
    Shortcut { sequence: "Ctrl+R"; onActivated: session.reconnect() }
    Shortcut { sequence: StandardKey.Quit; onActivated: Qt.quit() }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        HeaderBar {
            Layout.fillWidth: true
            session: session
            palette_: pal
            overlay: videoArea.overlay
            onThemeToggled: root.dark = !root.dark
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 0

            VideoArea {
                id: videoArea
                Layout.fillWidth: true
                Layout.fillHeight: true
                session: session
                palette_: pal
                mediaSource: root.mediaSource
                useMedia: root.hasMultimedia && root.mediaSource.length > 0
            }

            Rectangle { Layout.fillHeight: true; width: 1; color: pal.border }

            ChatPanel {
                id: chat
                Layout.fillHeight: true
                Layout.preferredWidth: Math.max(320, Math.min(420, root.width * 0.3))
                session: session
                palette_: pal
            }
        }
    }
}
