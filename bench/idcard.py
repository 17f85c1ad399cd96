"""ID card read benchmark: find+select+read through the simulator at 115200 bit/s.

Real line timing over a real pty (the simulator paces every byte at 10/baud s, both
directions). Prints a few plain lines, then one JSON object as the last line:

* ``read_ms_p50`` — median wall time of ``IdCardReader.read_card()``;
* ``wire_floor_ms`` — bytes×10/baud of the same exchange, both directions;
* ``ratio`` — read_ms_p50 / wire_floor_ms (goal ≤ 1.15);
* ``idle_cpu_pct`` — process CPU while the driver polls an empty reader (goal ≤ 2);
  it includes the in-process simulator, so it is an upper bound for the driver alone.

Usage: python bench/idcard.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import threading
import time

from devices.idcard import protocol as p
from devices.idcard.driver import IdCardReader
from devices.idcard.simulator import IdCardSimulator, sample_identity
from devices.serialio import line_seconds
from devices.sim import SimServer

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
            sim.remove_card()
            reader.start_polling(lambda ident: None)
            threading.Event().wait(0.5)  # let polling settle
            c0, w0 = cpu_seconds(), time.perf_counter()
            threading.Event().wait(idle_s)
            cpu, wall = cpu_seconds() - c0, time.perf_counter() - w0
        finally:
            reader.close()

    floor_ms = line_seconds(exchange_bytes(), BAUD) * 1000
    p50 = statistics.median(times)
    print(f"{reads} reads over a pty at {BAUD} bit/s with real line timing")
    print(
        f"read p50 {p50:.1f} ms, min {min(times):.1f}, max {max(times):.1f}; wire floor {floor_ms:.1f} ms"
    )
    print(
        f"idle polling every {reader.poll_interval:.2f} s: {cpu / wall * 100:.2f}% CPU (driver + simulator)"
    )
    print(
        json.dumps(
            {
                "read_ms_p50": round(p50, 2),
                "wire_floor_ms": round(floor_ms, 2),
                "ratio": round(p50 / floor_ms, 3),
                "idle_cpu_pct": round(cpu / wall * 100, 3),
                "reads": reads,
                "transport": "pty",
                "baud": BAUD,
            }
        )
    )


if __name__ == "__main__":
    main()
