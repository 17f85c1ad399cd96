"""The display program through the real parts: a real mosquitto, a real controller, the
Modbus LED simulator over socket://, and a sink that records what the speaker played."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from devices.display import modbus as m
from devices.display.simulator import DisplaySimulator
from hall_contract.client import HallClient
from hall_contract.hallconfig import HallConfig
from hall_contract.messages import DeviceReport, read
from hall_display.program import DisplayProgram
from tests.conftest import load_hall
from tests.hall_display.conftest import (
    DisplayFactory,
    RecordingSink,
    display_config,
    said,
    said_dialect,
)

TIMEOUT = 10.0


def blink_writes(sim: DisplaySimulator, unit: int) -> list[int]:
    """The blink counts written to ``unit``, in order."""
    return [v[0] for u, a, v in list(sim.writes) if u == unit and a == m.REG_BLINK]


def writes_to(sim: DisplaySimulator, unit: int) -> int:
    return sum(1 for u, _a, _v in list(sim.writes) if u == unit)


def dark(d: Any) -> bool:
    return (d.ticket, d.window, d.legend) == ("", "", 0)


def test_a_call_shows_on_its_led_blinking_and_is_heard_once(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall: HallConfig,
    sim,
    voice_root,
    sink: RecordingSink,
) -> None:
    controller_factory(hall)
    display_factory(display_config(sim, voice_root), hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    w02 = client_factory("w02", role="window")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    # nobody signed on: both LEDs are written dark once (and their brightness set)
    assert sim.wait_until(lambda: writes_to(sim, 1) == writes_to(sim, 2) == 2, 5)
    t0 = time.monotonic()
    assert w01.request("window.call_next", {}).result.number == "A001"
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.window, d.blink) == ("A001", "1", 3), 5)
    assert sink.wait_count(1, TIMEOUT)
    assert sink.played[0].start - t0 < 1.0, "not announced within 1 s of the call"
    assert sink.heard() == [[said("A001", "1")] * 2]  # the configured 2 repeats
    assert dark(sim.displayed(2))
    # the number went out in one write (legend off), then the blink
    shown = [d for d in sim.history if d.unit == 1]
    assert [(d.ticket, d.blink) for d in shown] == [("A001", 0), ("A001", 3)]

    # a call at window 2 republishes the board: window 1's LED is not written again
    writes_1 = writes_to(sim, 1)
    assert w02.request("window.call_next", {}).result.number == "A002"
    assert sim.wait_displayed(2, lambda d: (d.ticket, d.window, d.blink) == ("A002", "2", 3), 5)
    assert sink.wait_count(2, TIMEOUT)
    assert writes_to(sim, 1) == writes_1
    assert [d.ticket for d in sim.history if d.unit == 1] == ["A001", "A001"]
    assert sink.heard()[1] == [said("A002", "2")] * 2

    # finished, not signed on: dark again; nothing announced for it
    assert w01.request("window.finish", {}).ok
    assert sim.wait_displayed(1, dark, 5)
    assert len(sink.played) == 2


def test_a_recall_is_announced_again_and_blinks_again(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    sink: RecordingSink,
) -> None:
    controller_factory(hall)
    display_factory(display_config(sim, voice_root), hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok
    assert sink.wait_count(1, TIMEOUT)
    assert sim.wait_until(lambda: 3 in blink_writes(sim, 1), 5)
    before = len(blink_writes(sim, 1))
    assert w01.request("window.recall", {}).ok
    assert sink.wait_count(2, TIMEOUT)
    assert sink.heard() == [[said("A001", "1")] * 2] * 2
    assert sim.wait_until(lambda: 3 in blink_writes(sim, 1)[before:], 5), "no second blink"
    assert sim.displayed(1).ticket == "A001"


def test_pause_lights_the_legend_and_sign_off_darkens(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    sink: RecordingSink,
) -> None:
    controller_factory(hall)
    display_factory(display_config(sim, voice_root), hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    assert w01.request("window.sign_on", {}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.window, d.legend) == ("----", "1", 0), 5)
    assert w01.request("window.pause", {"reason": "lunch"}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.window, d.legend) == ("", "1", 1), 5)
    assert m.LEGENDS[sim.displayed(1).legend] == "暂停服务"
    assert w01.request("window.resume", {}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.legend) == ("----", 0), 5)

    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.legend) == ("A001", 0), 5)
    # paused while serving: the legend wins
    assert w01.request("window.start", {}).ok
    assert w01.request("window.pause", {"reason": "break"}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.legend) == ("", 1), 5)
    assert w01.request("window.resume", {}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.legend) == ("A001", 0), 5)
    assert w01.request("window.finish", {}).ok
    assert sim.wait_displayed(1, lambda d: d.ticket == "----", 5)
    assert w01.request("window.sign_off", {}).ok
    assert sim.wait_displayed(1, dark, 5)
    # one call, heard once: pausing, resuming and signing off announce nothing
    assert sink.wait_count(1, TIMEOUT) and sink.heard() == [[said("A001", "1")] * 2]


def test_sign_off_by_the_web_server_darkens_the_led(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
) -> None:
    from hall_contract.hallconfig import Terminal

    hall = hall.model_copy(update={"terminals": [*hall.terminals, Terminal(id="web", role="web")]})
    controller_factory(hall)
    display_factory(display_config(sim, None), hall)
    web = client_factory("web", role="web")
    on = {"window": "win02", "staff": "zhang"}
    assert web.request("window.sign_on", dict(on)).ok
    assert sim.wait_displayed(2, lambda d: (d.ticket, d.window) == ("----", "2"), 5)
    assert web.request("window.sign_off", dict(on)).ok
    assert sim.wait_displayed(2, dark, 5)


def device_state(collector: Any, device: str, state: str) -> None:
    collector.wait_for(
        lambda t, p: t.endswith(f"/device/{device}") and read(DeviceReport, p).state == state,
        TIMEOUT,
    )


def test_an_unplugged_led_is_reported_and_restored_the_others_go_on(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    sink: RecordingSink,
    collect,
) -> None:
    reports = collect("hall/mini/t/d01/device/+")
    controller_factory(hall)
    display_factory(display_config(sim, voice_root), hall)
    device_state(reports, "led-win01", "ready")
    device_state(reports, "speaker", "ready")
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    w02 = client_factory("w02", role="window")
    for _ in range(3):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok
    assert sim.wait_displayed(1, lambda d: d.ticket == "A001", 5)

    sim.unplug_unit(1)
    device_state(reports, "led-win01", "absent")
    # while it is away: window 1 moves on, window 2 calls; window 2's LED is not held up
    assert w01.request("window.finish", {}).ok
    assert w01.request("window.call_next", {}).result.number == "A002"
    t0 = time.monotonic()
    assert w02.request("window.call_next", {}).result.number == "A003"
    assert sim.wait_displayed(2, lambda d: d.ticket == "A003", 5)
    assert time.monotonic() - t0 < 1.5
    assert sim.displayed(1).ticket == "A001"  # unplugged: still what it had

    sim.replug_unit(1)  # powers up dark
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.window, d.legend) == ("A002", "1", 0), 5)
    device_state(reports, "led-win01", "ready")
    assert sink.wait_count(3, TIMEOUT)
    assert [h[0] for h in sink.heard()] == [said("A001", "1"), said("A002", "1"), said("A003", "2")]


def test_a_power_cut_led_is_noticed_and_rewritten(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
) -> None:
    """A module that lost power between two checks answers again at once, dark: the
    read-back notices and writes it again (steady: it is no new call)."""
    controller_factory(hall)
    display_factory(display_config(sim, None), hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.blink) == ("A001", 3), 5)
    before = len(blink_writes(sim, 1))
    sim.unplug_unit(1)
    sim.replug_unit(1)
    assert dark(sim.displayed(1))
    assert sim.wait_displayed(1, lambda d: (d.ticket, d.window) == ("A001", "1"), 5)
    assert sim.wait_until(lambda: blink_writes(sim, 1)[before:] == [0], 5)  # steady


def test_a_lost_bus_adapter_is_reopened_and_every_led_restored(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    collect,
) -> None:
    reports = collect("hall/mini/t/d01/device/+")
    controller_factory(hall)
    display_factory(display_config(sim, None), hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    w02 = client_factory("w02", role="window")
    assert w02.request("window.sign_on", {}).ok
    assert sim.wait_displayed(2, lambda d: d.ticket == "----", 5)
    sim.unplug()  # the USB RS-485 adapter
    device_state(reports, "led-win02", "absent")
    assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok
    sim.replug()
    assert sim.wait_displayed(1, lambda d: d.ticket == "A001", 5)
    assert sim.wait_displayed(2, lambda d: d.ticket == "----", 5)
    device_state(reports, "led-win02", "ready")


def test_a_restart_announces_no_old_call_and_does_not_blink(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    sink: RecordingSink,
) -> None:
    controller_factory(hall)
    cfg = display_config(sim, voice_root)
    first = display_factory(cfg, hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    w02 = client_factory("w02", role="window")
    for _ in range(2):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok
    assert sink.wait_count(1, TIMEOUT)
    assert sim.wait_until(lambda: 3 in blink_writes(sim, 1), 5)
    first.stop()
    before = len(blink_writes(sim, 1))

    display_factory(cfg, hall)  # gets the retained board again
    assert sim.wait_until(lambda: 0 in blink_writes(sim, 1)[before:], 5), "rewritten steady"
    assert w02.request("window.call_next", {}).ok  # a new call: the one thing to announce
    assert sink.wait_count(2, TIMEOUT)
    assert [h[0] for h in sink.heard()] == [said("A001", "1"), said("A002", "2")]
    assert 3 not in blink_writes(sim, 1)[before:]  # no blink for the old call


def test_sixteen_windows_calling_at_once_are_each_heard_once_in_order(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    voice_root,
    sink: RecordingSink,
    collect,
) -> None:
    hall = load_hall("hall.yaml")
    windows = {w.id: i for i, w in enumerate(hall.windows, start=1)}
    assert len(windows) == 16
    controller_factory(hall)
    events = collect("hall/yunxi/events/ticket/called")
    with DisplaySimulator(units=windows.values()) as sim:
        prog = display_factory(display_config(sim, voice_root, windows), hall)
        assert prog.speaker is not None
        kiosk = client_factory("k01", hall="yunxi", role="kiosk")
        for q in hall.queues:
            for _ in range(4):
                assert kiosk.request("ticket.issue", {"queue": q.id}).ok
        staff = [client_factory(f"w{i:02d}", hall="yunxi", role="window") for i in range(1, 17)]
        barrier = threading.Barrier(17)
        numbers: dict[str, str] = {}

        def call(c: HallClient) -> None:
            barrier.wait()
            r = c.request("window.call_next", {}, timeout=TIMEOUT)
            assert r.ok and r.result is not None
            numbers[r.result.window] = r.result.number

        threads = [threading.Thread(target=call, args=(c,)) for c in staff]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.monotonic()
        for t in threads:
            t.join(TIMEOUT)
        assert len(numbers) == 16

        assert sink.wait_count(16, 30)
        seq = {}
        for _t, p in events.pairs():
            e = json.loads(p)
            seq[e["data"]["number"]] = e["seq"]
        by_seq = sorted(numbers.items(), key=lambda wn: seq[wn[1]])
        label = {w.id: str(int(w.name.split("号")[0])) for w in hall.windows}
        assert sink.heard() == [[said(n, label[w])] * 2 for w, n in by_seq]
        played = sink.played
        assert played[0].start - t0 < 1.0
        for before, after in itertools.pairwise(played):
            assert before.end <= after.start, "two announcements overlapped"
            assert after.start - before.end < 0.25, "a call waited although the speaker was free"
        assert sink.max_playing == 1
        for w, n in numbers.items():
            assert sim.wait_displayed(windows[w], lambda d, n=n: d.ticket == n, 5), w
            assert sim.displayed(windows[w]).window == label[w]
        assert all(blink_writes(sim, u)[:1] == [3] for u in windows.values())  # each blinked


def test_a_dialect_pack_is_read_after_mandarin_in_every_repeat(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    sink: RecordingSink,
) -> None:
    controller_factory(hall)
    cfg = display_config(sim, voice_root)
    assert cfg.speaker is not None
    cfg = cfg.model_copy(
        update={"speaker": cfg.speaker.model_copy(update={"dialect": "nan", "windows": ["win02"]})}
    )
    display_factory(cfg, hall)
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    w02 = client_factory("w02", role="window")
    for _ in range(2):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok  # not a window this speaker says
    assert w02.request("window.call_next", {}).ok
    assert sink.wait_count(1, TIMEOUT)
    pair = [said("A002", "2"), said_dialect("A002", "2")]
    assert sink.heard() == [pair * 2]
    assert sim.wait_displayed(1, lambda d: d.ticket == "A001", 5)  # its LED shows it


def test_presence_heartbeat_and_self_test(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    collect,
) -> None:
    from hall_contract.messages import Command, CommandResult

    ctl = controller_factory(hall)
    hb = collect("hall/mini/t/d01/hb")
    results = collect("hall/mini/t/d01/cmdres")
    prog: DisplayProgram = display_factory(display_config(sim, voice_root), hall)
    hb.wait_for(lambda t, p: True, TIMEOUT)
    assert ctl is not None
    tool = client_factory("tools-x", presence=False)
    cmd = Command(id="c1", cmd="self_test", args={}, expires_at=time.time() + 60)
    tool.publish("hall/mini/t/d01/cmd", cmd.dumps())
    res = read(CommandResult, results.wait_for(lambda t, p: True, TIMEOUT))
    assert res.ok and res.message == "all ok"
    sim.unplug_unit(2)
    tool.publish("hall/mini/t/d01/cmd", Command("c2", "self_test", {}, time.time() + 60).dumps())
    res = read(CommandResult, results.wait_for(lambda t, p: b'"c2"' in p, TIMEOUT))
    assert not res.ok and "win02" in res.message
    assert prog.controller_state == "online"


def test_calls_made_while_it_was_briefly_away_are_announced_once_when_back(
    controller_factory,
    client_factory,
    display_factory: DisplayFactory,
    hall,
    sim,
    voice_root,
    sink: RecordingSink,
) -> None:
    """The broker keeps the calls for ``session_expiry_s`` (a restart, a network blip)."""
    controller_factory(hall)
    cfg = display_config(sim, voice_root)
    display_factory(cfg, hall).stop()
    kiosk = client_factory("k01", role="kiosk")
    w01 = client_factory("w01", role="window")
    w02 = client_factory("w02", role="window")
    for _ in range(2):
        assert kiosk.request("ticket.issue", {"service": "id_card_renew"}).ok
    assert w01.request("window.call_next", {}).ok  # nobody listening
    display_factory(cfg, hall)
    assert sink.wait_count(1, TIMEOUT)
    assert sim.wait_displayed(1, lambda d: d.ticket == "A001", 5)
    assert w02.request("window.call_next", {}).ok
    assert sink.wait_count(2, TIMEOUT)
    assert [h[0] for h in sink.heard()] == [said("A001", "1"), said("A002", "2")]
