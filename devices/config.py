"""Validated device settings (pydantic v2): every device is data — a driver name and a URL.

``driver = "simulator"`` starts the in-process simulator instead of opening ``port``;
any pyserial URL works as ``port`` (``/dev/ttyUSB0``, ``socket://127.0.0.1:7001``,
``loop://``, ``spy:///dev/ttyUSB0``, ``hwgrep://0483:5740``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from devices.display.settings import DisplaySettings
from devices.printer.settings import PrinterSettings
from devices.voice.settings import VoiceSettings

SerialDriver = Literal["serial", "simulator"]
#: Speeds the ID card SAM module can be set to (devices.md).
IDCARD_BAUDS = (115200, 57600, 38400, 19200, 9600)


def _check_port(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("port must be a device path or a pyserial URL")
    if "://" in value:
        scheme = value.split("://", 1)[0]
        if scheme not in {"socket", "loop", "spy", "hwgrep", "rfc2217", "alt", "cp2110"}:
            raise ValueError(f"unknown pyserial URL scheme {scheme!r}")
    return value


class IdCardSettings(BaseModel):
    """The resident ID card reader (SAM module on a serial line)."""

    model_config = ConfigDict(extra="forbid")

    driver: SerialDriver = "serial"
    """``serial`` opens ``port``; ``simulator`` runs the built-in simulator."""
    port: str = "/dev/ttyUSB0"
    """pyserial URL or device path."""
    baudrate: int = 115200
    """bit/s; the module supports 115200, 57600, 38400, 19200, 9600."""
    find_timeout_s: float = Field(default=0.1, gt=0)
    """Reply timeout of find card (``20 01``)."""
    select_timeout_s: float = Field(default=0.1, gt=0)
    """Reply timeout of select card (``20 02``)."""
    read_timeout_s: float = Field(default=2.0, gt=0)
    """Reply timeout of read (``30 01``)."""
    retries: int = Field(default=2, ge=0, le=10)
    """Extra attempts of find→select→read after a timeout or garbled reply."""
    poll_interval_s: float = Field(default=0.3, gt=0)
    """Seconds between "is there a card?" polls."""
    fault_poll_max_s: float = Field(default=5.0, gt=0)
    """While polls keep failing, the time between them doubles from ``poll_interval_s`` up
    to this (a faulty reader is not hammered, and the log is not flooded)."""
    dedup_s: float = Field(default=3.0, ge=0)
    """The same card is reported once per this many seconds while it stays on."""
    read_appended_address: bool = False
    """Also read the appended address (``30 03``) after each card. A reader that does not
    know the command (SW3 21) gets its cards read without it (one WARNING in the log)."""

    @field_validator("port")
    @classmethod
    def _port(cls, v: str) -> str:
        return _check_port(v)

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, v: int) -> int:
        if v not in IDCARD_BAUDS:
            raise ValueError(f"the ID card module supports {IDCARD_BAUDS} bit/s")
        return v


class ScannerSettings(BaseModel):
    """A serial-mode (USB-CDC) barcode/QR scanner."""

    model_config = ConfigDict(extra="forbid")

    driver: SerialDriver = "serial"
    port: str = "/dev/ttyACM0"
    """pyserial URL or device path."""
    baudrate: int = Field(default=9600, gt=0)
    """bit/s (USB-CDC scanners ignore it)."""
    framing: Literal["suffix", "stx_etx"] = "suffix"
    """How codes are delimited: a suffix after each code, or STX … ETX."""
    suffix: str | None = None
    """Suffix as hex (``"0D0A"``); ``None`` = any of CR, LF, CR LF."""
    mode: Literal["continuous", "triggered"] = "continuous"
    """``continuous``: the scanner decodes on its own; ``triggered``: we send trigger commands."""
    dialect: Literal["honeywell", "newland"] = "honeywell"
    """Trigger command set: Honeywell ``16 54 0D`` / ``16 55 0D``, Newland ``1B 31`` / ``1B 30``."""
    trigger_timeout_s: float = Field(default=3.0, gt=0)
    """Triggered mode: how long to wait for a code after the trigger."""

    @field_validator("port")
    @classmethod
    def _port(cls, v: str) -> str:
        return _check_port(v)

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            raw = bytes.fromhex(v)
        except ValueError as err:
            raise ValueError("suffix must be hex, e.g. 0D0A") from err
        if not raw:
            raise ValueError("suffix must not be empty")
        return v

    @property
    def suffix_bytes(self) -> bytes | None:
        return None if self.suffix is None else bytes.fromhex(self.suffix)


class CameraSettings(BaseModel):
    """A camera decoding QR codes (OpenCV capture + zbar)."""

    model_config = ConfigDict(extra="forbid")

    driver: Literal["opencv", "simulator"] = "opencv"
    """``opencv``: ``cv2.VideoCapture(source)``; ``simulator``: play ``images``."""
    source: int | str = 0
    """Camera index (0) or a stream URL/path."""
    width: int | None = Field(default=1280, gt=0)
    height: int | None = Field(default=720, gt=0)
    roi: tuple[int, int, int, int] | None = None
    """Region of interest (x, y, width, height) in pixels; ``None`` = whole frame."""
    dedup_s: float = Field(default=2.0, ge=0)
    """The same code is reported once while seen again within this many seconds."""
    symbologies: list[str] = Field(default_factory=lambda: ["QRCODE"])
    """zbar symbologies to look for (fewer = faster), e.g. ``["QRCODE", "CODE128"]``."""
    fast_pass_width: int | None = Field(default=640, gt=0)
    """First try a frame scaled to this width; full size only if nothing was found."""
    full_pass_density: int = Field(default=2, ge=1, le=8)
    """The full-size pass looks at every n-th row and column (2: about twice as fast)."""
    images: list[str] = Field(default_factory=list)
    """``simulator``: image files to play in a loop."""

    @field_validator("roi")
    @classmethod
    def _roi(cls, v: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
        if v is not None and (v[0] < 0 or v[1] < 0 or v[2] <= 0 or v[3] <= 0):
            raise ValueError("roi is (x >= 0, y >= 0, width > 0, height > 0)")
        return v

    @model_validator(mode="after")
    def _sim_needs_images(self) -> CameraSettings:
        if self.driver == "simulator" and not self.images:
            raise ValueError("the camera simulator needs at least one image")
        return self


class DevicesSettings(BaseModel):
    """Every device of one kiosk/hall station; a missing section means "not fitted"."""

    model_config = ConfigDict(extra="forbid")

    idcard: IdCardSettings | None = None
    scanner: ScannerSettings | None = None
    camera: CameraSettings | None = None
    printer: PrinterSettings | None = None
    display: DisplaySettings | None = None
    voice: VoiceSettings | None = None
