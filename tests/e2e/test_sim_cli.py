"""The `needlepen sim` command line: signals, stdin, TCP, errors, logs, seeded repeatability."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import serial

from driver.testing.host import PortHost
from driver.testing.sim import SimProcess, needlepen_command
from protocol import Ack, EventCode, MsgType, SetTelemetry, Start, State, Stop, encode


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_stop_it_cleanly(sig: int) -> None:
    proc = SimProcess("--pty")
    port = serial.Serial(proc.port_line, 115200, timeout=0.02)
    try:
        PortHost(port).hello()
    finally:
        port.close()
    assert proc.stop(sig) == 0
    assert "Traceback" not in proc.stderr_text
    assert proc.stderr_text.rstrip().endswith("sim: stopped")


def test_stdin_at_its_end_does_not_stop_the_server() -> None:
    with SimProcess("--pty", stdin=subprocess.DEVNULL) as proc:
        time.sleep(0.3)
        assert proc.proc.poll() is None
        port = serial.Serial(proc.port_line, 115200, timeout=0.02)
        try:
            assert PortHost(port).hello(5).nonce == 5
        finally:
            port.close()


def test_tcp_serves_socket_url() -> None:
    with SimProcess("--tcp", "127.0.0.1:0", "--log-json", "--device-class", "home") as proc:
        url = proc.port_line
        assert url.startswith("socket://127.0.0.1:") and int(url.rsplit(":", 1)[1]) > 0
        port = serial.serial_for_url(url, timeout=0.02)
        try:
            host = PortHost(port)
            assert host.hello().depth_max_um == 950
            assert host.request(Start()) == Ack(MsgType.START)
            host.event(EventCode.STARTED)
        finally:
            port.close()
        proc.wait_record("STARTED")


def test_the_launcher_reads_the_log_in_order_and_waits_for_control_answers() -> None:
    """The kit's SimProcess: `next_record` goes forward from a cursor that `drain` moves to
    the end, `take_new` hands over what came since, `control` returns the simulator's answer."""
    with SimProcess("--pty", "--log-json", "--seed", "2") as proc:
        port = serial.Serial(proc.port_line, 115200, timeout=0.02)
        try:
            host = PortHost(port)
            host.hello(nonce=1)
            first = proc.next_record("HELLO", timeout=5)
            host.hello(nonce=2)
            second = proc.next_record("HELLO", timeout=5)
            assert (first["seq"], second["seq"]) == (0, 1)
            proc.drain()
            with pytest.raises(TimeoutError, match="logged no HELLO"):
                proc.next_record("HELLO", timeout=0.2)  # nothing since the drain
            assert proc.control("overheat").startswith("Overheated: ")
            proc.wait_record("INJECT", timeout=5)
            new = proc.take_new()
            assert len([r for r in new if r["event"] == "INJECT"]) == 1
            assert proc.take_new() == []
        finally:
            port.close()


def test_text_log_goes_to_stderr_and_stdout_holds_only_the_port() -> None:
    proc = SimProcess("--pty", "--seed", "1")
    port = serial.Serial(proc.port_line, 115200, timeout=0.02)
    try:
        host = PortHost(port)
        host.hello()
        host.request(Start())
        proc.command("status")
        proc.command("explode")
        time.sleep(0.2)
    finally:
        port.close()
    assert proc.stop() == 0
    assert proc.stdout_lines == []
    err = proc.stderr_text
    assert "START" in err and "STARTED" in err and "RUNNING" in err
    assert "state RUNNING, session open" in err  # the status command
    assert "The command 'explode' is not known; type help for the list." in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--pty", "--fault", "drop=2"], "The fault spec 'drop=2' is not valid"),
        (["--pty", "--fault", "teleport@1s"], "The fault spec 'teleport@1s' is not understood"),
        (["--pty", "--seed", "-4"], "The seed must be"),
        (["--pty", "--watchdog-ms", "0"], "The watchdog must be from 1 to 65535 ms"),
        (["--pty", "--device-class", "clinic"], "The device class must be home or professional"),
        (["--tcp", "nowhere"], "The TCP address must be HOST:PORT"),
    ],
)
def test_bad_options_are_one_sentence_and_exit_1(args: list[str], words: str) -> None:
    out = subprocess.run(
        [*needlepen_command(), "sim", *args], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"needlepen: {words}")
    assert lines[0].endswith(".")


def test_pty_or_tcp_is_required() -> None:
    out = subprocess.run([*needlepen_command(), "sim"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--pty" in out.stderr


def _fault_run() -> tuple[int, list[int]]:
    """40 STOP commands (always executed) through a link that drops 30 % of the host's frames;
    which of them reached the pen is read from its log, so thread timing cannot matter."""
    with SimProcess("--pty", "--log-json", "--seed", "7", "--fault", "drop:host=0.3") as proc:
        port = serial.Serial(proc.port_line, 115200, timeout=0.02)
        host = PortHost(port)
        try:
            for seq in range(40):
                host.send(Stop(), seq=seq)
            for marker in range(1000, 1100):  # then knock until one gets through
                host.send(Stop(), seq=marker)
                try:
                    proc.wait_record("STOP", timeout=0.3, seq=marker)
                    break
                except AssertionError:
                    continue
        finally:
            port.close()
        applied = sorted(r["seq"] for r in proc.records() if r["event"] == "STOP" and r["seq"] < 40)
        return proc.wait_record("BOOT")["boot_id"], applied


def test_a_fault_run_repeats_exactly_with_the_same_seed() -> None:
    first = _fault_run()
    second = _fault_run()
    assert first == second
    _, applied = first
    assert 15 < len(applied) < 40  # some dropped, most not


def test_runtime_link_faults_from_stdin() -> None:
    with SimProcess("--pty", "--log-json") as proc:
        port = serial.Serial(proc.port_line, 115200, timeout=0.02)
        try:
            host = PortHost(port)
            host.hello()
            host.request(SetTelemetry(50))
            host.status()
            proc.command("cut 1500ms")
            proc.wait_record("INJECT", what="cut")
            port.reset_input_buffer()
            time.sleep(0.2)
            assert port.read(4096) == b""  # nothing gets through the cut
            # the host's heartbeats are lost too: the watchdog ends the session
            proc.wait_record("WATCHDOG_TRIPPED", timeout=3)
            host.decoder.reset()
            status = host.status(timeout=4)
            assert status.state == State.NO_SESSION
            proc.command("fault drop:pen=1")
            proc.wait_record("INJECT", what="drop")
            port.reset_input_buffer()
            port.write(encode(Stop(), 999))
            # applied by the pen, but its answer is lost on the way back
            assert proc.wait_record("STOP", seq=999)["state"] == "NO_SESSION"
            time.sleep(0.1)
            assert port.read(4096) == b""
        finally:
            port.close()
