// SPDX-License-Identifier: MIT
// Danmaku: live comments crossing the video right to left (docs/demo.md, "What is on screen").
// - Every comment takes the same time D to cross, so longer text moves faster.
// - A lane takes a new comment only if it does not overlap the lane's previous one at entry and
//   will not catch it before that one leaves (exit check).
// - Caps: lanes, items on screen (a fixed pool of reused Text items: no per-comment creation),
//   at most 5 identical texts on screen, a pending queue of 8 that drops what waited > 4 s.
//   Only the overlay drops; the chat panel always gets every comment.
import QtQuick

Item {
    id: overlay
    required property var palette_

    /// 0.25 .. 1: share of the picture height used for lanes and of the item cap.
    property real density: 0.5
    property int fontPixelSize: Math.max(16, Math.round(height / 30))
    readonly property real laneHeight: fontPixelSize * 1.45
    readonly property int maxLanes: 14
    readonly property int laneCount: Math.max(1, Math.min(maxLanes, Math.floor(height * 0.85 * density / laneHeight)))
    readonly property int maxItems: 64
    readonly property int itemCap: Math.max(4, Math.round(maxItems * density))
    readonly property int crossingMs: Math.max(4000, Math.min(9000, width * 8))
    readonly property int pendingCap: 8
    readonly property int maxWaitMs: 4000
    readonly property int maxIdentical: 5
    readonly property real gap: fontPixelSize

    // Statistics (tests, --measure-frames).
    property int shownTotal: 0
    property int droppedTotal: 0
    property int onScreen: 0
    property string lastShownText

    property var pending: []     // [{text, own, at}]
    property var laneLast: []    // lane -> pool item
    // Bookkeeping kept in plain JS (no per-comment walk over the pool): free items and a count
    // of each text on screen.
    property var freeList: []
    property var textCount: ({})

    visible: enabled
    onEnabledChanged: if (!enabled) clear()

    function add(comment) {
        if (!enabled)
            return
        var text = String(comment.text).replace(/\s+/g, " ")
        if (text.length > 120)
            text = text.substring(0, 119) + "…"
        pending.push({ text: text, own: !!comment.own, at: Date.now() })
        while (pending.length > pendingCap) {
            pending.shift()
            droppedTotal++
        }
        drain()
    }

    function clear() {
        pending = []
        for (var i = 0; i < pool.count; ++i)
            pool.itemAt(i).stop()
        laneLast = []
    }

    function identicalOnScreen(text) {
        return textCount[text] || 0
    }

    function freeItem() {
        if (onScreen >= itemCap || freeList.length === 0)
            return null
        return freeList[freeList.length - 1]
    }

    function released(it) {
        var n = (textCount[it.text] || 1) - 1
        if (n <= 0)
            delete textCount[it.text]
        else
            textCount[it.text] = n
        freeList.push(it)
        onScreen--
    }

    // Entry and exit collision checks for a comment of width w in lane `lane`.
    function laneFits(lane, w) {
        var last = laneLast[lane]
        if (!last || !last.busy)
            return true
        var W = width
        var tail = last.x + last.width
        if (tail + gap > W)
            return false                          // entry: the previous one has not fully entered
        var vNew = (W + w) / crossingMs
        var vLast = (W + last.width) / crossingMs
        var tLeave = tail / vLast                 // when the previous one's tail leaves at x = 0
        return W / vNew >= tLeave                 // exit: we never reach it before it leaves
    }

    function place(entry) {
        if (identicalOnScreen(entry.text) >= maxIdentical)
            return "drop"
        var it = freeItem()
        if (!it)
            return "wait"
        metrics.text = entry.text
        var w = metrics.advanceWidth + (entry.own ? 16 : 0)
        for (var lane = 0; lane < laneCount; ++lane) {
            if (laneFits(lane, w)) {
                laneLast[lane] = it
                freeList.pop()
                textCount[entry.text] = (textCount[entry.text] || 0) + 1
                it.launch(entry.text, entry.own, lane * laneHeight + fontPixelSize * 0.4)
                shownTotal++
                lastShownText = entry.text
                return "shown"
            }
        }
        return "wait"
    }

    function drain() {
        if (pending.length === 0)
            return
        var now = Date.now()
        var keep = []
        for (var i = 0; i < pending.length; ++i) {
            var e = pending[i]
            if (now - e.at > maxWaitMs) {
                droppedTotal++
                continue
            }
            var r = place(e)
            if (r === "drop")
                droppedTotal++
            else if (r === "wait")
                keep.push(e)
        }
        pending = keep
    }

    TextMetrics {
        id: metrics
        font.pixelSize: overlay.fontPixelSize
        font.bold: true
    }

    Timer {
        interval: 100
        repeat: true
        running: overlay.enabled && overlay.pending.length > 0
        onTriggered: overlay.drain()
    }

    Repeater {
        id: pool
        model: overlay.maxItems
        Item {
            id: item
            property bool busy: false
            property alias text: label.text
            property bool own: false
            visible: busy
            width: label.implicitWidth + (own ? 16 : 0)
            height: overlay.laneHeight
            x: overlay.width

            function launch(t, isOwn, yPos) {
                label.text = t
                own = isOwn
                y = yPos
                busy = true
                overlay.onScreen++
                anim.stop()
                anim.from = overlay.width
                anim.to = -width
                anim.duration = overlay.crossingMs
                anim.start()
            }
            function stop() {
                if (busy) {
                    anim.stop()
                    busy = false
                    overlay.released(item)
                }
            }
            Component.onCompleted: overlay.freeList.push(item)

            Rectangle {
                visible: item.own
                anchors.fill: parent
                anchors.topMargin: 2
                anchors.bottomMargin: 2
                radius: height / 2
                color: "#553d8bfd"
                border.color: "#ffd166"
                border.width: 2
            }
            Text {
                id: label
                anchors.centerIn: parent
                textFormat: Text.PlainText
                color: overlay.palette_.danmakuText
                style: Text.Outline
                styleColor: "#cc000000"
                font.pixelSize: overlay.fontPixelSize
                font.bold: true
            }
            NumberAnimation {
                id: anim
                target: item
                property: "x"
                onFinished: {
                    if (item.busy) {
                        item.busy = false
                        overlay.released(item)
                        overlay.drain()
                    }
                }
            }
        }
    }
}
