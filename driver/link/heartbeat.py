"""The heartbeat in a child process of its own, so a busy host does not end a treatment.

Measured on a loaded 2-core PC (issue 11, item 5; benchmarks/bench_loaded.py): every thread of
the TUI's process stalls together for 100-550 ms now and then, in full garbage collections of
the Textual heap (84-283 ms) and while another thread holds the GIL off the CPU. A heartbeat
thread inside that process waits out each stall with the UI; 200 ms late is enough for the
pen's 300 ms watchdog to end the session. A child process has its own GIL and a heap of a few
objects (no collections worth the name), sleeps between writes, and runs in a session of its
own (`start_new_session`: on Linux with autogroup scheduling it is not queued behind the UI's
own CPU use).

The child holds a duplicate of the port's file descriptor and writes precomputed HEARTBEAT
frames (encoded by the parent with `protocol`, so the codec stays in one place) every period,
but only while two conditions hold, both read from a small shared-memory block right before
each write:
- `on`: the link wants the heartbeat (it is cleared at once by an e-stop, `stop_heartbeat`,
  a lost link or close);
- `alive_until` (CLOCK_MONOTONIC, the same clock in both processes): the host renews it from
  its reader thread, at most HOST_LEASE_S ahead, and never past the UI's own lease when the UI
  keeps one (`Link.keepalive`). A host process that hangs, or a UI that stops renewing, lets
  the lease run out: the heartbeat ends and the pen's watchdog stops the needle.
The child exits when its control pipe reaches end of file (the host process ended, however it
ended) or its parent changes.

Only for a local device or pty (a file descriptor both processes can write). Writes of one
short frame to a tty are atomic, so the child's heartbeats and the host's own frames never
interleave inside a frame.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import subprocess
import sys
import time
import weakref

from .timing import HOST_LEASE_S

#: Renew the shared lease at most this often (it is a memory write, but there is no need).
RENEW_EVERY_S = 0.020

# shared block: on:u8, ready:u8, pad:6, alive_until:f64, beats:u64, worst_gap:f64
_LAYOUT = struct.Struct("<BB6xdQd")
_ON, _READY = 0, 1
_ALIVE = 8
_BEATS = 16
_WORST = 24

#: The child: stdlib only, started with -I -S so it is up in a few tens of milliseconds.
CHILD = r"""
import mmap, os, select, struct, sys, time
port_fd, ctl_fd, mem_fd = (int(a) for a in sys.argv[1:4])
period = float(sys.argv[4])
frames = [bytes.fromhex(h) for h in sys.argv[5].split(",")]
parent = os.getppid()
mem = mmap.mmap(mem_fd, 64)
mem[1] = 1
due = time.monotonic()
last = None
i = 0
while True:
    wait = max(0.0, due - time.monotonic())
    ready, _, _ = select.select([ctl_fd], [], [], wait)
    if ready and not os.read(ctl_fd, 64):
        break
    if os.getppid() != parent:
        break
    now = time.monotonic()
    if now < due:
        continue
    due = max(due + period, now + period / 2)
    if mem[0] and now <= struct.unpack_from("<d", mem, 8)[0]:
        try:
            os.write(port_fd, frames[i % len(frames)])
        except OSError:
            continue
        i += 1
        if last is not None:
            gap = now - last
            if gap > struct.unpack_from("<d", mem, 24)[0]:
                struct.pack_into("<d", mem, 24, gap)
        last = now
        struct.pack_into("<Q", mem, 16, i)
    else:
        last = None
"""


class HeartbeatProcess:
    """A child process that heartbeats on `fd` while the host keeps its lease (see above)."""

    def __init__(self, fd: int, frames: list[bytes], period: float) -> None:
        self._mem_fd = os.memfd_create("needlepen-heartbeat", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self._mem_fd, 64)
            self._mem = mmap.mmap(self._mem_fd, 64)
            ctl_read, self._ctl = os.pipe()
            try:
                self.proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-I",
                        "-S",
                        "-c",
                        CHILD,
                        str(fd),
                        str(ctl_read),
                        str(self._mem_fd),
                        repr(period),
                        ",".join(f.hex() for f in frames),
                    ],
                    pass_fds=(fd, ctl_read, self._mem_fd),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            finally:
                os.close(ctl_read)
        except BaseException:
            os.close(self._mem_fd)
            raise
        # a link dropped without close(): the pipe's end of file ends the child all the same
        self._release_pipe = weakref.finalize(self, _close_quietly, self._ctl)
        self._last_renew = 0.0
        self._closed = False
        self._checked = 0.0
        self._exited = False

    @classmethod
    def start(cls, fd: int, frames: list[bytes], period: float) -> HeartbeatProcess | None:
        """The child on `fd`, or None where one cannot run (no memfd, no fork)."""
        if not hasattr(os, "memfd_create"):
            return None
        try:
            return cls(fd, frames, period)
        except OSError:
            return None

    @property
    def ready(self) -> bool:
        """The child is up and reading the shared block (until then the host heartbeats)."""
        if self._closed or not self._mem[_READY]:
            return False
        now = time.monotonic()
        if now - self._checked >= 0.05:  # a child that died hands the heartbeat back
            self._checked = now
            self._exited = self.proc.poll() is not None
        return not self._exited

    @property
    def beats(self) -> int:
        return int(struct.unpack_from("<Q", self._mem, _BEATS)[0])

    @property
    def worst_gap(self) -> float:
        """The longest time between two of the child's heartbeats so far (seconds)."""
        return float(struct.unpack_from("<d", self._mem, _WORST)[0])

    def set_on(self, on: bool) -> None:
        if not self._closed:
            with contextlib.suppress(ValueError):  # closed meanwhile by another thread
                self._mem[_ON] = 1 if on else 0

    def renew(self, until: float, now: float, force: bool = False) -> None:
        """Let the child heartbeat until `until` (monotonic seconds)."""
        if self._closed:
            return
        if force or now - self._last_renew >= RENEW_EVERY_S:
            self._last_renew = now
            with contextlib.suppress(ValueError):  # closed meanwhile by another thread
                struct.pack_into("<d", self._mem, _ALIVE, until)

    def close(self) -> None:
        """Stop heartbeating at once, then end the child (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._mem[_ON] = 0
        struct.pack_into("<d", self._mem, _ALIVE, 0.0)
        self._release_pipe()  # closes the pipe once, here or when dropped
        try:  # it ends at the pipe's end of file; it holds nothing worth waiting for
            self.proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
        with contextlib.suppress(OSError):
            os.close(self._mem_fd)
        with contextlib.suppress(BufferError):
            self._mem.close()


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


__all__ = ["HOST_LEASE_S", "HeartbeatProcess"]
