// SPDX-License-Identifier: MIT
// A stand-in for a camera picture: a stage with moving lights, an audio meter and a time code.
// Cheap to render (a few rectangles and gradients, animations on the scene-graph clock).
import QtQuick

Item {
    id: scene
    property bool running: true
    property string title
    property int seconds: 0

    Rectangle {
        anchors.fill: parent
        gradient: Gradient {
            GradientStop { position: 0.0; color: "#1b1145" }
            GradientStop { position: 0.55; color: "#3b1d5e" }
            GradientStop { position: 1.0; color: "#0b0a14" }
        }
    }

    // Spotlights sweeping the stage.
    Repeater {
        model: 3
        Rectangle {
            id: beam
            required property int index
            width: scene.width * 0.22
            height: scene.height * 1.3
            x: scene.width * (0.2 + 0.3 * index) - width / 2
            y: -scene.height * 0.2
            transformOrigin: Item.Top
            opacity: 0.16
            gradient: Gradient {
                GradientStop { position: 0.0; color: ["#ffd166", "#06d6a0", "#ef476f"][beam.index] }
                GradientStop { position: 1.0; color: "transparent" }
            }
            SequentialAnimation on rotation {
                running: scene.running
                loops: Animation.Infinite
                NumberAnimation { from: -18 + beam.index * 6; to: 18 - beam.index * 6; duration: 3200 + beam.index * 700; easing.type: Easing.InOutSine }
                NumberAnimation { from: 18 - beam.index * 6; to: -18 + beam.index * 6; duration: 3200 + beam.index * 700; easing.type: Easing.InOutSine }
            }
        }
    }

    // Stage floor and a presenter silhouette.
    Rectangle {
        anchors.bottom: parent.bottom
        width: parent.width
        height: parent.height * 0.22
        gradient: Gradient {
            GradientStop { position: 0.0; color: "#2a1f3d" }
            GradientStop { position: 1.0; color: "#07060b" }
        }
    }
    Item {
        id: presenter
        width: scene.height * 0.16
        height: scene.height * 0.42
        anchors.bottom: parent.bottom
        anchors.bottomMargin: scene.height * 0.12
        property real phase: 0
        x: scene.width * (0.40 + 0.2 * phase) - width / 2
        SequentialAnimation on phase {
            running: scene.running
            loops: Animation.Infinite
            NumberAnimation { from: 0; to: 1; duration: 4000; easing.type: Easing.InOutQuad }
            NumberAnimation { from: 1; to: 0; duration: 4000; easing.type: Easing.InOutQuad }
        }
        Rectangle { // head
            width: parent.width * 0.42; height: width; radius: width / 2
            anchors.horizontalCenter: parent.horizontalCenter
            color: "#0d0b12"
        }
        Rectangle { // body
            y: parent.width * 0.46
            width: parent.width; height: parent.height - y
            radius: width * 0.3
            color: "#0d0b12"
        }
    }

    // Audio meter.
    Row {
        anchors.left: parent.left
        anchors.bottom: parent.bottom
        anchors.margins: 16
        spacing: 3
        Repeater {
            model: 14
            Rectangle {
                required property int index
                width: 5
                radius: 2
                anchors.bottom: parent.bottom
                color: index > 10 ? "#ef476f" : "#06d6a0"
                opacity: 0.85
                height: 6
                SequentialAnimation on height {
                    running: scene.running
                    loops: Animation.Infinite
                    NumberAnimation { to: 8 + (index * 37 % 23); duration: 180 + (index * 53 % 170) }
                    NumberAnimation { to: 4 + (index * 17 % 9); duration: 160 + (index * 29 % 150) }
                }
            }
        }
    }

    Timer {
        interval: 1000; repeat: true; running: scene.running
        onTriggered: scene.seconds++
    }
    Text {
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        anchors.margins: 14
        color: "#ccffffff"
        font.family: "monospace"
        font.pixelSize: 13
        text: {
            var s = scene.seconds
            function two(n) { return (n < 10 ? "0" : "") + n }
            return "● REC  " + two(Math.floor(s / 3600)) + ":" + two(Math.floor(s / 60) % 60) + ":" + two(s % 60)
        }
    }
}
