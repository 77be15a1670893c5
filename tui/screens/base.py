"""What every step screen shares: the top bar (E-STOP and banner) and the footer, refreshed
from the model by the app's timer, and `StepHost`, the small protocol of what a screen needs
from the app. Screens are given their host when they are made; none imports tui/app.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from textual.screen import Screen

from driver.session import Pen, Workstation

from ..commands import Job
from ..flow import Flow
from ..model import PenModel, Snapshot
from ..widgets.topbar import TopBar

if TYPE_CHECKING:
    from driver.session import Policy


class StepHost(Protocol):
    """What a step screen asks of the app (tui/app.py's NeedlepenApp is the one host)."""

    flow: Flow
    model: PenModel
    workstation: Workstation
    clock: Callable[[], float]

    @property
    def pen(self) -> Pen | None: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def effective_role(self) -> str | None: ...

    def run_command(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        coalesce: str | None = None,
        urgent: bool = False,
    ) -> Job: ...

    def commands_busy(self) -> bool: ...

    def show_error(self, text: str) -> None: ...

    def context_line(self) -> str: ...

    def advance(self) -> None: ...

    def connect(self, url: str, on_error: Callable[[BaseException], None]) -> None: ...

    def check_operator(self) -> None: ...

    def another_pen(self, reason: str) -> None: ...

    def back_to_operator(self) -> None: ...

    def end_session(self, reason: str = ...) -> None: ...

    def restart_after_loss(self) -> None: ...

    def new_session(self) -> None: ...


class StepScreen(Screen[None]):
    STEP = ""

    def __init__(self, host: StepHost) -> None:
        super().__init__()
        self.host = host

    @property
    def step_um(self) -> int | None:
        """The connected pen's depth step (depths are shown with its precision)."""
        pen = self.host.pen
        return pen.info.depth_step_um if pen is not None else None

    def top_bar(self) -> TopBar:
        return TopBar(self.STEP)

    def refresh_view(self, snap: Snapshot) -> None:
        """Called by the app's timer (20 times a second) while this screen is shown."""
        bars = self.query(TopBar)
        if not bars:
            return
        bar = bars.first()
        bar.set_context(self.host.context_line())
        bar.show_alarms(snap.banners() if self.host.pen is not None else [])
