"""A visit interrupted by the machine goes on: a session may continue one that a lost link, a
pen reboot or the pen's watchdog ended, and the interval rule does not count it as the last
session (it is the same visit). Both backends: JSON fields are read through the backend."""

from __future__ import annotations

from collections.abc import Callable

from driver.audit.backend import Conn
from driver.audit.values import CONTINUE_WITHIN_SECONDS, Interruption
from driver.errors import CannotContinue


def check_continues(
    conn: Conn,
    json_text: Callable[[str], str],
    previous: int,
    role: str,
    operator_id: str | None,
    client: str | None,
    ts_us: int,
) -> None:
    """Raise CannotContinue unless a new session may continue session `previous`: it ended by
    an interruption at most CONTINUE_WITHIN_SECONDS ago, for the same client, with the same
    operator or another of its role, and was not continued already."""
    row = conn.execute(
        "SELECT role, operator_id, client_ref, ended_us FROM sessions WHERE id = ?",
        (previous,),
    ).fetchone()
    if row is None:
        raise CannotContinue(f"There is no session {previous} to continue.")
    if row["ended_us"] is None:
        raise CannotContinue(
            f"Session {previous} has not ended; only an interrupted session is continued."
        )
    closed = conn.execute(
        f"SELECT {json_text('interrupted')} AS how FROM log "
        "WHERE session_id = ? AND kind = 'session_closed'",
        (previous,),
    ).fetchone()
    if closed is None or closed["how"] not in {i.value for i in Interruption}:
        raise CannotContinue(
            f"Session {previous} was ended by the operator, not by an interruption; "
            "start a new session instead."
        )
    if row["client_ref"] != client:
        raise CannotContinue(f"Session {previous} was another client's; start a new session.")
    if row["operator_id"] != operator_id and row["role"] != role:
        raise CannotContinue(
            f"Session {previous} was run by a {row['role']}: only its operator or another "
            f"{row['role']} may continue it."
        )
    if ts_us - int(row["ended_us"]) > CONTINUE_WITHIN_SECONDS * 1_000_000:
        raise CannotContinue(
            f"Session {previous} ended more than {CONTINUE_WITHIN_SECONDS // 3600} hours "
            "ago; start a new session instead."
        )
    if conn.execute(
        "SELECT 1 AS hit FROM log WHERE session_id > ? AND kind = 'session_opened' "
        f"AND CAST({json_text('continues')} AS INTEGER) = ? LIMIT 1",
        (previous, previous),
    ).fetchone():
        raise CannotContinue(f"Session {previous} has been continued already.")


def visit_chain(json_text: Callable[[str], str]) -> str:
    """A `WITH RECURSIVE chain(sid)` clause (one parameter: the session) holding the session
    and, link by link, the interrupted sessions it continues (each link was checked when it was
    opened): all one visit, never each other's "last session"."""
    continues = f"CAST({json_text('continues')} AS INTEGER)"
    return (
        "WITH RECURSIVE chain(sid) AS (SELECT CAST(? AS INTEGER) UNION SELECT "
        + continues.replace("data", "l.data")
        + " FROM log l JOIN chain ON l.session_id = chain.sid "
        "WHERE l.kind = 'session_opened' AND "
        + continues.replace("data", "l.data")
        + " IS NOT NULL) "
    )
