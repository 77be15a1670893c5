"""Step 1: choose the pen (a serial port, the built-in simulator or a typed URL) and connect."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from .base import StepHost, StepScreen

SIMULATORS = (
    ("sim://", "Built-in simulator: professional pen"),
    ("sim://?device_class=home", "Built-in simulator: home pen"),
)


def list_serial_ports() -> list[tuple[str, str]]:
    """(device, description) of this machine's serial ports; none if they cannot be listed."""
    try:
        from serial.tools import list_ports

        ports = sorted(list_ports.comports(), key=lambda p: p.device)
    except Exception:
        return []
    return [(p.device, p.description or "serial port") for p in ports]


class ConnectScreen(StepScreen):
    STEP = "Connect"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("f5", "rescan", "Rescan ports")]

    def __init__(self, host: StepHost, auto_connect: str | None = None) -> None:
        super().__init__(host)
        self.auto_connect = auto_connect
        self.connecting = False

    def compose(self) -> ComposeResult:
        yield self.top_bar()
        with Vertical(id="connect-body", classes="step-body"):
            yield Static(
                "Choose the pen: Up/Down and Enter, or type a port or URL below.",
                classes="step-help",
            )
            yield OptionList(id="ports")
            with Horizontal(classes="row"):
                yield Input(
                    placeholder="or a device path or URL: /dev/ttyUSB0, socket://host:port, sim://",
                    id="url",
                )
                yield Button("Connect", id="connect", variant="primary")
            yield Static("", id="connect-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.fill_ports()
        ports = self.query_one("#ports", OptionList)
        ports.focus()
        if self.auto_connect:
            self.start_connect(self.auto_connect)

    def fill_ports(self) -> None:
        ports = self.query_one("#ports", OptionList)
        ports.clear_options()
        for url, label in SIMULATORS:
            ports.add_option(Option(Text.assemble((f"{url:<28}", "bold"), label), id=url))
        for device, description in list_serial_ports():
            ports.add_option(
                Option(Text.assemble((f"{device:<28}", "bold"), description), id=device)
            )
        ports.highlighted = 0

    def action_rescan(self) -> None:
        self.fill_ports()

    def set_status(self, text: str, level: str = "info") -> None:
        status = self.query_one("#connect-status", Static)
        status.update(text)
        status.set_class(level == "error", "-error")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.start_connect(event.option.id)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.start_connect(event.value.strip())

    @on(Button.Pressed, "#connect")
    def connect_pressed(self) -> None:
        url = self.query_one("#url", Input).value.strip()
        if not url:
            ports = self.query_one("#ports", OptionList)
            option = ports.highlighted_option
            url = option.id if option is not None and option.id else ""
        self.start_connect(url)

    def start_connect(self, url: str) -> None:
        if self.connecting:
            return
        if not url:
            self.set_status("Choose a pen in the list or type its port or URL.", "error")
            return
        self.connecting = True
        self.set_status(f"Connecting to {url}…")

        def failed(exc: BaseException) -> None:
            self.connecting = False
            self.set_status(str(exc), "error")
            self.host.model.log("error", str(exc))

        self.host.connect(url, on_error=failed)
