// SPDX-License-Identifier: MIT
// Light and dark colour sets of the player.
import QtQuick

QtObject {
    property bool dark: true
    readonly property color window: dark ? "#0f1115" : "#f4f5f7"
    readonly property color panel: dark ? "#171a21" : "#ffffff"
    readonly property color panelAlt: dark ? "#1e222b" : "#eef0f3"
    readonly property color border: dark ? "#2a2f3a" : "#d9dde3"
    readonly property color text: dark ? "#e8eaed" : "#1b1d22"
    readonly property color subtext: dark ? "#9aa1ad" : "#5f6672"
    readonly property color accent: "#3d8bfd"
    readonly property color live: "#e5484d"
    readonly property color ok: "#30a46c"
    readonly property color warn: "#f5a524"
    readonly property color ownBubble: dark ? "#1d3557" : "#dbe9ff"
    readonly property color skeleton: dark ? "#262b35" : "#e3e6ea"
    readonly property color danmakuText: "#ffffff"
    readonly property color danmakuOutline: "#000000"

    /// A stable colour per user name (chat panel names).
    function nameColor(name) {
        var h = 0
        for (var i = 0; i < name.length; ++i)
            h = (h * 31 + name.charCodeAt(i)) % 360
        return Qt.hsla(h / 360, dark ? 0.65 : 0.55, dark ? 0.68 : 0.40, 1)
    }
}
