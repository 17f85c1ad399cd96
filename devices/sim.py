"""Simulator plumbing: serve a device protocol handler over a pty or a TCP socket.

A *handler* (see :class:`Handler`) turns received bytes into reply frames; this module
does the I/O around it, like a device on the other end of a cable:

* a pty (:func:`os.openpty`): the driver opens the slave path as a serial device; an
  optional stable symlink (like ``/dev/serial/by-id/…``) survives unplug/replug;
* a TCP socket on 127.0.0.1 (port 0 = pick a free one): the driver opens ``socket://…``;
* real line timing: at ``baud`` every byte takes 10/baud s in both directions
  (requests are "received" once their last byte would have arrived, replies are paced
  against absolute deadlines so sleep jitter never accumulates);
* fault injection (:class:`Fault`): no reply, partial frame, corrupted checksum (last byte
  flipped, by default), slow line, unplug.

One background thread per server, woken by a self-pipe, so an idle simulator costs no CPU.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import queue
import selectors
import socket
import threading
import time
import tty
from collections.abc import Callable
from typing import Protocol

from devices.errors import ConfigError, DeviceUnavailable
from devices.serialio import hex_bytes

log = logging.getLogger(__name__)


class Handler(Protocol):
    """A device's wire behaviour: bytes in, reply frames out (empty list = no reply)."""

    def on_data(self, data: bytes) -> list[bytes]: ...


class Fault(enum.StrEnum):
    NONE = "none"
    NO_REPLY = "no_reply"  #: swallow the reply
    PARTIAL = "partial"  #: send the first half of the reply, then nothing
    CORRUPT = "corrupt"  #: flip bits in the reply's last byte (its checksum)
    SLOW = "slow"  #: send the reply at ``slow_baud``
    UNPLUG = "unplug"  #: close the line and stop answering until :meth:`SimServer.replug`


def corrupt_last_byte(frame: bytes) -> bytes:
    if not frame:
        return frame
    return frame[:-1] + bytes([frame[-1] ^ 0x5A])


class FaultPlan:
    """Faults to apply to the next replies; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._sticky = Fault.NONE

    def inject(self, fault: Fault, count: int | None = 1) -> None:
        """Apply ``fault`` to the next ``count`` replies (``None`` = until :meth:`clear`)."""
        with self._lock:
            if count is None:
                self._sticky = fault
            else:
                self._queue.extend([fault] * count)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._sticky = Fault.NONE

    def take(self) -> Fault:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
            return self._sticky


class SimServer:
    """Serve one :class:`Handler` over a pty or TCP, with line timing and faults."""

    def __init__(
        self,
        handler: Handler,
        *,
        baud: int | None = None,
        slow_baud: int = 1200,
        name: str = "sim",
        corrupt: Callable[[bytes], bytes] = corrupt_last_byte,
    ) -> None:
        self.handler = handler
        self.baud = baud
        self.slow_baud = slow_baud
        self.name = name
        self.faults = FaultPlan()
        self._corrupt = corrupt
        #: how frames appear in the log; a handler carrying personal data (the ID card
        #: text block) provides ``redact`` so even simulated people never reach a log
        self._redact: Callable[[bytes], str] = getattr(handler, "redact", hex_bytes)
        self._mode: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sel: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = -1, -1
        self._outbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._unplugged = False
        # pty
        self._master = -1
        self._slave = -1
        self.slave_path = ""
        self.link_path: str | None = None
        # tcp
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.received = bytearray()  #: everything the driver sent (tests check commands)
        self.replies_sent = 0
        self._sent_cond = threading.Condition()
        self.connected = threading.Event()

    # -- start/stop ------------------------------------------------------------------
    def start_pty(self, link_path: str | None = None) -> str:
        """Serve on a new pty; returns the path the driver opens (the symlink if given)."""
        self._mode = "pty"
        self.link_path = link_path
        self._open_pty()
        self._start_thread()
        return self.url

    def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on TCP; returns ``socket://host:port``."""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError("simulators listen on loopback only")
        self._mode = "tcp"
        self.host = host
        self._listen(port)
        self._start_thread()
        return self.url

    @property
    def url(self) -> str:
        if self._mode == "tcp":
            return f"socket://{self.host}:{self.port}"
        return self.link_path or self.slave_path

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        if self.link_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link_path)
            os.symlink(self.slave_path, self.link_path)

    def _listen(self, port: int) -> None:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            lst.bind((self.host, port))
        except OSError as err:
            lst.close()
            raise DeviceUnavailable(
                f"{self.name}: cannot listen on {self.host}:{port}: {err}"
            ) from err
        lst.listen(1)
        lst.setblocking(False)
        self._listener = lst
        self.port = lst.getsockname()[1]

    def _start_thread(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._register_line()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-server", daemon=True)
        self._thread.start()

    def _register_line(self) -> None:
        assert self._sel is not None
        if self._mode == "pty" and self._master >= 0:
            self._sel.register(self._master, selectors.EVENT_READ, "line")
            self.connected.set()
        elif self._mode == "tcp" and self._listener is not None:
            self._sel.register(self._listener, selectors.EVENT_READ, "accept")

    def stop(self) -> None:
        """Stop the thread and close everything. Safe to call twice."""
        self._stop.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._thread = None
        with self._lock:
            self._close_line()
            if self._sel is not None:
                self._sel.close()
                self._sel = None
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- unplug / replug -------------------------------------------------------------
    def unplug(self) -> None:
        """Pull the cable: close the line; a pty's slave and a TCP listener go away."""
        with self._lock:
            self._unplugged = True
            self._close_line()
        self._wake()

    def replug(self) -> None:
        """Plug back in: a new pty (same symlink) or the same TCP port."""
        with self._lock:
            if not self._unplugged:
                return
            if self._mode == "pty":
                self._open_pty()
            else:
                self._listen(self.port)
            self._unplugged = False
            if self._sel is not None:
                self._register_line()
        self._wake()

    def _close_line(self) -> None:
        self.connected.clear()
        for fd_obj in (self._client, self._listener):
            if fd_obj is not None:
                if self._sel is not None:
                    with contextlib.suppress(KeyError, ValueError):
                        self._sel.unregister(fd_obj)
                fd_obj.close()
        self._client = self._listener = None
        if self._master >= 0:
            if self._sel is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
            if self.link_path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.link_path)

    # -- sending unsolicited data (a scanner's code) -----------------------------------
    def send(self, data: bytes) -> None:
        """Queue ``data`` for the driver (faults apply as to replies)."""
        self._outbox.put(data)
        self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")

    # -- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                sel = self._sel
                if sel is None:
                    return
                for key, _ in sel.select():
                    if key.data == "wake":
                        with contextlib.suppress(OSError):
                            os.read(self._wake_r, 4096)
                        self._flush_outbox()
                    elif key.data == "accept":
                        self._accept()
                    elif key.data == "line":
                        self._read_line()
        except Exception:  # a simulator bug must not hang tests silently
            log.exception("%s: simulator thread crashed", self.name)

    def _accept(self) -> None:
        with self._lock:
            if self._listener is None or self._sel is None:
                return
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._client is not None:  # one client at a time, like a cable
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(self._client)
                self._client.close()
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._client = conn
            self._sel.register(conn, selectors.EVENT_READ, "line")
            self.connected.set()

    def _read_line(self) -> None:
        data = b""
        with self._lock:
            try:
                if self._client is not None:
                    data = self._client.recv(4096)
                    if not data:  # driver closed its end
                        if self._sel is not None:
                            with contextlib.suppress(KeyError, ValueError):
                                self._sel.unregister(self._client)
                        self._client.close()
                        self._client = None
                        return
                elif self._master >= 0:
                    data = os.read(self._master, 4096)
            except BlockingIOError:
                return
            except OSError:  # pty slave closed by the driver: nothing to read until reopened
                return
        if not data:
            return
        if self.baud:
            self._sleep_until(time.monotonic() + len(data) * 10 / self.baud)
        self.received.extend(data)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s rx %s", self.name, self._redact(data))
        try:
            replies = self.handler.on_data(data)
        except Exception:  # a handler bug: log it, keep serving (the driver sees no reply)
            log.exception("%s: handler failed on %d bytes", self.name, len(data))
            return
        for reply in replies:
            self._emit(reply)

    def _flush_outbox(self) -> None:
        while True:
            try:
                data = self._outbox.get_nowait()
            except queue.Empty:
                return
            self._emit(data)

    def _emit(self, reply: bytes) -> None:
        fault = self.faults.take()
        baud = self.baud
        if fault is Fault.NO_REPLY:
            log.debug("%s: fault no_reply", self.name)
            return
        if fault is Fault.UNPLUG:
            log.debug("%s: fault unplug", self.name)
            with self._lock:
                self._unplugged = True
                self._close_line()
            return
        if fault is Fault.PARTIAL:
            reply = reply[: max(1, len(reply) // 2)]
        elif fault is Fault.CORRUPT:
            reply = self._corrupt(reply)
        elif fault is Fault.SLOW:
            baud = self.slow_baud
        self._write(reply, baud)
        with self._sent_cond:
            self.replies_sent += 1
            self._sent_cond.notify_all()

    def wait_replies(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` replies have been written in full (tests, benches)."""
        with self._sent_cond:
            return self._sent_cond.wait_for(lambda: self.replies_sent >= count, timeout)

    def _write(self, data: bytes, baud: int | None) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s tx %s", self.name, self._redact(data))
        if not baud:
            self._write_raw(data)
            return
        # pace against absolute deadlines: byte i is on the wire at start + (i+1)*10/baud
        chunk = max(1, baud // 3600)  # ~2.8 ms of line time per chunk
        start = time.monotonic()
        sent = 0
        while sent < len(data) and not self._stop.is_set():
            piece = data[sent : sent + chunk]
            self._sleep_until(start + (sent + len(piece)) * 10 / baud)
            if not self._write_raw(piece):
                return
            sent += len(piece)

    def _write_raw(self, data: bytes) -> bool:
        with self._lock:
            try:
                if self._client is not None:
                    self._client.sendall(data)
                    return True
                if self._master >= 0:
                    view = memoryview(data)
                    while view:
                        try:
                            n = os.write(self._master, view)
                        except BlockingIOError:
                            time.sleep(0.001)  # pty buffer full: the driver is reading
                            continue
                        view = view[n:]
                    return True
            except OSError as err:
                log.debug("%s: write failed: %s", self.name, err)
        return False

    def _sleep_until(self, when: float) -> None:
        delay = when - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
