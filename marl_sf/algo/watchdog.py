"""A hang watchdog for envs stepped in the main process (``--serial_mode``).

``StepWatchdog.watch(what)`` guards one env call. A daemon thread checks the running call; when it has run longer
than the timeout, the watchdog logs it and sends the main thread SIGINT. The signal interrupts a blocking system
call (``time.sleep``, a socket read) and Python code; the guarded call then raises ``EnvHangError`` instead of
``KeyboardInterrupt``, and the run saves its checkpoint and exits as after any env error.

What cannot be interrupted in-process: native code that never returns to the interpreter (a C loop, with or
without the GIL; a library that retries its system call after EINTR), and any call when SIGINT is ignored. Python
runs signal handlers only between bytecodes of the main thread, and a C loop holding the GIL even keeps the
watchdog thread from logging. Env worker processes (``--num_workers >= 1``) have no such limit: a hung worker is
detected by the main process and killed.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

log = logging.getLogger("marl_sf")


class EnvHangError(RuntimeError):
    """An env call in the main process ran past ``--worker_timeout_sec`` and was interrupted."""


class StepWatchdog:
    """Interrupts the main thread when a guarded call runs longer than ``timeout`` seconds.

    Args:
        timeout: seconds (``--worker_timeout_sec``); the check runs every ``min(timeout / 10, 1)`` s.
    """

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._started: float | None = None  # monotonic start of the guarded call, None between calls
        self._what = ""
        self._fired = False
        self._in_main_thread = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, what: str) -> _Guard:
        """A context manager guarding one call; ``what`` names it in the error (e.g. ``"env group 0 step"``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="marl_sf-step-watchdog", daemon=True)
            self._thread.start()
        return _Guard(self, what)

    def _run(self) -> None:
        period = min(self.timeout / 10, 1.0)
        while not self._stop.wait(period):
            with self._lock:
                overran = self._started is not None and time.monotonic() - self._started > self.timeout
                if not overran or self._fired:
                    continue
                self._fired = True
                interruptible = self._in_main_thread and callable(signal.getsignal(signal.SIGINT))
                log.error(
                    "%s has run for more than %g s: %s",
                    self._what,
                    self.timeout,
                    "interrupting it"
                    if interruptible
                    else "it cannot be interrupted (not in the main thread, or SIGINT has no Python handler)",
                )
                if interruptible:
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    def close(self) -> None:
        """Stop the watchdog thread."""
        self._stop.set()


class _Guard:
    """``with watchdog.watch(what):`` — turns the watchdog's interrupt into ``EnvHangError``."""

    def __init__(self, dog: StepWatchdog, what: str):
        self.dog, self.what = dog, what

    def __enter__(self) -> None:
        with self.dog._lock:
            self.dog._started, self.dog._what, self.dog._fired = time.monotonic(), self.what, False
            self.dog._in_main_thread = threading.current_thread() is threading.main_thread()

    def __exit__(self, exc_type, exc, tb) -> bool:
        with self.dog._lock:
            self.dog._started = None
            fired = self.dog._fired
        if fired and (exc_type is None or issubclass(exc_type, KeyboardInterrupt)):
            raise EnvHangError(
                f"{self.what} ran longer than --worker_timeout_sec={self.dog.timeout:g} s and was interrupted: an "
                "env is hung (raise --worker_timeout_sec if its steps are legitimately slow)"
            ) from None
        return False
