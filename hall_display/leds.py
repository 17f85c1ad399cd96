"""The window LEDs of one RS-485 bus, driven by one thread.

The program hands each window's wanted :class:`~hall_display.rules.LedContent` to
:meth:`LedBus.set` (never blocking: the MQTT thread does it); this thread writes what
changed, one display at a time, through the ``devices.display`` driver:

* **Only changes are written.** What each display was last seen showing is kept; a
  content equal to it costs no bus traffic. A number is written with a blink when its
  call serial is new (see :mod:`hall_display.rules`), steady otherwise.
* **A display that fails does not hold up the others.** Its write is given up at the
  driver's timeout and tried again after ``retry_initial_s``, doubling up to
  ``retry_max_s``, while the other displays are written meanwhile. When it answers again
  it is given what it should show now (and its brightness).
* **Displays are read back**, each every ``verify_s`` (one at a time): a module that lost
  power came back dark, and one unplugged stops answering; either way it is repaired as
  soon as it answers. The driver's status of each display (ready / absent / fault) goes
  to ``on_status`` when it changes; a display is reported absent only after
  ``absent_after`` tries in a row failed, so one lost reply raises no staff alert.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from devices.display.base import DisplayContent, WindowDisplay
from devices.display.group import DisplayGroup, open_display_group
from devices.display.settings import DisplaySettings
from devices.errors import ConfigError, DeviceError
from devices.state import DeviceState, DeviceStatus
from hall_display.rules import LedContent
from hall_display.settings import LedRules

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, DeviceStatus], None]


@dataclass
class Slot:
    """One window's display and what the thread knows of it."""

    window: str
    display: WindowDisplay
    wanted: LedContent | None = None
    #: what it was last seen showing (None: not known, so it is written in full)
    shown: tuple[str, str, int] | None = None
    #: the call serial it last blinked for
    blinked: int = 0
    failures: int = 0
    retry_at: float = 0.0
    check_at: float = 0.0
    writes: int = 0
    #: a content the module cannot show (refused before anything went on the wire)
    refused: LedContent | None = None
    #: the status last handed to ``on_status``
    reported: DeviceStatus | None = None

    def needs_write(self) -> bool:
        w = self.wanted
        if w is None or w == self.refused:
            return False
        return self.shown != w.visual or (w.is_number and w.call != 0 and w.call != self.blinked)


class LedBus:
    """The displays of ``settings.windows`` (window id → Modbus unit) on one bus."""

    def __init__(
        self,
        settings: DisplaySettings,
        rules: LedRules | None = None,
        *,
        on_status: StatusCallback | None = None,
        group: DisplayGroup | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.rules = rules or LedRules()
        self.on_status = on_status
        self.clock = clock
        self.group = group if group is not None else open_display_group(settings)
        self.slots = {w: Slot(w, self.group[w]) for w in settings.windows}
        self._cv = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="display-leds", daemon=True)
        for slot in self.slots.values():
            # not "absent" before the first contact: that would raise a staff alert
            slot.reported = slot.display.holder.set(DeviceState.CONNECTING, "not contacted yet")

    # -- the program's side --------------------------------------------------------------
    def start(self) -> LedBus:
        self._thread.start()
        return self

    def set(self, window: str, content: LedContent | None) -> None:
        """What ``window``'s display should show now (None: leave it as it is)."""
        slot = self.slots.get(window)
        if slot is None or content is None:
            return
        with self._cv:
            if slot.wanted != content:
                slot.wanted = content
                self._cv.notify_all()

    def statuses(self) -> dict[str, DeviceStatus]:
        """Each display's status as reported (see ``absent_after``)."""
        with self._cv:
            return {w: s.reported or s.display.status for w, s in self.slots.items()}

    def self_test(self) -> dict[str, str]:
        """Ask every display to answer (blocks for the bus); window → problem ("" ok)."""
        return {w: "" if r.ok else r.reason for w, r in self.group.self_test().items()}

    def stop(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.group.close()

    # -- the thread ----------------------------------------------------------------------
    def _report(self, slot: Slot) -> None:
        """Hand the display's status to ``on_status`` if it changed (a failure only once
        ``absent_after`` tries in a row failed)."""
        status = slot.display.status
        with self._cv:
            failing = status.state in (DeviceState.ABSENT, DeviceState.FAULT)
            if failing and slot.refused is None and slot.failures < self.rules.absent_after:
                return
            last = slot.reported
            if last is not None and last.state == status.state:
                return
            slot.reported = status
        if self.on_status is not None:
            try:
                self.on_status(slot.window, status)
            except Exception:
                log.exception("reporting the status of the LED of %s failed", slot.window)

    def _next(self, now: float) -> tuple[Slot, str] | float:
        """Called with the lock held: the next (slot, "write"|"check") due, else how long
        to wait for one."""
        wake = now + 3600.0
        for slot in self.slots.values():
            if slot.needs_write():
                if slot.retry_at <= now:
                    return slot, "write"
                wake = min(wake, slot.retry_at)
        for slot in self.slots.values():
            if slot.check_at <= now:
                return slot, "check"
            wake = min(wake, slot.check_at)
        return wake - now

    def _run(self) -> None:
        now = self.clock()
        for i, slot in enumerate(self.slots.values()):
            # first contact spread over the first second; later checks every verify_s
            slot.check_at = now + i * min(1.0, self.rules.verify_s) / max(1, len(self.slots))
        while True:
            with self._cv:
                while True:
                    if self._stopping:
                        return
                    due = self._next(self.clock())
                    if not isinstance(due, float):
                        break
                    self._cv.wait(max(0.0, due))
                slot, action = due
                wanted = slot.wanted
            try:
                if action == "write" and wanted is not None:
                    self._write(slot, wanted)
                else:
                    self._check(slot)
            except Exception:  # a driver bug must not stop the other displays
                log.exception("LED of %s: unexpected error", slot.window)
                self._failed(slot, "unexpected error")

    def _failed(self, slot: Slot, why: str) -> None:
        with self._cv:
            first = slot.failures == 0
            slot.failures += 1
            slot.shown = None
            delay = min(
                self.rules.retry_initial_s * 2 ** (slot.failures - 1), self.rules.retry_max_s
            )
            slot.retry_at = slot.check_at = self.clock() + delay
        (log.warning if first else log.debug)(
            "LED of %s: %s; trying again in %.1f s", slot.window, why, delay
        )
        self._report(slot)

    def _answered(self, slot: Slot) -> None:
        with self._cv:
            if slot.failures:
                log.info("LED of %s answers again", slot.window)
            slot.failures = 0
            slot.retry_at = 0.0
            slot.check_at = self.clock() + self.rules.verify_s
        self._report(slot)

    def _write(self, slot: Slot, content: LedContent) -> None:
        d = slot.display
        fresh = slot.shown is None
        blink = content.is_number and content.call != 0 and content.call != slot.blinked
        try:
            if content.legend:
                d.show_legend(content.legend, content.window)
            elif content.ticket:
                d.show(content.ticket, content.window, blink=self.settings.blink if blink else 0)
            else:
                d.clear()
            if fresh:
                d.set_brightness(self.settings.brightness)
        except ConfigError as err:
            # a content this module cannot show (a setting's fault): say so, do not loop
            d.holder.set(DeviceState.FAULT, f"cannot show {content.describe()}: {err}")
            log.error("LED of %s cannot show %s: %s", slot.window, content.describe(), err)
            with self._cv:
                slot.refused = content
            self._report(slot)
            return
        except DeviceError as err:
            self._failed(slot, f"writing {content.describe()} failed: {err}")
            return
        with self._cv:
            slot.shown = content.visual
            slot.refused = None
            slot.writes += 1
            if blink:
                slot.blinked = content.call
        self._answered(slot)
        log.info("LED of %s: %s%s", slot.window, content.describe(), " (blinking)" if blink else "")

    def _check(self, slot: Slot) -> None:
        try:
            seen = slot.display.read_back()
        except DeviceError as err:
            self._failed(slot, f"does not answer ({err})")
            return
        with self._cv:
            shown = slot.shown
            if seen is not None and shown is not None and not self._same(seen, shown):
                log.warning(
                    "LED of %s shows %r, not %r (power cut?): writing it again",
                    slot.window,
                    seen,
                    shown,
                )
                slot.shown = None
        if slot.display.status.state is DeviceState.CONNECTING:  # a driver without states
            slot.display.holder.set(DeviceState.READY, "ready")
        self._answered(slot)

    def _same(self, seen: DisplayContent, shown: tuple[str, str, int]) -> bool:
        ticket, window, legend = shown
        return (
            seen.ticket.upper() == ticket.upper()
            and seen.window == window
            and seen.legend == legend
            and seen.brightness == self.settings.brightness
        )
