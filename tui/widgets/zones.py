"""The list of treatment zones with the depth limits that apply to the current role."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from .. import format as fmt

#: The zone column's width: the longest zone name as people say it ("chin and jawline").
ZONE_WIDTH = 17


def zone_prompt(
    zone: str, cap: float | None, hard: float | None, current: bool, step_um: int | None = None
) -> Text:
    text = Text("▶ " if current else "  ", style="bold")
    text.append(f"{fmt.zone(zone):<{ZONE_WIDTH}}", style="bold" if current else "")
    if cap is None:
        text.append("none", style="dim")
    else:
        text.append(fmt.mm_number(cap, step_um), style="green")
        if hard is not None and hard > cap:
            text.append(f"  {fmt.mm_number(hard, step_um)}", style="yellow")
    return text


class ZoneList(OptionList):
    """Up and down to move, Enter to choose. Each row: zone, the cap without a reason and,
    for a clinician, the hard max reachable with a recorded reason."""

    def __init__(self) -> None:
        super().__init__(id="zones")
        self.limits: dict[str, tuple[float | None, float | None]] = {}
        self.current: str | None = None
        self.step_um: int | None = None

    def set_zones(
        self, limits: dict[str, tuple[float | None, float | None]], step_um: int | None = None
    ) -> None:
        self.limits = dict(limits)
        self.step_um = step_um
        self.clear_options()
        self.add_options(
            Option(zone_prompt(z, cap, hard, z == self.current, self.step_um), id=z)
            for z, (cap, hard) in self.limits.items()
        )
        if self.limits:
            self.highlighted = 0

    def set_current(self, zone: str | None) -> None:
        if zone == self.current:
            return
        old, self.current = self.current, zone
        for z in (old, zone):
            if z is not None and z in self.limits:
                cap, hard = self.limits[z]
                self.replace_option_prompt(z, zone_prompt(z, cap, hard, z == zone, self.step_um))
        if zone is not None and zone in self.limits:
            self.highlighted = self.get_option_index(zone)
