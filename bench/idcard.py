"""ID card read benchmark: find+select+read through the simulator at 115200 bit/s.

Real line timing over a real pty (the simulator paces every byte at 10/baud s, both
directions). Prints a few plain lines, then one JSON object as the last line:

* ``read_ms_p50`` — median wall time of ``IdCardReader.read_card()``;
* ``wire_floor_ms`` — bytes×10/baud of the same exchange, both directions;
* ``ratio`` — read_ms_p50 / wire_floor_ms (goal ≤ 1.15);
* ``idle_cpu_pct`` — CPU of the driver alone while it polls an empty reader (goal ≤ 2):
  for this phase the simulator runs in a child process (its own pty, same line timing),
  and ``getrusage(RUSAGE_SELF)`` counts only this process; the simulator's own CPU is
  reported apart as ``sim_cpu_pct``, and ``idle_polls`` (find-card replies the simulator
  sent) shows the driver really was polling.

Usage: python bench/idcard.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import signal
import statistics
import threading
import time
from multiprocessing.connection import Connection

from devices.idcard import protocol as p
from devices.idcard.driver import IdCardReader
from devices.idcard.simulator import IdCardSimulator, sample_identity
from devices.serialio import line_seconds
from devices.sim import SimServer
from hall_controller.process import die_with_parent, exit_on_signals

BAUD = 115200


def exchange_bytes() -> int:
    """Bytes on the wire for find + select + read, commands and replies."""
    cmds = [p.Command.FIND_CARD, p.Command.SELECT_CARD, p.Command.READ_TEXT_PHOTO]
    sent = sum(len(p.build_command(c)) for c in cmds)
    replies = (
        len(p.build_response(p.Sw3.CARD_FOUND, bytes(4)))
        + len(p.build_response(p.Sw3.SUCCESS, bytes(8)))
        + len(p.build_response(p.Sw3.SUCCESS, p.build_card_data(bytes(256), bytes(1024))))
    )
    return sent + replies


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def idle_simulator(conn: Connection) -> None:
    """Child process: an empty reader on a pty at real line timing, until told to stop."""
    parent = mp.parent_process()
    die_with_parent(signal.SIGTERM, parent.pid if parent is not None else None)
    sim = IdCardSimulator([sample_identity(0)])
    sim.remove_card()
    with SimServer(sim, baud=BAUD, name="idcard-sim") as server:
        conn.send(server.start_pty())
        if conn.recv() != "start":
            return
        c0, w0, r0 = cpu_seconds(), time.perf_counter(), server.replies_sent
        conn.recv()  # "stop"
        cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
        conn.send((cpu / wall * 100, server.replies_sent - r0))


def measure_idle(idle_s: float) -> tuple[float, float, int, float]:
    """(driver CPU %, simulator CPU %, polls answered, poll interval) with the simulator
    in another process."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=idle_simulator, args=(child,), name="idcard-sim")
    proc.start()
    try:
        url = parent.recv()
        reader = IdCardReader(url, BAUD)
        reader.open()
        try:
            reader.start_polling(lambda ident: None)
            threading.Event().wait(0.5)  # let polling settle
            parent.send("start")
            c0, w0 = cpu_seconds(), time.perf_counter()
            threading.Event().wait(idle_s)
            cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
            parent.send("stop")
            sim_pct, polls = parent.recv()
        finally:
            reader.close()
    finally:
        proc.join(10)
        if proc.is_alive():  # interrupted before it was told to stop
            proc.terminate()
            proc.join(10)
    return cpu / wall * 100, sim_pct, polls, reader.poll_interval


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer reads, shorter idle window")
    args = ap.parse_args()
    reads = 10 if args.quick else 40
    idle_s = 2.0 if args.quick else 5.0

    sim = IdCardSimulator([sample_identity(i) for i in range(4)])
    with SimServer(sim, baud=BAUD, name="idcard-sim") as server:
        server.start_pty()
        reader = IdCardReader(server.url, BAUD)
        reader.open()
        try:
            reader.read_card()  # warm up
            times = []
            for i in range(reads):
                sim.place_card(i)
                t0 = time.perf_counter()
                ident = reader.read_card()
                times.append((time.perf_counter() - t0) * 1000)
                assert ident is not None and ident.id_number == sim.current.id_number
                ident.wipe()
        finally:
            reader.close()
    idle_pct, sim_pct, polls, interval = measure_idle(idle_s)

    floor_ms = line_seconds(exchange_bytes(), BAUD) * 1000
    p50 = statistics.median(times)
    print(f"{reads} reads over a pty at {BAUD} bit/s with real line timing")
    print(
        f"read p50 {p50:.1f} ms, min {min(times):.1f}, max {max(times):.1f}; wire floor {floor_ms:.1f} ms"
    )
    print(
        f"idle polling every {interval:.2f} s for {idle_s:.0f} s ({polls} polls answered): "
        f"driver {idle_pct:.2f}% CPU; simulator (other process) {sim_pct:.2f}%"
    )
    print(
        json.dumps(
            {
                "read_ms_p50": round(p50, 2),
                "wire_floor_ms": round(floor_ms, 2),
                "ratio": round(p50 / floor_ms, 3),
                "idle_cpu_pct": round(idle_pct, 3),
                "sim_cpu_pct": round(sim_pct, 3),
                "idle_polls": polls,
                "idle_s": idle_s,
                "reads": reads,
                "transport": "pty",
                "baud": BAUD,
            }
        )
    )


if __name__ == "__main__":
    exit_on_signals("bench")  # a signal ends it through the finally blocks above
    main()
