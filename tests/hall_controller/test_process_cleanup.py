"""Nothing outlives what started it: a benchmark stopped by ``timeout`` (SIGTERM) or
killed (SIGKILL) with its output piped and no stdin leaves no broker, controller or worker
running, and the tests' own leak check catches a test that leaves one behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from hall_controller.process import wait_gone
from tests.conftest import ROOT


def start_bench(name: str) -> subprocess.Popen[str]:
    """A benchmark as ``timeout 60 python bench/NAME --quick </dev/null | tail -1`` runs
    it: stdin closed, stdout a pipe."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / name), "--quick"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], text: str) -> list[str]:
    """stderr lines up to the one containing ``text`` (what the benchmark says it did)."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"the benchmark ended before {text!r}: {''.join(seen)[-2000:]}")


def descendants(pid: int) -> dict[int, str]:
    return {p.pid: " ".join(p.cmdline()) for p in psutil.Process(pid).children(recursive=True)}


def test_a_benchmark_stopped_by_sigterm_ends_what_it_started() -> None:
    bench = start_bench("calls.py")
    try:
        read_until(bench, "bench: controller pid")
        started = descendants(bench.pid)
        assert any("hall_controller" in c for c in started.values()), started
        assert any("mosquitto" in c for c in started.values()), started
        bench.send_signal(signal.SIGTERM)  # only the benchmark, not its process group
        _out, err = bench.communicate(timeout=30)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 128 + signal.SIGTERM, err
    assert "bench: SIGTERM, stopping what it started" in err
    left = wait_gone(started, 10)
    assert not left, f"left running: {[started[p] for p in left]}"


def test_a_benchmark_killed_by_sigkill_takes_its_children_along() -> None:
    """No clean-up code runs on SIGKILL: the kernel ends the children (PR_SET_PDEATHSIG),
    the multiprocessing workers too."""
    bench = start_bench("tickets.py")
    try:
        read_until(bench, "kiosks in worker processes")
        started = descendants(bench.pid)
        workers = [c for c in started.values() if "multiprocessing" in c]
        assert len(workers) >= 3, started  # echo, two kiosk workers (and the tracker)
        os.kill(bench.pid, signal.SIGKILL)
        bench.communicate(timeout=30)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    left = wait_gone(started, 10)
    assert not left, f"left running: {[started[p] for p in left]}"


def test_the_leak_check_names_and_ends_a_leaked_orphan(tmp_path: Path) -> None:
    """A test whose child leaves a grandchild behind (re-parented to pytest, the
    subreaper) fails, naming it, and the grandchild is ended."""
    test = tmp_path / "test_leaky.py"
    test.write_text(
        textwrap.dedent(
            """
            import subprocess

            def test_leaks(tmp_path):
                # sh starts sleep in the background and exits: sleep is an orphan
                subprocess.run(["sh", "-c", "sleep 120 & echo $! > pid"], cwd=tmp_path, check=True)
                (tmp_path.parent / "leaked").write_text((tmp_path / "pid").read_text())
            """
        )
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            "--basetemp",
            str(tmp_path / "t"),
            str(test),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, HALLKIT_PROCESS_GRACE_S="0.5"),
    )
    leaked = int((tmp_path / "t" / "leaked").read_text())
    assert r.returncode == 1, r.stdout[-2000:]
    assert f"processes left running by this test (now killed): pid {leaked}: sleep 120" in r.stdout
    assert wait_gone([leaked], 5) == set()
