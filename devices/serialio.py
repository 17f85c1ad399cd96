"""Serial transport shared by every serial device: open by URL, timeouts, reconnect, frame log.

Every port is a pyserial URL handed to :func:`serial.serial_for_url`: a device path
(``/dev/ttyUSB0``), ``socket://127.0.0.1:7001`` (a simulator in another process),
``loop://`` (in-memory), ``spy:///dev/ttyUSB0`` (hexdump on site) or
``hwgrep://VID:PID`` (find a USB device by its id, not by enumeration order).

What this module adds on top of pyserial:

* pyserial's exceptions are translated into :mod:`devices.errors`;
* :class:`Backoff` — bounded exponential reconnect delays;
* :class:`FrameLog` — hex of every frame at DEBUG plus a ring of the last 20 frames that
  is dumped (at WARNING) when something goes wrong; :class:`FailureLog` makes that once
  per run of failures, with a summary when the device works again. Drivers pass a
  *redactor* for frames that carry personal data (the ID card text block), so the log
  never holds it.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import serial

from devices.errors import ConfigError, DeviceTimeout, DeviceUnavailable

log = logging.getLogger(__name__)

try:
    import termios

    _TERMIOS_ERRORS: tuple[type[BaseException], ...] = (termios.error,)
except ImportError:  # pragma: no cover - Windows
    _TERMIOS_ERRORS = ()

#: What pyserial raises when a port dies under us (socket/pty peers gone, USB unplugged;
#: ValueError: a socket:// port whose socket was closed while a reader waited on it,
#: select() on file descriptor -1).
PORT_ERRORS: tuple[type[BaseException], ...] = (
    serial.SerialException,
    OSError,
    TypeError,
    AttributeError,
    ValueError,
    *_TERMIOS_ERRORS,
)

#: Frames kept in the ring buffer.
RING_SIZE = 20

Redactor = Callable[[bytes], str]


def hex_bytes(data: bytes) -> str:
    """``AA AA 96`` style hex, the form technicians compare with protocol documents."""
    return data.hex(" ").upper()


def line_seconds(n_bytes: int, baud: int, bits_per_byte: int = 10) -> float:
    """Time ``n_bytes`` take on the wire at ``baud`` (8N1: 10 bits a byte)."""
    return n_bytes * bits_per_byte / baud


@dataclass(frozen=True)
class FrameRecord:
    at: float
    direction: str  # "tx", "rx" or "note"
    text: str

    def line(self) -> str:
        stamp = (
            time.strftime("%H:%M:%S", time.localtime(self.at))
            + f".{int(self.at * 1000) % 1000:03d}"
        )
        return f"{stamp} {self.direction} {self.text}"


class FrameLog:
    """Hex frames at DEBUG and a ring of the last :data:`RING_SIZE` to dump on error."""

    def __init__(self, name: str, logger: logging.Logger | None = None, size: int = RING_SIZE):
        self.name = name
        self._log = logger or log
        self._ring: collections.deque[FrameRecord] = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, direction: str, data: bytes, redact: Redactor | None = None) -> None:
        text = redact(data) if redact is not None else hex_bytes(data)
        with self._lock:
            self._ring.append(FrameRecord(time.time(), direction, text))
        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("%s %s %s", self.name, direction, text)

    def note(self, text: str) -> None:
        with self._lock:
            self._ring.append(FrameRecord(time.time(), "note", text))

    def lines(self) -> list[str]:
        with self._lock:
            return [r.line() for r in self._ring]

    def dump(self, reason: str, level: int = logging.WARNING) -> list[str]:
        """Log the ring (oldest first) after a failure; returns the lines too."""
        lines = self.lines()
        if self._log.isEnabledFor(level):
            self._log.log(
                level,
                "%s: %s; last %d frames:\n  %s",
                self.name,
                reason,
                len(lines),
                "\n  ".join(lines) or "(none)",
            )
        return lines

    def clear(self) -> None:
        with self._lock:
            self._ring.clear()

    @property
    def logger(self) -> logging.Logger:
        return self._log


class FailureLog:
    """Logs a run of failures of one device once, not once per failure.

    A reader that stays faulty (noise, wrong baud rate) fails every exchange; dumping the
    frame ring at WARNING each time gave ~10 dumps a second (~750 MB of log a day). Here:

    * the first failure of a run dumps the ring at WARNING; later ones only at DEBUG;
    * the first success after a reported run logs one INFO summary (how many failures,
      over how long);
    * a new run that starts within ``quiet_s`` of the last WARNING is not reported at
      WARNING again (a line that fails now and then would still log two lines a poll):
      it goes to DEBUG, and the device state still tells the technician.

    Not thread-safe on its own: the driver calls it under its I/O lock. ``clock`` is
    injectable so tests need no sleeping.
    """

    def __init__(
        self,
        frames: FrameLog,
        *,
        quiet_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.frames = frames
        self.quiet_s = quiet_s
        self._clock = clock
        self._run_started: float | None = None
        self._warned_at: float | None = None
        self._reported = False
        self.failures = 0
        """Failures in the current run (0 when the last exchange worked)."""

    @property
    def failing(self) -> bool:
        return self._run_started is not None

    def failed(self, reason: str) -> None:
        now = self._clock()
        if self._run_started is None:
            self._run_started = now
            self.failures = 0
            self._reported = False
        self.failures += 1
        quiet = self._warned_at is not None and now - self._warned_at < self.quiet_s
        if self.failures == 1 and not quiet:
            self._warned_at = now
            self._reported = True
            self.frames.dump(
                f"{reason} (further failures are counted, not logged, until it works again)"
            )
        else:
            self.frames.dump(f"{reason} (failure {self.failures} in a row)", logging.DEBUG)

    def succeeded(self) -> None:
        if self._run_started is None:
            return
        took = self._clock() - self._run_started
        self.frames.logger.log(
            logging.INFO if self._reported else logging.DEBUG,
            "%s: works again after %d failed exchange(s) over %.1f s",
            self.frames.name,
            self.failures,
            took,
        )
        self._run_started = None
        self.failures = 0
        self._reported = False


class Backoff:
    """Bounded exponential backoff: initial, initial×factor, … capped at ``maximum``."""

    def __init__(self, initial: float = 0.2, factor: float = 2.0, maximum: float = 10.0):
        if initial <= 0 or factor < 1 or maximum < initial:
            raise ConfigError("backoff needs initial > 0, factor >= 1, maximum >= initial")
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.initial


class ReconnectGate:
    """When a driver that reopens "on next use" may try again: bounded exponential backoff.

    :meth:`SerialLink.reconnect` blocks its own reader thread between tries; drivers
    without one (the printer's poll thread, the Modbus bus used from the caller's thread)
    instead ask :meth:`ready` before each attempt to open the port, call :meth:`failed`
    after a failed attempt (the next one is allowed after the next backoff delay:
    initial, ×factor, … capped) and :meth:`succeeded` after a good one (back to the
    initial delay). ``clock`` is injectable so tests need no sleeping.
    """

    def __init__(
        self, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._not_before = 0.0
        self._lock = threading.Lock()
        self.failures = 0
        """Failed attempts in a row (0 after a success)."""

    def remaining(self) -> float:
        """Seconds until the next attempt is allowed (0 = now)."""
        with self._lock:
            return max(0.0, self._not_before - self._clock())

    def ready(self) -> bool:
        return self.remaining() == 0.0

    def failed(self) -> float:
        """Record a failed attempt; returns the delay before the next one."""
        with self._lock:
            delay = self.backoff.next_delay()
            self._not_before = self._clock() + delay
            self.failures += 1
            return delay

    def succeeded(self) -> None:
        with self._lock:
            self.backoff.reset()
            self._not_before = 0.0
            self.failures = 0


def open_port(
    url: str,
    baudrate: int = 115200,
    *,
    timeout: float | None = 0.1,
    write_timeout: float | None = 1.0,
    exclusive: bool = False,
) -> serial.SerialBase:
    """Open ``url`` with :func:`serial.serial_for_url`; errors become :mod:`devices.errors`."""
    if not url:
        raise ConfigError("no port configured")
    kwargs: dict[str, object] = {
        "baudrate": baudrate,
        "timeout": timeout,
        "write_timeout": write_timeout,
    }
    if exclusive and "://" not in url:
        kwargs["exclusive"] = True
    try:
        return serial.serial_for_url(url, **kwargs)
    except ValueError as err:  # bad URL or parameter
        raise ConfigError(f"cannot use port {url!r}: {err}") from err
    except (serial.SerialException, OSError) as err:
        raise DeviceUnavailable(f"cannot open port {url!r}: {err}") from err


class SerialLink:
    """One device port: open/close, write, read with a deadline, reconnect with backoff.

    Thread-safety: one reader/writer thread at a time (the driver's); :meth:`close` may be
    called from any thread and interrupts a reconnect wait.
    """

    def __init__(
        self,
        url: str,
        baudrate: int = 115200,
        *,
        name: str = "port",
        backoff: Backoff | None = None,
        logger: logging.Logger | None = None,
        write_timeout: float = 1.0,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.name = name
        self.backoff = backoff or Backoff()
        self.frames = FrameLog(name, logger)
        self.write_timeout = write_timeout
        self._port: serial.SerialBase | None = None
        self._closed = threading.Event()

    # -- lifecycle -------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._port is not None and bool(self._port.is_open)

    def open(self) -> None:
        self._closed.clear()
        if self.is_open:
            return
        self._port = open_port(
            self.url, self.baudrate, timeout=0.1, write_timeout=self.write_timeout
        )
        self.frames.note(f"opened {self.url} at {self.baudrate} bps")

    def close(self) -> None:
        """Close the port and wake any :meth:`reconnect` wait. Safe to call twice."""
        self._closed.set()
        self.drop()

    def drop(self) -> None:
        """Close the port after a failure (a later :meth:`reconnect` reopens it)."""
        port, self._port = self._port, None
        if port is not None:
            try:
                cancel = getattr(port, "cancel_read", None)
                if cancel is not None:
                    cancel()  # wake a reader blocked in select (posix ports)
                port.close()
            except PORT_ERRORS as err:  # closing a dead port
                log.debug("%s: error while closing: %s", self.name, err)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless :meth:`close` is called; returns True if closed."""
        return self._closed.wait(seconds)

    def reconnect(self, attempts: int | None = None) -> bool:
        """Drop the port and reopen it, waiting with backoff between tries.

        Returns True once open, False if closed meanwhile or ``attempts`` ran out.
        """
        self.drop()
        tries = 0
        while not self._closed.is_set():
            try:
                self._port = open_port(
                    self.url, self.baudrate, timeout=0.1, write_timeout=self.write_timeout
                )
            except DeviceUnavailable as err:
                tries += 1
                delay = self.backoff.next_delay()
                log.info("%s: still unavailable (%s); retry in %.1f s", self.name, err, delay)
                if attempts is not None and tries >= attempts:
                    return False
                if self._closed.wait(delay):
                    return False
            else:
                self.backoff.reset()
                self.frames.note(f"reopened {self.url}")
                log.info("%s: reconnected to %s", self.name, self.url)
                return True
        return False

    # -- I/O -------------------------------------------------------------------------
    def _require(self) -> serial.SerialBase:
        port = self._port
        if port is None:
            raise DeviceUnavailable(f"{self.name}: port {self.url} is not open")
        return port

    def write(self, data: bytes, redact: Redactor | None = None) -> None:
        port = self._require()
        self.frames.record("tx", data, redact)
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException as err:
            raise DeviceTimeout(f"{self.name}: write timed out") from err
        except PORT_ERRORS as err:
            # TypeError/AttributeError: pyserial's socket/pty code after the peer vanished
            raise DeviceUnavailable(f"{self.name}: write failed: {err}") from err

    def read_some(self, deadline: float) -> bytes:
        """Whatever arrives before ``deadline`` (monotonic): at least one byte, or b""."""
        port = self._require()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            remaining = 0.0
        try:
            port.timeout = remaining
            waiting = port.in_waiting
            return bytes(port.read(max(1, waiting)))
        except PORT_ERRORS as err:
            raise DeviceUnavailable(f"{self.name}: read failed: {err}") from err

    def discard_input(self) -> int:
        """Throw away bytes already received (stale replies); returns how many."""
        port = self._require()
        try:
            waiting = port.in_waiting
            if waiting:
                port.timeout = 0
                stale = port.read(waiting)
                self.frames.note(f"discarded {len(stale)} stale bytes")
                return len(stale)
        except PORT_ERRORS as err:
            raise DeviceUnavailable(f"{self.name}: read failed: {err}") from err
        return 0
