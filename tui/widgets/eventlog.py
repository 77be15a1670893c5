"""The event log: clamps, overrides, faults, e-stops and the pen's events, newest at the end."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from .. import format as fmt
from ..model import LogEntry

STYLES = {"info": "", "warn": "yellow", "error": "bold red"}


class EventLog(RichLog):
    def __init__(self) -> None:
        super().__init__(id="eventlog", max_lines=500, wrap=True, markup=False, min_width=40)
        self.last_seq = 0
        self.lines_text: list[str] = []

    def add(self, entries: list[LogEntry]) -> None:
        for e in entries:
            if e.seq <= self.last_seq:
                continue
            self.last_seq = e.seq
            line = Text(fmt.clock(e.ts) + "  ", style="dim")
            line.append(e.text, style=STYLES.get(e.level, ""))
            self.lines_text.append(e.text)
            del self.lines_text[:-500]
            self.write(line)
