"""Live telemetry: the pen's state and readings, time and stamps per zone, and two plots."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from protocol import CartridgeState

from .. import format as fmt
from ..model import Snapshot


def _row(out: Text, label: str, value: str | Text) -> None:
    if out:
        out.append("\n")
    out.append(f"{label:<11}", style="dim")
    out.append_text(value if isinstance(value, Text) else Text(value))


def telemetry_text(snap: Snapshot, zone: str | None, step_um: int | None = None) -> Text:
    """The readings as plain styled lines (cheap to redraw 20 times a second)."""
    st = snap.status
    out = Text()
    gone = snap.link_lost or snap.rebooted
    if gone:
        # the last STATUS is history, not the pen's present state: never show it as live
        _row(out, "State", Text(" UNKNOWN ", style="bold reverse red"))
        why = "the link is lost" if snap.link_lost else "the pen rebooted"
        _row(out, "", Text(f"no live readings: {why}", style="dim"))
        return out
    if st is None:
        _row(out, "State", Text("waiting for the pen…", style="dim"))
        return out
    _row(out, "State", Text(f" {st.state.name} ", style=fmt.STATE_STYLE.get(st.state, "")))
    _row(
        out,
        "Depth",
        f"set {fmt.um_as_mm(st.depth_set_um, step_um)}   "
        f"actual {fmt.um_as_mm(st.depth_actual_um, step_um)}",
    )
    _row(out, "Rate", f"set {st.rate_set_hz} Hz   actual {st.rate_actual_hz} Hz")
    _row(out, "Stamps", f"{st.stamps:,}")
    _row(out, "Motor", f"{st.motor_ma} mA")
    _row(out, "Temp", fmt.temperature(st.temp_dc))
    _row(
        out, "Battery", Text(f"{st.battery_pct} %", style="bold red" if st.battery_pct < 15 else "")
    )
    cart = fmt.CARTRIDGE_WORDS.get(st.cartridge_state, st.cartridge_state.name)
    cart_id = f"{st.cartridge_id:08x} " if st.cartridge_id else ""
    spent = st.cartridge_state is CartridgeState.SPENT
    _row(out, "Cartridge", Text(cart_id + cart, style="bold red" if spent else ""))
    names = sorted(set(snap.run_ms_by_zone) | set(snap.stamps_by_zone))
    if not names:
        _row(out, "Per zone", Text("nothing treated yet", style="dim"))
    for name in names:
        mark = "▶" if name == zone else " "
        _row(
            out,
            f"{mark}{fmt.zone(name)}"[:11],
            f"{fmt.duration(snap.run_ms_by_zone.get(name, 0.0) / 1000)}   "
            f"{snap.stamps_by_zone.get(name, 0):,} stamps",
        )
    return out


class Telemetry(Vertical):
    """Readings at the top, the depth and rate plots under them."""

    def compose(self) -> ComposeResult:
        yield Static("", id="readings")
        yield Static("Depth (actual, last minute)", classes="plot-label", id="depth-label")
        yield Sparkline([], id="depth-plot")
        yield Static("Rate (actual, last minute)", classes="plot-label", id="rate-label")
        yield Sparkline([], id="rate-plot")

    _rows = -1

    def show(self, snap: Snapshot, zone: str | None, step_um: int | None = None) -> None:
        table = telemetry_text(snap, zone, step_um)
        rows = len(table.plain.splitlines())
        # A new layout only when the table grows or shrinks: at 20 frames a second a layout
        # of the whole screen per frame would cost more than everything else together.
        self.query_one("#readings", Static).update(table, layout=rows != self._rows)
        self._rows = rows
        depth = list(snap.depth_history)
        rate = list(snap.rate_history)
        self.query_one("#depth-plot", Sparkline).data = depth
        self.query_one("#rate-plot", Sparkline).data = rate
        if depth:
            self.query_one("#depth-label", Static).update(
                f"Depth (actual, last minute)  {fmt.mm_number(min(depth), step_um)}–"
                f"{fmt.mm(max(depth), step_um)}",
                layout=False,
            )
        if rate:
            self.query_one("#rate-label", Static).update(
                f"Rate (actual, last minute)  {min(rate):.0f}–{max(rate):.0f} Hz", layout=False
            )
