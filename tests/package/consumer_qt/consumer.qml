// SPDX-License-Identifier: MIT
// Opens a live session and posts `expected` once the stream is live; main.cpp waits for the
// comment to show up in session.comments.
import LiveComments

LiveSession {
    property string expected
    property bool posted: false

    onStateChanged: {
        if (state === LiveSession.Live && !posted) {
            posted = true;
            post(expected);
        }
    }
}
