"""A map of the face and body drawn in the terminal, with the current zone lit up.

Zones the current role may treat are drawn in bold, the others dimmed and struck through, the
current one in reverse video. Zones with no place on the drawing (acne scars, stretch marks,
the bench) are listed under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

# The drawing as it appears; each label in it is lit according to its zone.
DRAWING = (
    "          .-'''''''''''-.\n"
    "        .'     scalp     '.\n"
    "       /     forehead      \\\n"
    "      |    eyes     eyes    |\n"
    "      |        nose         |\n"
    "      |  cheeks     cheeks  |\n"
    "       \\     upper lip     /\n"
    "        \\    chin/jaw     /\n"
    "         '-.___________.-'\n"
    "              | neck |\n"
    "       _______|      |_______\n"
    "      /     décolletage      \\\n"
    "    hands                   hands"
)
LABELS = {
    "scalp": "scalp",
    "forehead": "forehead",
    "eyes": "periorbital",
    "nose": "nose",
    "cheeks": "cheeks",
    "upper lip": "upper_lip",
    "chin/jaw": "chin_jawline",
    "neck": "neck",
    "décolletage": "decolletage",
    "hands": "hands",
}
OFF_MAP = (
    ("acne_scars", "acne scars"),
    ("stretch_marks", "stretch marks"),
    ("bench", "bench"),
)
_LABEL_RE = re.compile("|".join(re.escape(k) for k in sorted(LABELS, key=len, reverse=True)))


def render_map(current: str | None, allowed: Iterable[str]) -> Text:
    """The drawing as styled text."""
    ok = set(allowed)

    def style(zone: str) -> str:
        if zone == current:
            return "reverse bold"
        return "bold" if zone in ok else "dim strike"

    out = Text()
    for line in DRAWING.splitlines():
        pos = 0
        for m in _LABEL_RE.finditer(line):
            out.append(line[pos : m.start()], style="cyan")
            out.append(m.group(0), style=style(LABELS[m.group(0)]))
            pos = m.end()
        out.append(line[pos:] + "\n", style="cyan")
    out.append("\n  also: ")
    for i, (zone, label) in enumerate(OFF_MAP):
        if i:
            out.append(" · ")
        out.append(label, style=style(zone))
    return out


class FaceMap(Static):
    def __init__(self) -> None:
        super().__init__("", id="facemap")
        self._key: tuple[str | None, frozenset[str]] | None = None

    def show(self, current: str | None, allowed: Iterable[str]) -> None:
        key = (current, frozenset(allowed))
        if key != self._key:
            self._key = key
            self.update(render_map(current, key[1]))
