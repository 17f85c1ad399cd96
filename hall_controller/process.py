"""Processes: start ``python -m hall_controller run`` as a child and wait until it is
ready; make children die with their parent; wait for processes to end as an event.

``spawn_controller`` is used by the crash tests (which ``kill -9`` it) and by the
benchmarks (which measure it in its own process, as it runs in a hall). The rest is Linux
process plumbing shared by the broker, the benchmarks and the tests' leak check."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: prctl(2) options (linux/prctl.h).
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int


class ControllerDidNotStart(RuntimeError):
    pass


def prctl(option: int, arg: int) -> None:
    if _prctl(option, arg, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {arg}): {os.strerror(err)}")


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when its parent dies, even by
    ``kill -9`` (``PR_SET_PDEATHSIG``). Called in the child. ``parent``: the pid the
    parent had; if it is gone already (it died before this call), ``sig`` now.

    The kernel sends it when the *thread* that forked this process exits, not the whole
    parent process: start such children from a thread that lives as long as the parent
    (the main thread), never from a short-lived worker thread."""
    prctl(PR_SET_PDEATHSIG, int(sig))
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)


def preexec_die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process
    (precisely: the thread calling Popen, see ``die_with_parent``) dies. Async-signal
    safe enough for a forked child: one prctl call through an already loaded libc."""
    parent = os.getpid()

    def child() -> None:
        _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), sig)

    return child


def exit_on_signals(name: str = "") -> None:
    """SIGTERM, SIGHUP and SIGINT end this program by ``SystemExit(128 + signal)`` raised
    in the main thread: every ``finally`` and ``atexit`` handler runs, so whatever the
    program started is stopped (the default action of SIGTERM and SIGHUP kills the
    process on the spot, leaving its children running). Only the first signal does:
    ``timeout`` signals its child and then the child's whole process group, and that
    second signal must not cut the clean-up short. Call it from the main thread."""
    exiting = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal exiting
        if exiting:
            return
        exiting = True
        if name:
            print(
                f"{name}: {signal.Signals(signum).name}, stopping what it started",
                file=sys.stderr,
                flush=True,
            )
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)


def become_subreaper() -> None:
    """Orphaned descendants of this process are re-parented to it instead of to init
    (``PR_SET_CHILD_SUBREAPER``): they stay visible as descendants, and it must reap them."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def wait_gone(pids: Iterable[int], timeout: float) -> set[int]:
    """Wait until every process of ``pids`` has ended (exited: a zombie counts as ended)
    or ``timeout`` passed; returns those still running. The wait is an event: one pidfd
    per process (Linux ≥ 5.3), readable when it ends; no polling."""
    fds: dict[int, int] = {}
    try:
        for pid in set(pids):
            try:
                fds[os.pidfd_open(pid)] = pid
            except ProcessLookupError:
                continue  # gone (and reaped) already
        deadline = time.monotonic() + timeout
        while fds:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                os.close(fd)
                del fds[fd]
        return set(fds.values())
    finally:
        for fd in fds:
            os.close(fd)


def is_running(pid: int) -> bool:
    """The process exists and has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # pid (comm) STATE ...; comm may hold spaces and parentheses: the state follows the last ')'
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] not in (b"Z", b"X")


def cmdline(pid: int) -> list[str]:
    """The process's argv ([] when it is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def end_process(pid: int, *, grace: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL if it has not ended within ``grace`` seconds. True when it
    ended. Not for our own children: use ``Popen`` for those (it reaps them)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        if not wait_gone([pid], grace):
            return True
    return False


class Output:
    """The lines a child printed, kept by a thread that drains its pipe (so it never blocks
    on a full pipe); ``wait_for`` waits for a line as an event."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._cond = threading.Condition()

    def drain(self, stream: Iterable[str]) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_for(self, text: str, timeout: float) -> str | None:
        """The first line containing ``text``, once printed; None if the child closed its
        output or ``timeout`` passed first."""

        def found() -> str | None:
            return next((x for x in self.lines if text in x), None)

        with self._cond:
            self._cond.wait_for(lambda: found() is not None or self.closed, timeout)
            return found()

    @property
    def text(self) -> str:
        with self._cond:
            return "".join(self.lines)


def spawn_controller(
    config: Path,
    broker_url: str | None,
    data_dir: Path,
    *,
    clock_start: str | None = None,
    log_level: str = "WARNING",
    die_with_parent: bool = True,
    ready_timeout: float = 60.0,
) -> subprocess.Popen[str]:
    """Start ``python -m hall_controller run`` and return once it says it is ready.

    ``broker_url`` None: the controller starts and manages its own mosquitto (from the
    config's ``broker`` section, in ``data_dir/mosquitto``). ``die_with_parent``: the
    controller gets SIGTERM when this process dies, even by ``kill -9`` (and then ends its
    own broker); call it from the main thread (see ``die_with_parent``). What it prints
    (stdout and stderr) is in ``proc.output`` (an ``Output``)."""
    args = [
        sys.executable,
        "-m",
        "hall_controller",
        "--log-level",
        log_level,
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
    ]
    if broker_url:
        args += ["--broker-url", broker_url]
    if clock_start:
        args += ["--clock-start", clock_start]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        preexec_fn=preexec_die_with_parent(signal.SIGTERM) if die_with_parent else None,
    )
    assert proc.stdout is not None
    output = Output()
    proc.output = output  # type: ignore[attr-defined]
    threading.Thread(
        target=output.drain, args=(proc.stdout,), name="controller-output", daemon=True
    ).start()
    if output.wait_for("controller ready", ready_timeout) is not None:
        return proc
    if proc.poll() is None:  # it hangs: do not leave it behind
        proc.kill()
    code = proc.wait()
    raise ControllerDidNotStart(f"controller exited with {code}: {output.text[-800:]}")
