// SPDX-License-Identifier: MIT
// Chat: newest-first model in a BottomToTop ListView (the newest row sits at the bottom and
// "follow the live edge" is the view's natural resting position). Auto-follow pauses when the
// reader scrolls up; a "N new comments" button jumps back. Older pages load as the reader nears
// the top, appended at the model's end (= the top), so nothing the reader looks at moves.
// The user's own posts are rows at once: greyed "sending…" until the server stores them (then
// the same row shows the stored comment), or "Not sent: reason" with Retry / Discard.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LiveComments

Rectangle {
    id: panel
    required property LiveSession session
    required property var palette_
    readonly property alias view: list
    readonly property bool composerFocused: composer.inputFocused
    property bool following: true
    property int newCount: 0

    color: palette_.panel

    function focusComposer() { composer.focusInput() }
    function jumpToNewest() {
        following = true
        newCount = 0
        list.positionViewAtBeginning()
    }
    // Deferred by onLiveInserted so the view has laid the new rows out first. The reader may
    // scroll away before it runs, so "following" is asked again then: a deferred jump taken on
    // the earlier answer threw a reader who had just scrolled up back to the newest rows.
    function followNewest() {
        if (panel.following)
            list.positionViewAtBeginning()
    }
    function distanceFromNewest() {
        return list.originY + list.contentHeight - list.contentY - list.height
    }
    function maybeLoadOlder() {
        if (list.count === 0)
            return
        // The oldest rows are at the top. The core Timeline prefetches the next older page when
        // the reader's oldest visible row gets within its prefetch distance (cached pages first);
        // loadOlder() covers the very top (QML's fetchMore only fires at the last row).
        var top = list.indexAt(list.width / 2, list.contentY + 4)
        if (top >= 0)
            session.setReaderRow(top)
        if (session.loadingOlder || session.atBeginning)
            return
        // top < 0: not laid out yet, or the footer is under the point; atYBeginning covers the top.
        if (list.atYBeginning || (top >= 0 && top >= list.count - 15))
            session.loadOlder()
    }

    Binding { target: panel.session.comments; property: "autoTrim"; value: panel.following }

    Connections {
        target: panel.session.comments
        function onLiveInserted(rows) {
            if (panel.following)
                Qt.callLater(panel.followNewest)
            else
                panel.newCount += rows
        }
        function onModelReset() { panel.newCount = 0; panel.following = true }
        // Row 0 is the newest row: an own post (pending) lands there without a liveInserted.
        function onRowsInserted(parent, first, last) {
            if (first === 0 && panel.following)
                Qt.callLater(panel.followNewest)
        }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        Text {
            Layout.fillWidth: true
            Layout.margins: 12
            text: "Live chat"
            color: panel.palette_.text
            font.pixelSize: 15
            font.bold: true
        }
        Rectangle { Layout.fillWidth: true; height: 1; color: panel.palette_.border }

        Item {
            Layout.fillWidth: true
            Layout.fillHeight: true

            ListView {
                id: list
                objectName: "chatView"
                anchors.fill: parent
                anchors.leftMargin: 4
                anchors.rightMargin: 4
                model: panel.session.comments
                verticalLayoutDirection: ListView.BottomToTop
                reuseItems: true
                clip: true // rows must not slide under the panel title
                cacheBuffer: 600
                boundsBehavior: Flickable.StopAtBounds
                ScrollBar.vertical: ScrollBar { policy: ScrollBar.AsNeeded }

                onContentYChanged: {
                    panel.following = panel.distanceFromNewest() < 12
                    if (panel.following)
                        panel.newCount = 0
                    panel.maybeLoadOlder()
                }
                onCountChanged: if (panel.session.historyLoaded) panel.maybeLoadOlder()

                delegate: Item {
                    id: row
                    required property string commentId
                    required property string userName
                    required property string text
                    required property bool own
                    required property bool gapBefore
                    // The user's own post before the server has it ("sending…"), or rejected
                    // for good (reason, Retry, Discard). Once stored the row becomes the stored
                    // comment in place: same delegate, no jump.
                    required property bool pending
                    required property bool failed
                    required property string localId
                    required property string error
                    required property string role
                    required property string userId
                    // STREAMER only for the streamer of THIS video (a streamer token on someone
                    // else's video is an ordinary viewer there, as the server's shaping treats
                    // it); MOD for a moderator's comment.
                    readonly property string badge: (userId.length > 0
                                                     && userId === panel.session.streamerId)
                                                    ? "STREAMER"
                                                    : role === "moderator" ? "MOD" : ""
                    readonly property string nameText: row.userName.length ? row.userName
                                                                           : "You"
                    objectName: pending ? "pendingRow" : failed ? "failedRow" : "chatRow"
                    width: ListView.view.width
                    height: column.implicitHeight + 6

                    Column {
                        id: column
                        x: 8
                        y: 3
                        width: row.width - 16
                        spacing: 4
                        Text {
                            visible: row.gapBefore
                            width: parent.width
                            horizontalAlignment: Text.AlignHCenter
                            text: "— there may be a gap in the history here —"
                            color: panel.palette_.warn
                            font.pixelSize: 11
                            font.italic: true
                        }
                        Rectangle {
                            width: parent.width
                            height: body.implicitHeight + 8
                            radius: 6
                            color: row.own ? panel.palette_.ownBubble : "transparent"
                            border.width: row.failed ? 1 : 0
                            border.color: panel.palette_.live
                            opacity: row.pending ? 0.55 : 1
                            // Moderator / streamer badge, left of the name.
                            Rectangle {
                                id: badge
                                objectName: "roleBadge"
                                visible: row.badge.length > 0
                                x: 6
                                y: 5
                                width: visible ? badgeText.implicitWidth + 8 : 0
                                height: badgeText.implicitHeight + 2
                                radius: 3
                                color: row.badge === "STREAMER" ? panel.palette_.live
                                                               : panel.palette_.ok
                                Text {
                                    id: badgeText
                                    anchors.centerIn: parent
                                    text: row.badge
                                    textFormat: Text.PlainText
                                    color: "white"
                                    font.pixelSize: 9
                                    font.bold: true
                                }
                            }
                            Text {
                                id: body
                                x: 6 + (badge.visible ? badge.width + 4 : 0)
                                y: 4
                                width: parent.width - 12 - (badge.visible ? badge.width + 4 : 0)
                                wrapMode: Text.Wrap
                                textFormat: Text.PlainText
                                color: panel.palette_.text
                                font.pixelSize: 14
                                // Name and text in one plain-text run: no markup interpretation.
                                text: row.nameText + (row.own && !row.pending && !row.failed ? " ✓" : "")
                                      + "  " + row.text
                            }
                            // Colour the name part by drawing it again over itself.
                            Text {
                                x: body.x
                                y: 4
                                textFormat: Text.PlainText
                                font.pixelSize: 14
                                font.bold: true
                                color: row.own ? panel.palette_.accent : panel.palette_.nameColor(row.userName)
                                text: row.nameText + (row.own && !row.pending && !row.failed ? " ✓" : "")
                                Rectangle { anchors.fill: parent; z: -1; color: row.own ? panel.palette_.ownBubble : panel.palette_.panel }
                            }
                        }
                        Text {
                            objectName: "pendingLabel"
                            visible: row.pending
                            text: "sending…"
                            color: panel.palette_.subtext
                            font.pixelSize: 11
                            font.italic: true
                        }
                        RowLayout {
                            visible: row.failed
                            width: parent.width
                            spacing: 6
                            Text {
                                objectName: "failedReason"
                                Layout.fillWidth: true
                                elide: Text.ElideRight
                                textFormat: Text.PlainText
                                font.pixelSize: 11
                                color: panel.palette_.live
                                text: "Not sent" + (row.error.length ? ": " + row.error : "")
                            }
                            ToolButton {
                                objectName: "retryButton"
                                text: "Retry"
                                font.pixelSize: 11
                                onClicked: panel.session.retry(row.localId)
                            }
                            ToolButton {
                                objectName: "discardButton"
                                text: "Discard"
                                font.pixelSize: 11
                                onClicked: panel.session.dismiss(row.localId)
                            }
                        }
                    }
                }

                // At the top (BottomToTop puts the footer above the oldest row). Its height never
                // changes, so skeletons appearing and going away cannot shift the rows.
                footer: Item {
                    width: ListView.view ? ListView.view.width : 0
                    height: 84
                    Column {
                        anchors.fill: parent
                        anchors.topMargin: 8
                        spacing: 8
                        visible: panel.session.loadingOlder
                        Repeater {
                            model: 3
                            Rectangle { // skeleton row
                                required property int index
                                x: 8
                                width: (parent ? parent.width - 16 : 0) * (0.9 - index * 0.2)
                                height: 14
                                radius: 7
                                color: panel.palette_.skeleton
                                SequentialAnimation on opacity {
                                    running: panel.session.loadingOlder
                                    loops: Animation.Infinite
                                    NumberAnimation { to: 0.4; duration: 600 }
                                    NumberAnimation { to: 1; duration: 600 }
                                }
                            }
                        }
                    }
                    Text {
                        anchors.bottom: parent.bottom
                        anchors.bottomMargin: 8
                        visible: panel.session.atBeginning && !panel.session.loadingOlder
                        width: parent.width
                        horizontalAlignment: Text.AlignHCenter
                        text: "Beginning of the chat"
                        color: panel.palette_.subtext
                        font.pixelSize: 11
                    }
                }
            }

            Text {
                anchors.centerIn: parent
                visible: list.count === 0 && panel.session.historyLoaded
                text: "No comments yet — say hi!"
                color: panel.palette_.subtext
            }

            // Periodic prefetch check while the reader stays near the top.
            Timer {
                interval: 400
                repeat: true
                running: !panel.following && !panel.session.atBeginning
                onTriggered: panel.maybeLoadOlder()
            }

            Button {
                id: jump
                objectName: "jumpButton"
                anchors.horizontalCenter: parent.horizontalCenter
                anchors.bottom: parent.bottom
                anchors.bottomMargin: 10
                visible: !panel.following
                text: panel.newCount > 0 ? "↓ " + panel.newCount + " new comment" + (panel.newCount === 1 ? "" : "s")
                                         : "↓ Back to live"
                onClicked: panel.jumpToNewest()
                palette.button: panel.palette_.accent
                palette.buttonText: "white"
            }
        }

        Rectangle { Layout.fillWidth: true; height: 1; color: panel.palette_.border }

        Composer {
            id: composer
            Layout.fillWidth: true
            session: panel.session
            palette_: panel.palette_
            // Posting shows the post: back to the newest rows, where its pending row is.
            onPosted: panel.jumpToNewest()
        }
    }
}
