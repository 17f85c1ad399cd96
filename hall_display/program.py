"""The display program (role ``display``): the window LEDs on this PC's RS-485 bus and
its speakers, fed by the controller over MQTT.

What it reads (``hall/{hall}/…``): the retained window board ``windows`` (what every
LED shows), the call events ``events/ticket/called`` and ``events/ticket/recalled``
(QoS 1: announcements and blinking), the controller's presence ``controller/state`` and
its own commands ``t/{me}/cmd``. What it writes: its presence (``HallClient``), one
retained device report per LED (``led-{window}``) and for the speaker (``speaker``) when
its state changes and on every connect, a heartbeat every ``heartbeat_s``, and command
results.

Handlers run on paho's network thread and never block: the rules
(:class:`~hall_display.rules.HallView`) decide under a lock, the LED thread
(:class:`~hall_display.leds.LedBus`) and the speaker's worker
(:class:`~hall_display.speaker.Speaker`) do the slow I/O.

In-process (the demo)::

    prog = hall_display.program.start(settings, hall_config)   # DisplayConfig, HallConfig
    ...
    prog.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar

from pydantic import ValidationError

from devices.display.modbus import WINDOW_CHARS, encode_chars
from devices.errors import ConfigError
from devices.state import DeviceState, DeviceStatus
from devices.voice.announcer import AudioSink, TtsFunc
from hall_contract.client import BrokerSettings, HallClient
from hall_contract.hallconfig import HallConfig
from hall_contract.messages import (
    Command,
    CommandResult,
    ControllerState,
    DeviceReport,
    Heartbeat,
    WindowBoard,
    presence_counts,
    read,
)
from hall_contract.topics import Topics
from hall_display.leds import LedBus
from hall_display.rules import CALL_EVENTS, Call, CallEvent, HallView
from hall_display.settings import DisplayConfig
from hall_display.speaker import Speaker

log = logging.getLogger(__name__)

T = TypeVar("T")
SPEAKER = "speaker"


def version() -> str:
    try:
        return metadata.version("hallkit")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"


def led_device(window: str) -> str:
    """The device name of a window's LED in device reports (``led-win01``)."""
    return f"led-{window}"


def _read(tp: type[T], payload: bytes, what: str) -> T | None:
    """``payload`` as ``tp``, or None (logged without the payload)."""
    try:
        return read(tp, payload)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        log.warning(
            "ignoring a malformed %s: %d problem(s), first %s at %s",
            what,
            err.error_count(),
            first["type"],
            ".".join(str(p) for p in first["loc"]) or "(top)",
        )
        return None


def check(cfg: DisplayConfig, hall: HallConfig) -> list[str]:
    """What is wrong with ``cfg`` for ``hall`` (empty: nothing)."""
    problems: list[str] = []
    windows = {w.id: w for w in hall.windows}
    term = next((t for t in hall.terminals if t.id == cfg.terminal_id), None)
    if term is not None and term.role != "display":
        problems.append(
            f"terminal_id {cfg.terminal_id!r} is a {term.role} terminal in the hall config, "
            "not a display"
        )
    view = HallView(names={w.id: w.name for w in hall.windows}, numbers=cfg.window_numbers)
    for wid in cfg.window_numbers:
        if wid not in windows:
            problems.append(f"window_numbers: the hall has no window {wid!r}")
    if cfg.leds is not None:
        for wid in cfg.leds.windows:
            if wid not in windows:
                problems.append(f"leds.windows: the hall has no window {wid!r}")
                continue
            try:
                encode_chars(view.label(wid), WINDOW_CHARS)
            except ConfigError as err:
                problems.append(
                    f"leds.windows: {wid}: its number {view.label(wid)!r} cannot be shown "
                    f"({err}); set window_numbers.{wid}"
                )
    if cfg.speaker is not None:
        said = cfg.speaker.windows if cfg.speaker.windows is not None else list(windows)
        for wid in said:
            if wid not in windows:
                problems.append(f"speaker.windows: the hall has no window {wid!r}")
            elif not view.label(wid):
                problems.append(
                    f"speaker: window {wid} ({windows[wid].name}) has no number to announce; "
                    f"set window_numbers.{wid}"
                )
    return problems


class DisplayProgram:
    """The program; :func:`start` builds and starts one."""

    def __init__(
        self,
        cfg: DisplayConfig,
        hall: HallConfig,
        *,
        broker: BrokerSettings | None = None,
        sink: AudioSink | None = None,
        tts: TtsFunc | None = None,
    ) -> None:
        problems = check(cfg, hall)
        if problems:
            raise ConfigError("; ".join(problems))
        if not any(t.id == cfg.terminal_id for t in hall.terminals):
            log.warning(
                "terminal %s is not in the hall config (add it with role display; a broker "
                "with passwords will not let it in)",
                cfg.terminal_id,
            )
        self.cfg = cfg
        self.hall = hall
        self.topics = Topics(hall.hall.id)
        self.view = HallView(
            digits=cfg.leds.digits if cfg.leds else 4,
            idle=cfg.led_rules.idle,
            names={w.id: w.name for w in hall.windows},
            numbers=cfg.window_numbers,
        )
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._reported: dict[str, tuple[str, str]] = {}
        self._commands_seen: set[str] = set()
        self.controller_state: str | None = None
        self._controller_seq = -1
        self.started_at = time.monotonic()
        #: called (on the MQTT thread) for every new call, announced or not
        self.on_call: Callable[[Call], None] | None = None

        self.client = HallClient(
            self.topics,
            cfg.terminal_id,
            broker or cfg.broker_settings(hall),
            role="display",
            version=version(),
            session_expiry=cfg.session_expiry_s,
        )
        self.leds: LedBus | None = None
        self.speaker: Speaker | None = None
        try:
            if cfg.leds is not None:
                self.leds = LedBus(cfg.leds, cfg.led_rules, on_status=self._led_status)
            voice = cfg.voice_settings()
            if voice is not None:
                self.speaker = Speaker(voice, sink=sink, tts=tts)
                self.speaker.holder.subscribe(lambda st: self._report(SPEAKER, st))
        except BaseException:
            self._close_devices()
            raise
        self.client.on_connection_change = self._connection
        self.client.subscribe(self.topics.windows, self._on_board)
        for kind in CALL_EVENTS:
            self.client.subscribe(self.topics.event(kind), self._on_call)
        self.client.subscribe(self.topics.controller_state, self._on_controller)
        self.client.subscribe(self.topics.command(cfg.terminal_id), self._on_command)
        self._hb = threading.Thread(target=self._heartbeats, name="display-hb", daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, wait: float | None = 10.0) -> DisplayProgram:
        if self.leds is not None:
            self.leds.start()
        self.client.start(wait=wait)
        self._hb.start()
        leds = "no LEDs"
        if self.leds is not None:
            leds = f"{len(self.leds.slots)} LED(s) on {self.leds.settings.port}"
        log.info(
            "display %s of hall %s: %s, %s",
            self.cfg.terminal_id,
            self.hall.hall.id,
            leds,
            "speaker on" if self.speaker else "no speaker",
        )
        return self

    def wait_ready(self, timeout: float) -> bool:
        """Until connected and the window board has arrived (so the subscriptions are in
        place: the board comes with them)."""
        return self._ready.wait(timeout)

    def stop(self) -> None:
        """Stop: the announcement playing finishes, the queued ones are dropped; the
        LEDs keep what they show; presence goes ``offline``."""
        self._stop.set()
        self.client.stop()
        if self._hb.is_alive():
            self._hb.join(2)
        self._close_devices()

    def _close_devices(self) -> None:
        if self.leds is not None:
            self.leds.stop()
        if self.speaker is not None:
            self.speaker.close()

    def __enter__(self) -> DisplayProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inbound (paho's network thread) --------------------------------------------------
    def _on_board(self, topic: str, payload: bytes, msg: Any) -> None:
        if not payload:  # the retained board was cleared: keep showing what we have
            return
        board = _read(WindowBoard, payload, "window board")
        if board is None:
            return
        with self._lock:
            self.view.on_board(board)
            self._push_leds()
        self._ready.set()

    def _on_call(self, topic: str, payload: bytes, msg: Any) -> None:
        event = _read(CallEvent, payload, "call event")
        if event is None:
            return
        with self._lock:
            call = self.view.on_call(event)
            if call is None:
                log.debug("call seq %d seen before: not announced again", event.seq)
                return
            self._push_leds(call.window)
        log.info(
            "%s %s → %s (seq %d)",
            "recall" if call.recall else "call",
            call.number,
            call.window,
            call.seq,
        )
        if self.speaker is not None and self.speaker.wants(call.window):
            self.speaker.announce(call)
        if self.on_call is not None:
            self.on_call(call)

    def _push_leds(self, only: str | None = None) -> None:
        """Called with the lock held: hand the LED thread what each display should show."""
        if self.leds is None:
            return
        for wid in [only] if only is not None else list(self.leds.slots):
            self.leds.set(wid, self.view.content(wid))

    def _on_controller(self, topic: str, payload: bytes, msg: Any) -> None:
        if not payload:
            self.controller_state = None
            return
        st = _read(ControllerState, payload, "controller state")
        if st is None or not presence_counts(st.state, st.seq, self._controller_seq):
            return
        self._controller_seq = st.seq
        if st.state != self.controller_state:
            (log.info if st.state == "online" else log.warning)(
                "controller is %s%s",
                st.state,
                "" if st.state == "online" else ": the LEDs keep what they show",
            )
        self.controller_state = st.state

    def _on_command(self, topic: str, payload: bytes, msg: Any) -> None:
        cmd = _read(Command, payload, "command")
        if cmd is None or cmd.id in self._commands_seen:
            return
        self._commands_seen.add(cmd.id)
        if cmd.expires_at < time.time():
            self._command_result(CommandResult(id=cmd.id, ok=False, message="expired"))
            return
        if cmd.cmd != "self_test":
            self._command_result(
                CommandResult(
                    id=cmd.id, ok=False, message=f"{cmd.cmd} is not supported by the display"
                )
            )
            return
        threading.Thread(target=self._self_test, args=(cmd,), name="display-selftest").start()

    def _self_test(self, cmd: Command) -> None:
        problems = []
        if self.leds is not None:
            problems += [f"{w}: {why}" for w, why in self.leds.self_test().items() if why]
        if self.speaker is not None and not self.speaker.status.usable:
            problems.append(f"speaker: {self.speaker.status.reason}")
        self._command_result(
            CommandResult(id=cmd.id, ok=not problems, message="; ".join(problems) or "all ok")
        )

    def _command_result(self, res: CommandResult) -> None:
        self.client.publish(self.topics.command_result(self.cfg.terminal_id), res.dumps())

    # -- outbound -------------------------------------------------------------------------
    def _led_status(self, window: str, status: DeviceStatus) -> None:
        self._report(led_device(window), status)

    def _report(self, device: str, status: DeviceStatus, *, force: bool = False) -> None:
        """A retained device report when the state changes (busy counts as ready: the
        speaker is busy at every call)."""
        if self._stop.is_set():
            return  # stopping: the presence says offline, devices are not reported
        state = DeviceState.READY if status.state is DeviceState.BUSY else status.state
        with self._lock:
            last = self._reported.get(device)
            if last is not None and last[0] == state.value and not force:
                return
            self._reported[device] = (state.value, status.reason)
        if last is None or last[0] != state.value:
            bad = state in (DeviceState.ABSENT, DeviceState.FAULT, DeviceState.DEGRADED)
            level = logging.WARNING if bad else logging.INFO
            if state is DeviceState.CONNECTING:
                level = logging.DEBUG
            why = f" ({status.reason})" if status.reason and status.reason != state.value else ""
            log.log(level, "%s: %s%s", device, state.value, why)
        rep = DeviceReport(
            device=device,
            state=state.value,  # type: ignore[arg-type]
            reason=status.reason[:200],
            at=time.time(),
        )
        self.client.publish(
            self.topics.device(self.cfg.terminal_id, device), rep.dumps(), retain=True
        )

    def device_statuses(self) -> dict[str, DeviceStatus]:
        out: dict[str, DeviceStatus] = {}
        if self.leds is not None:
            out.update({led_device(w): st for w, st in self.leds.statuses().items()})
        if self.speaker is not None:
            out[SPEAKER] = self.speaker.status
        return out

    def _connection(self, up: bool) -> None:
        if not up:
            return
        for device, status in self.device_statuses().items():
            self._report(device, status, force=True)
        self._heartbeat()

    def _heartbeat(self) -> None:
        hb = Heartbeat(at=time.time(), uptime_s=round(time.monotonic() - self.started_at, 1))
        self.client.publish(self.topics.heartbeat(self.cfg.terminal_id), hb.dumps(), qos=0)

    def _heartbeats(self) -> None:
        while not self._stop.wait(self.cfg.heartbeat_s):
            if self.client.connected:
                self._heartbeat()


def start(
    settings: DisplayConfig,
    hall: HallConfig,
    *,
    broker: BrokerSettings | None = None,
    sink: AudioSink | None = None,
    tts: TtsFunc | None = None,
    wait: float | None = 10.0,
) -> DisplayProgram:
    """Build and start the display program in this process; ``.stop()`` ends it.
    ``broker``: instead of ``settings.broker_url`` / the hall config's broker. ``sink``:
    where the speaker's WAVs go instead of ``settings.speaker.driver``'s player."""
    return DisplayProgram(settings, hall, broker=broker, sink=sink, tts=tts).start(wait=wait)
