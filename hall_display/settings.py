"""The display program's own configuration (``display.yaml``), validated with pydantic.

Paths in the file (``hall_config``, TLS files, the speaker's ``pack_root`` and
``output_dir``) are relative to the file's own folder. Every section is documented in
docs/display.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from devices.display.settings import DisplaySettings
from devices.voice.settings import VoiceSettings
from hall_contract.client import BrokerSettings, TlsSetupError
from hall_contract.hallconfig import HallConfig
from hall_contract.yamlconf import ConfigFileError, LocatedError, file_problems, load_model


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LedRules(Strict):
    """What the window LEDs show besides a called number (see docs/display.md)."""

    idle: Literal["dashes", "blank"] = Field(
        "dashes",
        description="An open window without a ticket: dashes (----) and its number, or dark",
    )
    verify_s: float = Field(
        10.0,
        gt=0,
        description="Read each display back this often (one at a time); one that lost what "
        "it showed (power cut) or stopped answering is repaired",
    )
    retry_initial_s: float = Field(
        1.0, gt=0, description="A display that failed is tried again after this …"
    )
    retry_max_s: float = Field(15.0, gt=0, description="… doubling up to this")
    absent_after: int = Field(
        2,
        ge=1,
        le=10,
        description="Report a display absent (a staff alert) once this many tries in a row "
        "failed: one lost reply is no alert",
    )

    @model_validator(mode="after")
    def _retry_order(self) -> LedRules:
        if self.retry_max_s < self.retry_initial_s:
            raise LocatedError(("retry_max_s",), "retry_max_s must not be below retry_initial_s")
        return self


class SpeakerSettings(VoiceSettings):
    """The speaker of this PC (``devices.voice``: one announcer, one sink). Every field of
    the voice settings, plus the dialect pack and which windows' calls to announce."""

    dialect: str | None = Field(
        None,
        description="Dialect pack (a folder under pack_root, e.g. nan for 闽南语) read after "
        "Mandarin in every repeat; null: Mandarin only",
    )
    windows: list[str] | None = Field(
        None, description="Announce the calls of these windows only (null: every window)"
    )


class DisplayConfig(Strict):
    terminal_id: str = Field("d01", description="Its id in the hall config (role display)")
    hall_config: str = Field("hall.yaml", description="The hall config file")
    broker_url: str | None = Field(
        None, description="mqtt://host:port or mqtts://…; null: the hall config's broker"
    )
    tls_ca: str | None = Field(None, description="CA certificate for an mqtts:// broker_url")
    tls_cert: str | None = Field(None, description="Client certificate, if the broker wants one")
    tls_key: str | None = Field(None, description="Its private key")
    heartbeat_s: float = Field(15.0, gt=0, description="Heartbeat interval while connected")
    session_expiry_s: int = Field(
        60,
        ge=0,
        le=3600,
        description="The broker keeps calls for this long while the program is away (a "
        "broker blip, a quick restart); they are announced when it is back. 0: none",
    )
    window_numbers: dict[str, str] = Field(
        default_factory=dict,
        description="Window id → its number on the LED and in announcements (default: the "
        "number its name starts with, e.g. 3号综合窗口 → 3, else the digits its id ends with)",
    )
    leds: DisplaySettings | None = Field(
        None, description="The RS-485 bus of window LEDs (devices.display); null: none here"
    )
    led_rules: LedRules = LedRules()
    speaker: SpeakerSettings | None = Field(
        None, description="Voice calls from this PC's speakers; null: none here"
    )

    # resolved paths (set by load())
    base_dir: str = Field(".", exclude=True)

    TLS_FILES: ClassVar[tuple[str, ...]] = ("tls_ca", "tls_cert", "tls_key")

    @model_validator(mode="after")
    def _tls(self) -> DisplayConfig:
        if self.tls_key and not self.tls_cert:
            raise LocatedError(("tls_key",), "tls_key needs tls_cert (the client certificate)")
        if (
            (self.tls_ca or self.tls_cert)
            and self.broker_url
            and not self.broker_url.startswith("mqtts://")
        ):
            raise LocatedError(
                ("broker_url",),
                "tls_ca/tls_cert are set but the broker URL is not TLS: write "
                "mqtts://HOST:8883 (the broker's TLS port), or remove tls_*",
            )
        return self

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def broker_url_for(self, hall: HallConfig) -> str:
        return self.broker_url or hall.broker.url or f"mqtt://127.0.0.1:{hall.broker.port}"

    def broker_settings(self, hall: HallConfig) -> BrokerSettings:
        """How to reach the broker; ``mqtts://`` uses this file's TLS files."""
        url = self.broker_url_for(hall)
        files = {f: str(self.path(v)) for f in self.TLS_FILES if (v := getattr(self, f))}
        if files and not url.startswith("mqtts://"):
            raise TlsSetupError(
                f"tls_ca/tls_cert are set but the broker URL {url} is not TLS: set "
                "broker_url: mqtts://HOST:8883 (the broker's TLS port), or remove tls_*"
            )
        return BrokerSettings.from_url(url, **files)

    def voice_settings(self) -> SpeakerSettings | None:
        """The speaker settings with its folders resolved against this file's folder."""
        if self.speaker is None:
            return None
        update = {
            k: str(self.path(v))
            for k in ("pack_root", "output_dir")
            if (v := getattr(self.speaker, k)) is not None
        }
        return self.speaker.model_copy(update=update)


def load(path: str | Path) -> DisplayConfig:
    """Read and check ``display.yaml`` (errors as file:line: field: problem)."""
    path = Path(path)
    cfg = load_model(DisplayConfig, path)
    cfg = cfg.model_copy(update={"base_dir": str(path.resolve().parent)})
    named = [
        ((f,), v, cfg.path(v))
        for f in (*DisplayConfig.TLS_FILES, "hall_config")
        if (v := getattr(cfg, f))
    ]
    problems = file_problems(path, named)
    if problems:
        raise ConfigFileError(path, problems)
    return cfg


def load_hall(cfg: DisplayConfig) -> HallConfig:
    """The hall config ``cfg`` names."""
    return load_model(HallConfig, cfg.path(cfg.hall_config))


def for_simulator(
    hall: HallConfig,
    port: str,
    *,
    terminal_id: str = "d01",
    speaker: SpeakerSettings | None = None,
    broker_url: str | None = None,
) -> DisplayConfig:
    """Settings for the demo: every window of ``hall`` on one LED bus at ``port`` (e.g. a
    :class:`~devices.display.simulator.DisplaySimulator`'s ``socket://`` URL), unit N for
    the N-th window (run the simulator with ``units=range(1, len(hall.windows) + 1)``)."""
    return DisplayConfig(
        terminal_id=terminal_id,
        broker_url=broker_url,
        leds=DisplaySettings(
            port=port,
            timeout_s=0.3,
            retries=0,
            reconnect_initial_s=0.5,
            reconnect_max_s=5,
            windows={w.id: i for i, w in enumerate(hall.windows, start=1)},
        ),
        speaker=speaker,
    )
