// SPDX-License-Identifier: MIT
#pragma once
/// Umbrella header of livecomments::core.
#include "livecomments/backoff.h"
#include "livecomments/client.h"
#include "livecomments/comment.h"
#include "livecomments/error.h"
#include "livecomments/event_source.h"
#include "livecomments/outbox.h"
#include "livecomments/result.h"
#include "livecomments/sse_parser.h"
#include "livecomments/stream_state.h"
#include "livecomments/subscription.h"
#include "livecomments/timeline.h"
