"""Opening a port and the HELLO handshake: every failure is one clear sentence."""

from __future__ import annotations

import pytest

import protocol
from driver.errors import HandshakeError, PortError
from driver.session import Pen

from .fakepen import FakePen, info


def test_missing_port_is_one_sentence(tmp_path):
    with pytest.raises(PortError) as err:
        Pen.connect(str(tmp_path / "no-such-tty"), db=tmp_path / "a.db")
    text = str(err.value)
    assert "no such device" in text
    assert "\n" not in text


def test_unknown_url_scheme_is_refused(tmp_path):
    with pytest.raises(PortError, match="Cannot open nope://x"):
        Pen.connect("nope://x", db=tmp_path / "a.db")


def test_silent_port_is_refused(tmp_path):
    pen = FakePen(lambda seq, msg: [])
    try:
        with pytest.raises(HandshakeError, match="did not reply to HELLO"):
            Pen.connect(pen.path, db=tmp_path / "a.db")
        # HELLO was sent, then resent 3 times with the same bytes
        assert [type(m) for m in pen.received] == [protocol.Hello] * 4
        assert len({m for m in pen.received}) == 1
    finally:
        pen.close()


def test_unsupported_version_names_both_versions(tmp_path):
    def script(seq, msg):
        return [protocol.encode(protocol.Nack(1, protocol.NackError.UNSUPPORTED_VERSION, 2), seq)]

    pen = FakePen(script)
    try:
        with pytest.raises(HandshakeError, match="speaks protocol version 2; needlepen speaks"):
            Pen.connect(pen.path, db=tmp_path / "a.db")
    finally:
        pen.close()


def test_wrong_nonce_is_refused(tmp_path):
    def script(seq, msg):
        assert isinstance(msg, protocol.Hello)
        return [protocol.encode(info((msg.nonce + 1) & 0xFFFFFFFF), seq)]

    pen = FakePen(script)
    try:
        with pytest.raises(HandshakeError, match="wrong answer to HELLO"):
            Pen.connect(pen.path, db=tmp_path / "a.db")
    finally:
        pen.close()


def test_answer_with_wrong_seq_is_not_taken(tmp_path):
    """An INFO for another seq is a stray answer, not ours: the handshake times out."""

    def script(seq, msg):
        return [protocol.encode(info(msg.nonce), (seq + 1) & 0xFFFF)]

    pen = FakePen(script)
    try:
        with pytest.raises(HandshakeError):
            Pen.connect(pen.path, db=tmp_path / "a.db")
    finally:
        pen.close()


def test_noise_corrupting_the_answer_is_cured_by_a_resend(tmp_path):
    """Line noise merged into the first INFO drops it; the resend (same seq) gets through."""
    sent = []

    def script(seq, msg):
        if isinstance(msg, protocol.Hello):
            sent.append(seq)
            noise = b"\x13\x37\xff\xfe" if len(sent) == 1 else b""
            return [noise + protocol.encode(info(msg.nonce), seq)]
        if isinstance(msg, protocol.SetTelemetry):
            return [protocol.encode(protocol.Ack(msg.TYPE), seq)]
        return []

    fake = FakePen(script)
    try:
        pen = Pen.connect(fake.path, db=tmp_path / "a.db")
        try:
            assert pen.info.serial == 42
            assert len(sent) == 2 and sent[0] == sent[1]  # one resend, same seq
            assert pen.device.depth_max_mm == 3.0
        finally:
            pen.close()
    finally:
        fake.close()
