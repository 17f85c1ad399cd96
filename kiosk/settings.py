"""The kiosk's own configuration (``config/kiosk.yaml``), validated with pydantic.

Paths in the file are relative to the file's own folder. Units are in the field names.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hall_contract.client import BrokerSettings
from hall_contract.yamlconf import ConfigFileError, LocatedError, file_problems, load_model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceSettings(Strict):
    """One device. ``driver: simulator`` runs an in-process simulator (the demo and tests);
    ``none`` means the kiosk has no such device; anything else is handed to ``devices/``."""

    driver: str = "simulator"
    port: str = ""
    """pyserial URL for serial devices (``/dev/ttyUSB0``, ``socket://127.0.0.1:7001``)."""
    baudrate: int = Field(115200, gt=0)
    options: dict[str, object] = Field(default_factory=dict)
    """Driver-specific extras (e.g. ``preview_dir`` of the virtual printer)."""


class DevicesSettings(Strict):
    idcard: DeviceSettings = DeviceSettings()
    scanner: DeviceSettings = DeviceSettings()
    printer: DeviceSettings = DeviceSettings()
    voice: DeviceSettings = DeviceSettings(driver="log")
    """``log`` (no sound), ``auto``/``aplay``/``paplay``/``file``/``null`` (the sink of a
    ``devices.voice`` announcer; ``options`` = its ``VoiceSettings`` fields), ``none``."""


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
    language: Literal["zh", "en"] = "zh"
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
