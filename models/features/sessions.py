"""Sessions: which session an event belongs to, and the session figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.features.state import UserState


def fold_session(
    state: UserState, ts_ms: int, session_id: str | None, gap_ms: int
) -> tuple[bool, bool]:
    """Place the event in a session; return (in the current session, new session).

    A session id in the event wins; without one, a gap longer than the session gap
    starts a new session. A late event that belongs to an earlier session counts as
    an event but changes no session figure.
    """
    if state.sessions == 0:
        new, earlier = True, False
    elif session_id is not None:
        new = session_id != state.session_id and ts_ms >= state.session_start_ms
        earlier = session_id != state.session_id and not new
    else:
        new = ts_ms - state.last_ts_ms > gap_ms
        earlier = ts_ms < state.session_start_ms - gap_ms
    if earlier:
        return False, False

    if new:
        if state.sessions:
            state.session_total_ms += state.session_last_ms - state.session_start_ms
        state.sessions += 1
        state.session_id = session_id
        state.session_start_ms = state.session_last_ms = ts_ms
        state.session_events = 0
        state.session_bought = False
        state.scored_session_end = False
    elif ts_ms < state.session_start_ms:
        state.session_start_ms = ts_ms
    elif ts_ms > state.session_last_ms:
        state.session_last_ms = ts_ms
    state.session_events += 1
    return True, new
