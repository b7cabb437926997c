// SPDX-License-Identifier: MIT
// Title, live/ended badge, viewers, connection indicator, overlay controls.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LiveComments

Rectangle {
    id: bar
    required property LiveSession session
    required property var palette_
    required property var overlay
    signal themeToggled()

    implicitHeight: 52
    color: palette_.panel

    Rectangle { anchors.bottom: parent.bottom; width: parent.width; height: 1; color: bar.palette_.border }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 16
        anchors.rightMargin: 12
        spacing: 12

        Rectangle {
            id: badge
            objectName: "liveBadge"
            readonly property bool isLive: bar.session.live
            implicitWidth: badgeText.implicitWidth + 16
            implicitHeight: 22
            radius: 4
            color: isLive ? bar.palette_.live : bar.palette_.subtext
            Text {
                id: badgeText
                anchors.centerIn: parent
                text: bar.session.ended ? "ENDED" : (badge.isLive ? "LIVE" : "…")
                color: "white"
                font.bold: true
                font.pixelSize: 12
                font.letterSpacing: 1
            }
        }

        Text {
            Layout.fillWidth: true
            text: bar.session.title.length ? bar.session.title : "Loading…"
            textFormat: Text.PlainText
            elide: Text.ElideRight
            color: bar.palette_.text
            font.pixelSize: 17
            font.bold: true
        }

        Text {
            objectName: "viewers"
            text: bar.session.viewers.toLocaleString(Qt.locale(), 'f', 0) + " watching"
            color: bar.palette_.subtext
            font.pixelSize: 13
        }

        // Connection indicator: live / connecting / offline — reconnecting in Ns / offline.
        Row {
            objectName: "connection"
            spacing: 6
            readonly property int st: bar.session.state
            // One wording for every client of LiveSession: "Offline — reconnecting in 3s", ...
            readonly property string label: bar.session.statusText.length ? bar.session.statusText : "Idle"
            Rectangle {
                anchors.verticalCenter: parent.verticalCenter
                width: 9; height: 9; radius: 4.5
                color: parent.st === LiveSession.Live ? bar.palette_.ok
                     : parent.st === LiveSession.Closed ? bar.palette_.live : bar.palette_.warn
                SequentialAnimation on opacity {
                    running: parent.parent.st === LiveSession.Reconnecting || parent.parent.st === LiveSession.Connecting
                    loops: Animation.Infinite
                    NumberAnimation { to: 0.3; duration: 500 }
                    NumberAnimation { to: 1; duration: 500 }
                    onRunningChanged: if (!running) parent.opacity = 1
                }
            }
            Text {
                text: parent.label
                color: bar.palette_.subtext
                font.pixelSize: 13
            }
            ToolTip.visible: connHover.hovered && bar.session.errorString.length > 0
            ToolTip.text: bar.session.errorString
            HoverHandler { id: connHover }
        }

        Rectangle { width: 1; height: 24; color: bar.palette_.border }

        Switch {
            objectName: "overlaySwitch"
            checked: bar.overlay.enabled
            onToggled: bar.overlay.enabled = checked
            ToolTip.visible: hovered
            ToolTip.text: "Comments over the video (D)"
        }
        Text {
            text: "Danmaku"
            color: bar.palette_.subtext
            font.pixelSize: 13
        }
        Slider {
            objectName: "densitySlider"
            Layout.preferredWidth: 90
            from: 0.25; to: 1; stepSize: 0.25
            value: bar.overlay.density
            enabled: bar.overlay.enabled
            onMoved: bar.overlay.density = value
            ToolTip.visible: hovered
            ToolTip.text: "Overlay density ([ and ])"
        }
        ToolButton {
            text: bar.palette_.dark ? "☀" : "☾"
            palette.buttonText: bar.palette_.text
            onClicked: bar.themeToggled()
            ToolTip.visible: hovered
            ToolTip.text: "Light/dark (T) · / to type · Enter sends · Ctrl+End newest · Ctrl+R reconnect"
        }
    }
}
