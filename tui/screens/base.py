"""What every step screen shares: the top bar (E-STOP and banner) and the footer, refreshed
from the model by the app's timer."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

from ..model import Snapshot
from ..widgets.topbar import TopBar

if TYPE_CHECKING:
    from ..app import NeedlepenApp


class StepScreen(Screen[None]):
    STEP = ""

    @property
    def napp(self) -> NeedlepenApp:
        return cast("NeedlepenApp", self.app)

    @property
    def step_um(self) -> int | None:
        """The connected pen's depth step (depths are shown with its precision)."""
        pen = self.napp.pen
        return pen.info.depth_step_um if pen is not None else None

    def top_bar(self) -> TopBar:
        return TopBar(self.STEP)

    def refresh_view(self, snap: Snapshot) -> None:
        """Called by the app's timer (20 times a second) while this screen is shown."""
        bars = self.query(TopBar)
        if not bars:
            return
        bar = bars.first()
        bar.set_context(self.napp.context_line())
        bar.show_alarms(snap.banners() if self.napp.pen is not None else [])
