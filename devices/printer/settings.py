"""Settings of the receipt printer (validated config data, no I/O)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PrinterDriver = Literal["escpos", "network", "usb", "file", "dummy", "virtual"]


class PrinterSettings(BaseModel):
    """One ESC/POS receipt printer.

    ``driver`` picks the transport:

    * ``escpos`` – a pyserial URL in ``port``: a device path (``/dev/ttyUSB0``),
      ``socket://127.0.0.1:9100`` (the simulator or a network printer), ``loop://``,
      ``spy:///dev/ttyUSB0`` (hexdump the traffic on site), ``hwgrep://VID:PID``.
    * ``network`` – python-escpos' own ``Network`` class (raw TCP, usually port 9100).
    * ``usb`` – python-escpos' ``Usb`` class (needs pyusb and a udev rule).
    * ``file`` – write the bytes to ``port`` (e.g. ``/dev/usb/lp0``); no status replies.
    * ``dummy`` – record the bytes in memory; no status replies.
    * ``virtual`` – an in-process virtual printer (parses the bytes, renders PNG previews).
    """

    model_config = ConfigDict(extra="forbid")

    driver: PrinterDriver = "escpos"
    """Transport, see the class docstring."""
    port: str = "/dev/ttyUSB0"
    """pyserial URL (``escpos``), or file path (``file``)."""
    baudrate: int = Field(default=9600, gt=0)
    """Serial speed in bit/s (ignored by USB-CDC and sockets)."""
    host: str = "127.0.0.1"
    """Host for the ``network`` driver."""
    tcp_port: int = Field(default=9100, ge=1, le=65535)
    """TCP port for the ``network`` driver."""
    usb_vendor_id: int = 0
    """USB vendor id for the ``usb`` driver (e.g. 0x0416)."""
    usb_product_id: int = 0
    """USB product id for the ``usb`` driver."""
    profile: str | None = None
    """python-escpos capability profile name (``None``: the library default)."""

    encoding: Literal["gb18030", "gbk"] = "gb18030"
    """How Chinese text is encoded on the wire. GBK printers print most GB18030 text,
    except characters outside GBK (4-byte sequences)."""
    kanji_mode: bool = False
    """Wrap Chinese text in ``FS &`` … ``FS .`` (printers where Kanji mode is off by default)."""
    width_chars: int = Field(default=32, ge=16, le=64)
    """Columns of font A: 32 on 58 mm paper, 48 on 80 mm paper. A Chinese character is 2."""
    qr_module_size: int = Field(default=6, ge=1, le=16)
    """QR module size in dots (``GS ( k`` function 167)."""
    cut: Literal["full", "partial"] = "partial"
    """Cut after each receipt."""

    status_timeout_s: float = Field(default=0.5, gt=0)
    """How long to wait for each ``DLE EOT n`` reply byte."""
    status_supported: bool = True
    """False for printers that never answer ``DLE EOT``: print without checking paper
    (the state then stays DEGRADED with "status unknown")."""
    poll_interval_s: float = Field(default=5.0, ge=0)
    """Seconds between status polls; 0 disables the poll thread."""
    write_timeout_s: float = Field(default=10.0, gt=0)
    """How long a write may block (a printer out of paper stops reading)."""
    reconnect_initial_s: float = Field(default=0.5, gt=0)
    """After the printer became unreachable, the poll thread retries after this many
    seconds, doubling each time up to ``reconnect_max_s`` (a print job always tries at once)."""
    reconnect_max_s: float = Field(default=30.0, gt=0)
    """Upper bound of the reconnect delay."""

    preview_dir: str | None = None
    """``virtual`` driver: folder for PNG previews of printed receipts (``None``: none)."""
