// SPDX-License-Identifier: MIT
// Real video through Qt Multimedia (only built when the module was found at build time).
import QtQuick
import QtMultimedia

Item {
    property alias source: player.source
    MediaPlayer {
        id: player
        videoOutput: output
        audioOutput: AudioOutput { muted: true }
        loops: MediaPlayer.Infinite
        Component.onCompleted: play()
        onSourceChanged: play()
    }
    VideoOutput {
        id: output
        anchors.fill: parent
        fillMode: VideoOutput.PreserveAspectFit
    }
}
