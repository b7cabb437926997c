// SPDX-License-Identifier: MIT
// The video: Qt Multimedia when available and --media given, else an animated live scene;
// the danmaku overlay on top.
import QtQuick
import LiveComments

Rectangle {
    id: area
    required property LiveSession session
    required property var palette_
    property string mediaSource
    property bool useMedia: false
    readonly property alias overlay: overlay

    color: "black"
    clip: true

    Loader {
        id: media
        anchors.fill: parent
        active: area.useMedia
        source: area.useMedia ? "MediaVideo.qml" : ""
        onLoaded: item.source = area.mediaSource
    }

    LiveScene {
        anchors.fill: parent
        visible: !media.active || media.status !== Loader.Ready
        running: visible
        title: area.session.title
    }

    DanmakuOverlay {
        id: overlay
        objectName: "danmakuOverlay"
        anchors.fill: parent
        palette_: area.palette_
    }

    // Ended: a calm veil over the picture.
    Rectangle {
        anchors.fill: parent
        visible: area.session.ended
        color: "#a0000000"
        Text {
            anchors.centerIn: parent
            text: "The live has ended — the chat stays readable"
            color: "white"
            font.pixelSize: 20
        }
    }
}
