// SPDX-License-Identifier: MIT
// Composer: Enter sends; the post is a chat row at once (pending, then stored, or failed with
// Retry / Discard: ChatPanel); a 429 shows a countdown; a 500-character counter.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import LiveComments

Rectangle {
    id: composer
    required property LiveSession session
    required property var palette_
    readonly property bool inputFocused: input.activeFocus
    readonly property int length: input.text.trim().length
    readonly property bool canSend: length > 0 && length <= session.maxLength
                                    && session.rateLimitedFor === 0 && !session.ended
                                    && session.token.length > 0

    signal posted()

    function focusInput() { input.forceActiveFocus() }
    function send() {
        if (!canSend)
            return
        if (session.post(input.text).length > 0) {
            input.clear()
            composer.posted()
        }
    }

    implicitHeight: column.implicitHeight + 20
    color: palette_.panelAlt

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 10
        spacing: 6

        RowLayout {
            Layout.fillWidth: true
            spacing: 8
            TextField {
                id: input
                objectName: "composerInput"
                Layout.fillWidth: true
                placeholderText: composer.session.ended ? "The live has ended"
                               : composer.session.rateLimitedFor > 0 ? "Slow down — " + composer.session.rateLimitedFor + "s"
                               : "Say something…  (Enter to send)"
                enabled: !composer.session.ended
                color: composer.palette_.text
                placeholderTextColor: composer.palette_.subtext
                maximumLength: composer.session.maxLength + 50
                selectByMouse: true
                background: Rectangle {
                    radius: 6
                    color: composer.palette_.panel
                    border.color: input.activeFocus ? composer.palette_.accent : composer.palette_.border
                }
                onAccepted: composer.send()
                Keys.onEscapePressed: input.focus = false
            }
            Button {
                objectName: "sendButton"
                text: composer.session.rateLimitedFor > 0 ? composer.session.rateLimitedFor + "s" : "Send"
                enabled: composer.canSend
                onClicked: composer.send()
            }
        }
        Text {
            Layout.alignment: Qt.AlignRight
            text: composer.length + " / " + composer.session.maxLength
            font.pixelSize: 11
            color: composer.length > composer.session.maxLength ? composer.palette_.live : composer.palette_.subtext
        }
    }
}
