"""The treatment screen's set-point lines: each depth and rate shows what was asked, what the
governor allowed and the limit that bound it (read from the Decision's typed fields)."""

from __future__ import annotations

from rich.text import Text

from driver.session import Decision, Outcome

from .. import format as fmt

__all__ = ["decision_text"]


def decision_text(asked: float | None, d: Decision | None, unit: str, step: int | None) -> Text:
    """What was asked, what the governor allowed and the limit that bound it."""
    if asked is None:
        return Text("not set", style="dim")
    shown = fmt.mm(asked, step) if unit == "mm" else fmt.hz(asked)
    text = Text(f"asked {shown} → ")
    if d is None:
        text.append("waiting for the governor…", style="dim")
        return text
    if d.outcome in (Outcome.ALLOWED, Outcome.CLAMPED):
        value = fmt.mm(d.depth_mm, step) if unit == "mm" else fmt.hz(d.rate_hz)
        style = "bold green" if d.outcome is Outcome.ALLOWED else "bold yellow"
        text.append(f"allowed {value}", style=style)
        if d.outcome is Outcome.CLAMPED:
            text.append(f" (clamped by {fmt.bound_by(d.bound_by)})", style="yellow")
        elif unit == "mm" and d.depth_mm is not None and d.depth_mm < asked - 1e-9:
            above_cap = d.cap_mm is not None and asked > d.cap_mm + 1e-9
            why = "brought down for this zone" if above_cap else "rounded to the pen's step"
            text.append(f" ({why})", style="yellow")
        if d.override_reason and unit == "mm":
            text.append(f"  override: {d.override_reason}", style="yellow")
        if unit == "mm" and d.cap_mm is not None:
            text.append(f"  cap {fmt.mm(d.cap_mm, step)}", style="dim")
    elif d.outcome is Outcome.NEEDS_OVERRIDE:
        text.append("needs a recorded reason", style="bold yellow")
        text.append(f" ({fmt.bound_by(d.bound_by)})", style="yellow")
    else:
        text.append("refused: " + " ".join(d.reasons), style="bold red")
    return text
