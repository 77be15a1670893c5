"""docs/PROTOCOL.md's example frames can never drift from the code.

1. The generated block in the document is exactly what protocol.examples renders.
2. Every frame line in the document, read back from the text, decodes with the reference
   decoder (written from the ICD, sharing no code with protocol/) to the type, seq and fields
   its heading states, and the 14 types are all there.
3. The frames a receiver must drop or NACK are dropped and counted as the document says.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest

from protocol import MESSAGE_TYPES, Decoder, Direction, DropReason, Frame
from protocol import examples as ex

from . import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"

HEADING = re.compile(
    r"^(?:Answer: )?\*\*(?P<name>[A-Z_]+)\*\* \(0x(?P<code>[0-9a-f]{2}), "
    r"(?P<arrow>host → pen|pen → host)\), seq (?P<seq>\d+): (?P<fields>.*?)\s*$"
)
BAD = re.compile(
    r"^\*\*(?P<title>[^*]+)\*\* \(received by the (?P<receiver>pen|host), "
    r"(?:counted as `(?P<reason>[a-z_]+)`|not counted)\): "
)
HEX = re.compile(r"^(?:[0-9a-f]{2} )*[0-9a-f]{2}$")


def document() -> str:
    return DOC.read_text(encoding="utf-8")


def block() -> str:
    text = document()
    start, stop = text.index(ex.BEGIN), text.index(ex.END)
    return text[start : stop + len(ex.END)] + "\n"


def hex_line(line: str, label: str) -> bytes:
    assert line.startswith(label + " ")
    text = line[len(label) :].strip()
    assert HEX.match(text), f"not space-separated lowercase hex: {text!r}"
    return bytes.fromhex(text)


def code_blocks(lines: list[str], start: int) -> list[str]:
    """The lines of the first ```text block at or after `start`."""
    i = lines.index("```text", start)
    j = lines.index("```", i + 1)
    return lines[i + 1 : j]


def fields_of(text: str) -> dict[str, int]:
    if text == "no payload":
        return {}
    return {
        m["name"]: int(m["value"]) for m in re.finditer(r"(?P<name>\w+)=(?P<value>-?\d+)", text)
    }


def decode_independently(frame: bytes) -> tuple[int, int, dict[str, int], bytes]:
    """(type, seq, fields, body) of one documented frame, by the ICD alone."""
    assert frame.endswith(b"\x00") and frame.count(0) == 1, "one 0x00, at the end"
    body = reference.cobs_decode(frame[:-1])
    assert body is not None and 8 <= len(body) <= 64
    assert zlib.crc32(body[:-4]) == int.from_bytes(body[-4:], "little")
    assert body[0] == 1
    type_code, seq = body[1], int.from_bytes(body[2:4], "little")
    names = [name for name, _ in reference.ICD[type_code][2]]
    values = struct.unpack(reference.layout(type_code), body[4:-4])
    return type_code, seq, dict(zip(names, values, strict=True)), body


def check_heading_against_frame(heading: re.Match[str], frame: bytes) -> tuple[int, int]:
    type_code, seq, fields, _ = decode_independently(frame)
    assert type_code == int(heading["code"], 16)
    name, receiver, _ = reference.ICD[type_code]
    assert name == heading["name"]
    assert heading["arrow"] == ("host → pen" if receiver == "pen" else "pen → host")
    assert seq == int(heading["seq"])
    assert fields == fields_of(heading["fields"])
    return type_code, seq


def test_document_block_equals_what_the_code_renders() -> None:
    assert block() == ex.render_markdown(), (
        "docs/PROTOCOL.md is out of date: run python -m protocol.examples --update docs/PROTOCOL.md"
    )


def test_every_documented_frame_decodes_as_its_heading_says() -> None:
    lines = block().splitlines()
    valid = lines[: lines.index("### Frames a receiver drops or NACKs")]
    seen: list[tuple[int, int]] = []
    for i, line in enumerate(valid):
        heading = HEADING.match(line)
        if heading is None:
            continue
        body_line, frame_line = code_blocks(valid, i)
        frame = hex_line(frame_line, "frame")
        seen.append(check_heading_against_frame(heading, frame))
        assert hex_line(body_line, "body") == decode_independently(frame)[3]
    assert {code for code, _ in seen} == set(reference.ICD) == set(MESSAGE_TYPES)
    assert len(seen) == len(ex.EXAMPLES)


def test_documented_frames_are_the_examples_and_our_decoder_agrees() -> None:
    lines = block().splitlines()
    frames = [hex_line(x, "frame") for x in lines if x.startswith("frame ")]
    for example, frame in zip(ex.EXAMPLES, frames, strict=False):
        assert frame == example.frame
        decoder = Decoder(example.message.DIRECTION)
        assert decoder.feed(frame) == [Frame(example.seq, example.message)]


def test_documented_bad_frames_are_dropped_as_documented() -> None:
    lines = block().splitlines()
    bad_part = lines[lines.index("### Frames a receiver drops or NACKs") :]
    checked = 0
    for i, line in enumerate(bad_part):
        bad = BAD.match(line)
        if bad is None:
            continue
        body = code_blocks(bad_part, i)
        frame = hex_line(body[0], "frame")
        receiver = Direction(bad["receiver"])
        decoder = Decoder(receiver)
        out = decoder.feed(frame)
        want_drops = Counter({bad["reason"]: 1}) if bad["reason"] else Counter()
        assert Counter({r.value: n for r, n in decoder.drops.items() if n}) == want_drops
        _, ref_drops = reference.decode_stream(frame, receiver.value)
        assert ref_drops == want_drops
        assert not any(isinstance(f, Frame) for f in out)
        if bad["reason"] in (DropReason.UNKNOWN_TYPE.value, DropReason.BAD_LENGTH.value):
            assert [f.seq for f in out] == [int.from_bytes(_body_of(frame)[2:4], "little")]
        if len(body) > 1:  # the pen's answer, with the seq of the frame it answers
            answer_heading = HEADING.match(next(x for x in bad_part[i:] if x.startswith("Answer:")))
            assert answer_heading is not None
            answer = hex_line(body[1], "answer")
            type_code, seq = check_heading_against_frame(answer_heading, answer)
            assert reference.ICD[type_code][0] == "NACK"
            assert seq == int.from_bytes(_body_of(frame)[2:4], "little")
            assert decode_independently(answer)[2]["of_type"] == _body_of(frame)[1]
        checked += 1
    assert checked == len(ex.BAD_EXAMPLES)
    assert {b.reason for b in ex.BAD_EXAMPLES} == set(DropReason) | {None}


def _body_of(frame: bytes) -> bytes:
    body = reference.cobs_decode(frame[:-1])
    assert body is not None
    return body


def test_module_prints_the_block(capsys: pytest.CaptureFixture[str]) -> None:
    assert ex.main([]) == 0
    assert capsys.readouterr().out == ex.render_markdown()


def test_update_rewrites_only_the_block(tmp_path: Path) -> None:
    stale = block().replace("frame  04 01 03 02", "frame  ff ff ff ff")
    doc = tmp_path / "PROTOCOL.md"
    doc.write_text("# Title\n\nBefore.\n\n" + stale + "\nAfter.\n", encoding="utf-8")
    assert ex.main(["--update", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == (
        "# Title\n\nBefore.\n\n" + ex.render_markdown() + "\nAfter.\n"
    )
    no_markers = tmp_path / "other.md"
    no_markers.write_text("nothing here\n", encoding="utf-8")
    assert ex.main(["--update", str(no_markers)]) == 1
    assert no_markers.read_text(encoding="utf-8") == "nothing here\n"
    assert ex.main(["--update", str(tmp_path / "missing.md")]) == 1


def test_the_examples_cover_all_fourteen_types_and_the_seq_edges() -> None:
    assert {e.message.TYPE for e in ex.EXAMPLES} == set(MESSAGE_TYPES)
    assert {0, 65535} <= {e.seq for e in ex.EXAMPLES}
    assert any(e.message.TYPE == 0x83 and e.message.temp_dc < 0 for e in ex.EXAMPLES)  # type: ignore[attr-defined]


def test_hand_written_frames_outside_the_block_are_right_too() -> None:
    text = document()
    start, stop = text.index(ex.BEGIN), text.index(ex.END)
    outside = (text[:start] + text[stop:]).splitlines()
    found = 0
    for i, line in enumerate(outside):
        m = re.match(r"^\s*frame\s+((?:[0-9a-f]{2} )*00)\s*$", line)
        if m is None:
            continue
        frame = bytes.fromhex(m[1])
        _, _, _, body = decode_independently(frame)
        body_line = re.match(r"^\s*body\s+((?:[0-9a-f]{2} ?)+)", outside[i - 1])
        assert body_line is not None and bytes.fromhex(body_line[1]) == body
        found += 1
    assert found >= 1  # the worked COBS example
