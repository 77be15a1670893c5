"""One worker thread that runs the driver calls which wait on the pen, in the order asked.

Driver calls such as `set_depth` or `start` wait for the pen's answer (up to about 200 ms with
resends), so they never run on the UI thread. They run here one at a time, first in first out,
so a depth asked after another is applied after it. Two rules keep a stuck or repeated key
harmless:

- a job with a `coalesce` key replaces a queued (not yet started) job with the same key when
  that job is the last in the queue, so twenty presses of "+" become one or two commands;
- an urgent job (stop) goes first and cancels everything still queued: nothing queued before a
  stop may start the needle again after it.

E-stop never comes here: the UI calls `pen.estop()` directly, which never blocks.
Results go back to the UI through `deliver` (the app posts them as Textual messages).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


@dataclass
class Job:
    name: str
    fn: Callable[[], Any]
    on_done: Done | None = None
    on_error: Failed | None = None
    coalesce: str | None = None
    id: int = field(default=0)


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False


class CommandRunner:
    """A FIFO of driver calls on one daemon thread."""

    def __init__(self, deliver: Callable[[Outcome], None]) -> None:
        self._deliver = deliver
        self._cv = threading.Condition()
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._closed = False
        self._ids = itertools.count(1)
        self._thread = threading.Thread(
            target=self._run, name="needlepen-tui-commands", daemon=True
        )
        self._thread.start()

    def submit(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        on_done: Done | None = None,
        on_error: Failed | None = None,
        coalesce: str | None = None,
        urgent: bool = False,
    ) -> Job:
        job = Job(name, fn, on_done, on_error, coalesce, next(self._ids))
        cancelled: list[Job] = []
        with self._cv:
            if self._closed:
                cancelled.append(job)
            elif urgent:
                cancelled.extend(self._queue)
                self._queue.clear()
                self._queue.append(job)
            elif coalesce is not None and self._queue and self._queue[-1].coalesce == coalesce:
                cancelled.append(self._queue.pop())
                self._queue.append(job)
            else:
                self._queue.append(job)
            self._cv.notify_all()
        for old in cancelled:
            self._deliver(Outcome(old, cancelled=True))
        return job

    def cancel_pending(self) -> int:
        """Drop every queued job (the one running finishes). Returns how many were dropped."""
        with self._cv:
            dropped = list(self._queue)
            self._queue.clear()
        for job in dropped:
            self._deliver(Outcome(job, cancelled=True))
        return len(dropped)

    @property
    def busy(self) -> bool:
        """True while a job runs or waits."""
        with self._cv:
            return self._running is not None or bool(self._queue)

    @property
    def running(self) -> str | None:
        with self._cv:
            return self._running.name if self._running is not None else None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits (for tests and shutdown)."""
        with self._cv:
            return self._cv.wait_for(
                lambda: self._running is None and not self._queue, timeout=timeout
            )

    def close(self, timeout: float = 2.0) -> None:
        """Cancel what is queued and stop the thread once the running job is done."""
        with self._cv:
            self._closed = True
            dropped = list(self._queue)
            self._queue.clear()
            self._cv.notify_all()
        for job in dropped:
            self._deliver(Outcome(job, cancelled=True))
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                job = self._queue.popleft()
                self._running = job
            try:
                outcome = Outcome(job, result=job.fn())
            except BaseException as exc:  # delivered to the UI, which decides
                outcome = Outcome(job, error=exc)
            finally:
                with self._cv:
                    self._running = None
                    self._cv.notify_all()
            with contextlib.suppress(Exception):  # the UI is gone: nothing to tell
                self._deliver(outcome)
