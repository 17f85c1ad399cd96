"""Start ``python -m hall_controller run`` as a child process and wait until it is ready.

Used by the crash tests (which ``kill -9`` it) and by the benchmarks (which measure it in
its own process, as it runs in a hall)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ControllerDidNotStart(RuntimeError):
    pass


def spawn_controller(
    config: Path,
    broker_url: str,
    data_dir: Path,
    *,
    clock_start: str | None = None,
    log_level: str = "WARNING",
) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        "-m",
        "hall_controller",
        "--log-level",
        log_level,
        "run",
        "--config",
        str(config),
        "--broker-url",
        broker_url,
        "--data-dir",
        str(data_dir),
    ]
    if clock_start:
        args += ["--clock-start", clock_start]
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # blocks until the controller says it is ready (or exits)
        if line.startswith("controller ready"):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
            return proc
        seen.append(line)
    raise ControllerDidNotStart(f"controller exited with {proc.wait()}: {''.join(seen)[-800:]}")
