"""The kiosk's own configuration (``config/kiosk.yaml``), validated with pydantic.

Paths in the file are relative to the file's own folder. Units are in the field names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from devices.config import IdCardSettings, ScannerSettings
from devices.printer.settings import PrinterSettings
from devices.voice.settings import VoiceSettings as DeviceVoiceSettings
from hall_contract.client import BrokerSettings
from hall_contract.yamlconf import ConfigFileError, LocatedError, file_problems, load_model

#: the kiosk's languages (the same as :data:`kiosk.i18n.LANGS`, which a test checks)
Language = Literal["zh", "en", "ug"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- devices
# Each device is one of the devices package's own settings models, chosen by its
# ``driver`` (the kiosk adds ``simulator`` for the printer, ``fake`` and ``none``): a
# typo in a driver, an option or a value is refused at load as ``kiosk.yaml:LINE: field``,
# like every other field of this file. Where the kiosk's default differs from the
# devices package's, the kiosk's subclass says so (the values the kiosk always used).


class IdCardDevice(IdCardSettings):
    """``serial`` (a SAM module on ``port``) or ``simulator`` (the SAM simulator on a pty,
    read by the same driver); the fields of :class:`devices.config.IdCardSettings`."""

    dedup_s: float = Field(default=2.0, ge=0)
    """The same card is reported once per this many seconds (kiosk: 2 s, not 3)."""


class ScannerDevice(ScannerSettings):
    """``serial`` or ``simulator``; the fields of :class:`devices.config.ScannerSettings`."""

    baudrate: int = Field(default=115200, gt=0)
    """bit/s (kiosk default 115200; USB-CDC scanners ignore it)."""


class PrinterDevice(PrinterSettings):
    """``escpos``/``network``/``usb``/``file``/``dummy``/``virtual``: the fields of
    :class:`devices.printer.settings.PrinterSettings`."""

    baudrate: int = Field(default=115200, gt=0)
    """Serial speed in bit/s (kiosk default 115200)."""


class PrinterSimulatorDevice(PrinterDevice):
    """``simulator``: the printer simulator (a ``VirtualPrinter`` behind TCP on 127.0.0.1)
    printed to by the real driver with ``escpos`` on ``socket://…`` (``port`` is not used);
    PNG previews of each receipt in ``preview_dir``."""

    driver: Literal["simulator"] = "simulator"  # type: ignore[assignment]


class VoiceDevice(DeviceVoiceSettings):
    """``auto``/``aplay``/``paplay``/``file``/``null``: the sink of a ``devices.voice``
    announcer; the fields of :class:`devices.voice.settings.VoiceSettings`."""

    repeat: int = Field(default=1, ge=1, le=5)
    """How many times each text is read (kiosk: once)."""
    repeat_gap_s: float = Field(default=0.3, ge=0, le=10)


class FakeDevice(Strict):
    """``fake``: an in-process stand-in with no wire protocol (:mod:`kiosk.fakes`; unit
    tests and the bench). For the voice, the same as ``log``."""

    driver: Literal["fake"] = "fake"


class LogVoice(Strict):
    """``log``: nothing is played, what would be said is only recorded."""

    driver: Literal["log"] = "log"


class NoDevice(Strict):
    """``none``: the kiosk has no such device."""

    driver: Literal["none"] = "none"


def _drivers(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(str(v) for v in get_args(model.model_fields["driver"].annotation))


def by_driver(kind: str, *models: type[BaseModel]) -> Any:
    """A validator that picks the model by the ``driver`` value and validates the rest of
    the mapping with it. Errors keep the field's own path (``devices.idcard.baudrate``,
    not pydantic's tagged-union ``devices.idcard.serial.baudrate``), so the file's line is
    found; an unknown driver is reported on the ``driver`` line with the known ones."""
    table = {d: m for m in models for d in _drivers(m)}
    known = ", ".join(table)

    def pick(value: Any) -> BaseModel:
        if isinstance(value, models):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{kind}: a mapping with a driver ({known})")
        driver = value.get("driver")
        if driver is None:
            raise LocatedError(("driver",), f"{kind} needs a driver: {known}")
        model = table.get(driver) if isinstance(driver, str) else None
        if model is None:
            raise LocatedError(("driver",), f"unknown {kind} driver {driver!r}: one of {known}")
        return model.model_validate(value)  # its errors are the fields' own

    return BeforeValidator(pick)


IdCardConfig = Annotated[
    IdCardDevice | FakeDevice | NoDevice,
    by_driver("ID card reader", IdCardDevice, FakeDevice, NoDevice),
]
ScannerConfig = Annotated[
    ScannerDevice | FakeDevice | NoDevice,
    by_driver("scanner", ScannerDevice, FakeDevice, NoDevice),
]
PrinterConfig = Annotated[
    PrinterDevice | PrinterSimulatorDevice | FakeDevice | NoDevice,
    by_driver("printer", PrinterDevice, PrinterSimulatorDevice, FakeDevice, NoDevice),
]
VoiceConfig = Annotated[
    VoiceDevice | LogVoice | FakeDevice | NoDevice,
    by_driver("voice", VoiceDevice, LogVoice, FakeDevice, NoDevice),
]


class DevicesSettings(Strict):
    """The kiosk's devices; a section left out is the simulator (the voice: ``log``)."""

    idcard: IdCardConfig = IdCardDevice(driver="simulator")
    scanner: ScannerConfig = ScannerDevice(driver="simulator")
    printer: PrinterConfig = PrinterSimulatorDevice()
    voice: VoiceConfig = LogVoice()

    @model_validator(mode="before")
    @classmethod
    def _no_options(cls, data: Any) -> Any:
        # The shape before issue 11 had the devices' fields under ``options:``.
        for dev, value in data.items() if isinstance(data, dict) else ():
            if isinstance(value, dict) and "options" in value:
                raise LocatedError(
                    (dev, "options"),
                    f"write the {dev}'s settings directly under {dev}: (no options: "
                    "mapping any more), e.g. preview_dir: … next to driver:",
                )
        return data


class Timeouts(Strict):
    inactivity_s: float = Field(60, gt=5, description="No touch this long → wipe and go home")
    warn_s: float = Field(20, gt=0, description="Countdown shown this long before the wipe")
    result_s: float = Field(30, gt=0, description="A finished flow's result stays this long")
    request_s: float = Field(6, gt=0, description="Controller request deadline")
    heartbeat_s: float = Field(15, gt=0)


class VoiceSettings(Strict):
    """Voice packs (``devices.voice``): a folder with ``pack.json`` and WAV clips. A value
    is a folder (relative to this file) or the name of a pack under the devices' voice
    root (``$HALLKIT_VOICE_DIR`` or ``~/.local/share/hallkit/voice``)."""

    pack: str | None = Field(
        "cmn", description="Mandarin pack; screens themselves are read with TTS (espeak-ng)"
    )
    dialect: str | None = Field(
        None, description="Dialect pack (e.g. a folder of 闽南语 clips) read after Mandarin"
    )


class KioskConfig(Strict):
    terminal_id: str = "k01"
    hall_config: str = "hall.yaml"
    broker_url: str | None = Field(
        None,
        description="mqtt://host:port, or mqtts://host:port for TLS (with tls_ca); "
        "none = the hall config's",
    )
    tls_ca: str | None = Field(
        None,
        description="CA certificate (PEM) the kiosk trusts on an mqtts:// broker_url; "
        "none = the system's trusted CAs",
    )
    tls_cert: str | None = Field(
        None, description="The kiosk's client certificate, for a broker that requires one"
    )
    tls_key: str | None = Field(None, description="Its private key")
    location: str = Field("", description="Where the terminal stands, sent with help requests")
    diagnostics_pin: str = Field("2580", pattern=r"^\d{4,8}$")
    rotation: Literal[0, 90, 180, 270] = 0
    fullscreen: bool = True
    elderly_age: int = Field(60, ge=50, le=90, description="Offer elderly mode from this age")
    language: Language = "zh"
    voice: VoiceSettings = VoiceSettings()
    timeouts: Timeouts = Timeouts()
    data_dir: str = Field("../var/kiosk", description="Outbox and command log")
    citizen_key_secret: str = Field(
        "change-me", min_length=4, description="HMAC key for citizen_key (hall-wide secret)"
    )
    devices: DevicesSettings = DevicesSettings()

    # resolved paths (set by load())
    base_dir: str = Field(".", exclude=True)

    @model_validator(mode="after")
    def _tls(self) -> KioskConfig:
        if self.tls_key and not self.tls_cert:
            raise LocatedError(("tls_key",), "tls_key needs tls_cert (the client certificate)")
        tls_set = self.tls_ca or self.tls_cert
        if tls_set and self.broker_url and not self.broker_url.startswith("mqtts://"):
            raise LocatedError(
                ("broker_url",),
                "tls_ca/tls_cert are set but the broker URL is not TLS: write "
                "mqtts://HOST:8883 (the broker's TLS port), or remove tls_*",
            )
        return self

    TLS_FILES: ClassVar[tuple[str, ...]] = ("tls_ca", "tls_cert", "tls_key")

    def broker_settings(self, url: str) -> BrokerSettings:
        """How to reach the broker at ``url``; ``mqtts://`` uses this file's TLS files.
        TLS files with a plain URL (the hall config's, when ``broker_url`` is not set) are
        an error, not silently ignored."""
        files = {f: str(self.path(v)) for f in self.TLS_FILES if (v := getattr(self, f))}
        if files and not url.startswith("mqtts://"):
            from hall_contract.client import TlsSetupError

            raise TlsSetupError(
                f"tls_ca/tls_cert are set but the broker URL {url} is not TLS: set "
                "broker_url: mqtts://HOST:8883 (the broker's TLS port), or remove tls_*"
            )
        return BrokerSettings.from_url(url, **files)

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def voice_pack(self, value: str | None) -> Path | None:
        """The folder of a voice pack setting (see :class:`VoiceSettings`)."""
        if not value:
            return None
        folder = self.path(value)
        if folder.is_dir() or "/" in value:
            return folder
        from devices.voice.pack import default_pack_root

        return default_pack_root() / value


def load(path: str | Path) -> KioskConfig:
    path = Path(path)
    cfg = load_model(KioskConfig, path)
    cfg = cfg.model_copy(update={"base_dir": str(path.resolve().parent)})
    named = [((f,), v, cfg.path(v)) for f in KioskConfig.TLS_FILES if (v := getattr(cfg, f))]
    problems = file_problems(path, named)
    if problems:
        raise ConfigFileError(path, problems)
    return cfg
