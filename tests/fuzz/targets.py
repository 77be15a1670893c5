"""Fuzz targets: one function per input surface, bytes in, an exception out on a finding.

The same targets run under atheris (`make fuzz`, coverage-guided, see run.py) and under
hypothesis inside `make test` (test_*.py, bounded). A target raises AssertionError when a
property breaks and lets any unexpected exception escape: both are findings.

Targets:
- decoder_host / decoder_pen: the streaming decoder at each end of the link
  (`protocol.Decoder(Direction.HOST)` reads what the pen sends, `Direction.PEN` what the host
  sends). Properties: never raises; buffers at most one maximal frame; what it accepts has a
  type of its direction and re-encodes to a frame that decodes to the same thing; chunking
  does not change the result; it resynchronises at the next 0x00.
- policy_loader: `driver.safety.policy.load_policy` on a file holding the bytes (size limit, UTF-8,
  TOML, pydantic, cross-key rules). Properties: a Policy or a PolicyError in one line, never
  anything else; an accepted policy keeps every built-in ceiling, the home role stays below
  1.0 mm through the governor, and the policy survives a write-and-read round trip.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import protocol
from driver.safety import DeviceLimits, Governor
from driver.safety.policy import (
    MAX_POLICY_BYTES,
    PRIVILEGE_ORDER,
    ROLE_NAMES,
    ZONE_NAMES,
    Policy,
    PolicyError,
    load_policy,
    load_policy_text,
    policy_to_toml,
)
from protocol import (
    HOST_TO_PEN,
    MAX_ENCODED,
    PEN_TO_HOST,
    Decoder,
    Direction,
    Frame,
    InvalidFrame,
    NackError,
)

Target = Callable[[bytes], None]

#: A frame each decoder must find right after any garbage and one 0x00.
_SENTINEL = {
    Direction.HOST: (4242, protocol.Ack(of_type=protocol.MsgType.START)),
    Direction.PEN: (4243, protocol.SetDepth(depth_um=300)),
}
_ACCEPTED = {
    Direction.HOST: frozenset(PEN_TO_HOST),
    Direction.PEN: frozenset(HOST_TO_PEN),
}


def _decode_all(direction: Direction, pieces: list[bytes]) -> tuple[list[object], Decoder]:
    decoder = Decoder(direction)
    out: list[object] = []
    for piece in pieces:
        got = decoder.feed(piece)
        assert isinstance(got, list)
        out.extend(got)
        assert decoder.buffered <= MAX_ENCODED, f"buffered {decoder.buffered} bytes"
    return out, decoder


def check_decoder(direction: Direction, data: bytes) -> None:
    """Every property of one decoder on one input (see the module docstring)."""
    whole, decoder = _decode_all(direction, [data])
    frames = [item for item in whole if isinstance(item, Frame)]
    assert decoder.frames == len(frames), "the frame counter disagrees with the frames returned"
    for item in whole:
        if isinstance(item, Frame):
            assert type(item.message) in _ACCEPTED[direction], (
                f"{type(item.message).__name__} accepted by the {direction.name} decoder"
            )
            assert 0 <= item.seq <= 0xFFFF
            again = Decoder(direction).feed(protocol.encode(item.message, item.seq))
            assert again == [item], f"{item} does not survive a re-encode: {again}"
        else:
            assert isinstance(item, InvalidFrame), f"the decoder returned {item!r}"
            assert item.error in (NackError.UNKNOWN_TYPE, NackError.BAD_LENGTH)
            assert 0 <= item.seq <= 0xFFFF and 0 <= item.type_code <= 0xFF
    # chunking: a split at any point (chosen by the data itself) gives the same result
    if data:
        cut = data[0] % (len(data) + 1)
        halves, split_decoder = _decode_all(direction, [data[:cut], data[cut:]])
        assert halves == whole, "a different chunking changed what was decoded"
        assert split_decoder.drops == decoder.drops, "a different chunking changed the drops"
    # resynchronisation: after anything at all, one 0x00 and a good frame come through
    seq, msg = _SENTINEL[direction]
    tail = decoder.feed(b"\x00" + protocol.encode(msg, seq))
    assert tail and tail[-1] == Frame(seq, msg), f"no resynchronisation: {tail!r}"


def decoder_host(data: bytes) -> None:
    """The host's decoder (what the pen sends)."""
    check_decoder(Direction.HOST, data)


def decoder_pen(data: bytes) -> None:
    """The pen's decoder (what the host sends)."""
    check_decoder(Direction.PEN, data)


# --- the policy loader -------------------------------------------------------------------------

_scratch: Path | None = None


def _scratch_file() -> Path:
    """One file per process, rewritten for each input (the loader reads files by path)."""
    global _scratch
    if _scratch is None:
        fd, name = tempfile.mkstemp(prefix="needlepen-fuzz-", suffix=".toml")
        os.close(fd)
        _scratch = Path(name)
    return _scratch


def _um(mm: float) -> Decimal:
    return Decimal(repr(float(mm))) * 1000


def check_policy(policy: Policy) -> None:
    """An accepted policy keeps every built-in ceiling (computed here independently)."""
    assert 28 <= policy.min_days_between_sessions <= 365
    for name in ROLE_NAMES:
        role = policy.role(name)
        depth = _um(role.max_depth_mm)
        assert depth == depth.to_integral_value() and 250 <= depth <= 3000, (name, depth)
        assert 1 <= role.rate_min_hz <= role.rate_max_hz <= 150, name
        assert set(role.zones) <= set(ZONE_NAMES)
        if name == "engineer":
            assert set(role.zones) <= {"bench"}, "an engineer may treat skin"
        else:
            assert "bench" not in role.zones, f"{name} may use the bench zone"
    assert _um(policy.role("home").max_depth_mm) < 1000, "the home role reached 1.0 mm"
    for lower, higher in pairwise(PRIVILEGE_ORDER):
        lo, hi = policy.role(lower), policy.role(higher)
        assert _um(hi.max_depth_mm) >= _um(lo.max_depth_mm)
        assert set(lo.zones) <= set(hi.zones)
    for name in ZONE_NAMES:
        zone = policy.zone(name)
        rec, hard = _um(zone.recommended_max_mm), _um(zone.hard_max_mm)
        assert 250 <= rec <= hard <= 3000, (name, rec, hard)
    governor = Governor(policy)
    for device in (DeviceLimits.professional(), DeviceLimits.home()):
        for zone_name in ZONE_NAMES:
            for override in (False, True):
                cap = governor.cap_for("home", zone_name, device, override=override)
                assert cap is None or cap < 1.0, f"home cap {cap} mm on {zone_name}"
    again = load_policy_text(policy_to_toml(policy))
    assert again == policy, "the policy does not survive policy_to_toml and back"


def policy_loader(data: bytes) -> None:
    """`load_policy` on a file holding `data`."""
    path = _scratch_file()
    path.write_bytes(data)
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        text = str(exc)
        assert text.strip() and "\n" not in text, f"PolicyError is not one line: {text!r}"
        assert exc.problems and all(p.strip() for p in exc.problems)
        if len(data) > MAX_POLICY_BYTES:
            assert "too large" in text
        return
    assert len(data) <= MAX_POLICY_BYTES
    check_policy(policy)


def selftest(data: bytes) -> None:
    """A target with a planted finding, to prove the runner reports one (not run by default):
    any input that starts with b"!" fails."""
    assert not data.startswith(b"!"), "the planted finding of the selftest target"


TARGETS: dict[str, Target] = {
    "decoder_host": decoder_host,
    "decoder_pen": decoder_pen,
    "policy_loader": policy_loader,
    "selftest": selftest,
}


def seeds(name: str) -> list[bytes]:
    """A starting corpus for a target: valid inputs for the fuzzer to mutate."""
    if name == "selftest":
        return [b"fine", b"!planted"]
    if name == "policy_loader":
        from driver.safety.policy import default_policy, default_policy_text

        return [
            default_policy_text().encode(),
            policy_to_toml(default_policy()).encode(),
            b"min_days_between_sessions = 42\n",
            b"[roles.home]\nmax_depth_mm = 0.3\n",
            b"[zones.cheeks]\nrecommended_max_mm = 0.8\nhard_max_mm = 1.5\n",
            b'[roles.aesthetician]\nzones = ["forehead", "cheeks"]\n',
            b"",
        ]
    from protocol.examples import EXAMPLES

    direction = Direction.HOST if name == "decoder_host" else Direction.PEN
    wanted = _ACCEPTED[direction]
    frames = [e.frame for e in EXAMPLES if type(e.message) in wanted]
    return [*frames, b"".join(frames), b"\x00" + b"\x00".join(frames)]
