"""Live telemetry: the pen's state and readings, time and stamps per zone, and two plots."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from .. import format as fmt
from ..model import Snapshot


def telemetry_table(snap: Snapshot, zone: str | None) -> Table:
    st = snap.status
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    if st is None:
        grid.add_row("State", Text("waiting for the pen…", style="dim"))
        return grid
    grid.add_row("State", Text(f" {st.state.name} ", style=fmt.STATE_STYLE.get(st.state, "")))
    grid.add_row(
        "Depth",
        f"set {fmt.um_as_mm(st.depth_set_um)}   actual {fmt.um_as_mm(st.depth_actual_um)}",
    )
    grid.add_row("Rate", f"set {st.rate_set_hz} Hz   actual {st.rate_actual_hz} Hz")
    grid.add_row("Stamps", f"{st.stamps:,}")
    grid.add_row("Motor", f"{st.motor_ma} mA")
    grid.add_row("Temp", fmt.temperature(st.temp_dc))
    battery = Text(f"{st.battery_pct} %", style="bold red" if st.battery_pct < 15 else "")
    grid.add_row("Battery", battery)
    cart = fmt.CARTRIDGE_WORDS.get(st.cartridge_state, st.cartridge_state.name)
    cart_id = f"{st.cartridge_id:08x} " if st.cartridge_id else ""
    grid.add_row(
        "Cartridge",
        Text(cart_id + cart, style="bold red" if "SPENT" in cart else ""),
    )
    names = sorted(set(snap.run_ms_by_zone) | set(snap.stamps_by_zone))
    if names:
        for name in names:
            mark = "▶ " if name == zone else "  "
            grid.add_row(
                mark + name,
                f"{fmt.duration(snap.run_ms_by_zone.get(name, 0.0) / 1000)}   "
                f"{snap.stamps_by_zone.get(name, 0):,} stamps",
            )
    else:
        grid.add_row("Per zone", Text("nothing treated yet", style="dim"))
    return grid


class Telemetry(Vertical):
    """Readings at the top, the depth and rate plots under them."""

    def compose(self) -> ComposeResult:
        yield Static("", id="readings")
        yield Static("Depth (actual, last minute)", classes="plot-label", id="depth-label")
        yield Sparkline([], id="depth-plot")
        yield Static("Rate (actual, last minute)", classes="plot-label", id="rate-label")
        yield Sparkline([], id="rate-plot")

    def show(self, snap: Snapshot, zone: str | None) -> None:
        self.query_one("#readings", Static).update(telemetry_table(snap, zone))
        depth = list(snap.depth_history)
        rate = list(snap.rate_history)
        self.query_one("#depth-plot", Sparkline).data = depth
        self.query_one("#rate-plot", Sparkline).data = rate
        if depth:
            self.query_one("#depth-label", Static).update(
                f"Depth (actual, last minute)  {min(depth):.2f}–{max(depth):.2f} mm"
            )
        if rate:
            self.query_one("#rate-label", Static).update(
                f"Rate (actual, last minute)  {min(rate):.0f}–{max(rate):.0f} Hz"
            )
