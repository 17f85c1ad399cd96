"""A python-escpos printer whose transport is ``serial.serial_for_url``, and a factory.

python-escpos' own ``Serial`` class builds ``serial.Serial`` and so cannot open
``loop://``, ``socket://host:port`` (the simulator, a network printer) or ``spy://``
(hexdump the traffic on site). :class:`SerialUrlPrinter` implements the two seams the
library needs, ``_raw()`` and ``_read()``, on top of any pyserial URL.

Errors from pyserial and the OS are translated into :mod:`devices.errors`. The set caught
is :data:`devices.serialio.PORT_ERRORS`, the one every serial driver uses: on an unplugged
USB adapter or a hung-up tty, ``reset_input_buffer()`` and ``flush()`` raise
``termios.error``, which is not an ``OSError``.
"""

from __future__ import annotations

import logging
from typing import Any

import serial
from escpos.escpos import Escpos

from devices.errors import ConfigError, DeviceError, DeviceTimeout, DeviceUnavailable
from devices.printer.settings import PrinterSettings
from devices.serialio import PORT_ERRORS

log = logging.getLogger(__name__)


class SerialUrlPrinter(Escpos):
    """ESC/POS printer on a pyserial URL (device path, ``socket://``, ``loop://``, ``spy://``)."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 9600,
        read_timeout_s: float = 0.5,
        write_timeout_s: float = 10.0,
        profile: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(profile=profile, **kwargs)
        self.url = url
        self.baudrate = baudrate
        self.read_timeout_s = read_timeout_s
        self.write_timeout_s = write_timeout_s
        self._port: serial.SerialBase | None = None

    def open(self, raise_not_found: bool = True) -> None:
        """Open the port (called by python-escpos on first use of ``device``)."""
        if self._port is not None:
            return
        try:
            self._port = serial.serial_for_url(
                self.url,
                baudrate=self.baudrate,
                timeout=self.read_timeout_s,
                write_timeout=self.write_timeout_s,
            )
        except (serial.SerialException, OSError, ValueError) as err:
            self.device = None
            raise DeviceUnavailable(f"cannot open printer port {self.url}: {err}") from err
        self.device = self._port
        log.debug("opened printer port %s", self.url)

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def _lost(self, err: BaseException) -> str:
        return (
            f"printer port {self.url} failed ({err}): check the printer's cable and power;"
            " it is reopened on its own once it is back"
        )

    def _serial(self) -> serial.SerialBase:
        if self._port is None:
            self.open()
        assert self._port is not None
        return self._port

    def _raw(self, msg: bytes) -> None:
        port = self._serial()
        log.debug("printer <- %d bytes: %s", len(msg), msg[:64].hex(" "))
        try:
            port.write(msg)
            port.flush()
        except serial.SerialTimeoutException as err:
            raise DeviceTimeout(
                f"printer did not take the data within {self.write_timeout_s} s"
            ) from err
        except PORT_ERRORS as err:
            self.close()
            raise DeviceUnavailable(self._lost(err)) from err

    def _read(self) -> bytes:
        """Read one status byte, waiting at most ``read_timeout_s``; ``b""`` when none came."""
        port = self._serial()
        try:
            data: bytes = port.read(1)
        except PORT_ERRORS as err:
            self.close()
            raise DeviceUnavailable(self._lost(err)) from err
        log.debug("printer -> %s", data.hex(" ") or "(nothing)")
        return data

    def discard_input(self) -> None:
        """Drop stale bytes (e.g. late status replies) before a new request."""
        port = self._serial()
        try:
            port.reset_input_buffer()
        except PORT_ERRORS as err:
            self.close()
            raise DeviceUnavailable(self._lost(err)) from err

    def close(self) -> None:
        port, self._port = self._port, None
        self._device = False
        if port is not None:
            try:
                port.close()
            except PORT_ERRORS as err:  # closing a dead port
                log.debug("closing printer port %s: %s", self.url, err)


def answers_status(printer: Escpos) -> bool:
    """True when this python-escpos transport can read a reply at all (implements
    ``_read``). ``File``, ``Dummy`` and ``LP`` cannot: a ``DLE EOT`` sent to them would only
    end up in the file or the recorded bytes, with no device to answer it."""
    return type(printer)._read is not Escpos._read


def make_escpos(settings: PrinterSettings) -> Escpos:
    """Build the python-escpos printer object the settings ask for (not yet opened).

    ``virtual`` gives an in-process :class:`devices.printer.virtual.VirtualEscpos`.
    """
    try:
        if settings.driver == "escpos":
            return SerialUrlPrinter(
                settings.port,
                baudrate=settings.baudrate,
                read_timeout_s=settings.status_timeout_s,
                write_timeout_s=settings.write_timeout_s,
                profile=settings.profile,
            )
        if settings.driver == "network":
            from escpos.printer import Network

            return Network(
                settings.host,
                port=settings.tcp_port,
                timeout=settings.status_timeout_s,
                profile=settings.profile,
            )
        if settings.driver == "usb":
            from escpos.printer import Usb

            return Usb(settings.usb_vendor_id, settings.usb_product_id, profile=settings.profile)
        if settings.driver == "file":
            from escpos.printer import File

            return File(settings.port, profile=settings.profile)
        if settings.driver == "dummy":
            from escpos.printer import Dummy

            return Dummy(profile=settings.profile)
        if settings.driver == "virtual":
            from devices.printer.virtual import VirtualEscpos, VirtualPrinter

            return VirtualEscpos(VirtualPrinter(preview_dir=settings.preview_dir))
    except DeviceError:
        raise
    except Exception as err:  # python-escpos raises its own and plain exceptions here
        raise ConfigError(f"cannot set up printer driver {settings.driver!r}: {err}") from err
    raise ConfigError(f"unknown printer driver {settings.driver!r}")
