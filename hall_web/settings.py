"""Settings of the hall's web server (``config/web.yaml``), validated with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from devices.voice.settings import VoiceSettings
from hall_contract.client import BrokerSettings
from hall_contract.hallconfig import HallConfig
from hall_web.notify import SmsSettings


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScreenSettings(Strict):
    """The hall display (综合屏)."""

    notice: str = Field(
        "请保管好随身物品，留意叫号。Please keep your belongings with you and listen for your number.",
        max_length=400,
        description="The scrolling notice at the bottom of the hall display",
    )
    recent: int = Field(6, ge=2, le=20, description="Recent calls listed beside the current one")
    flash_s: float = Field(6.0, ge=1, le=30, description="How long a new call flashes")
    audio: bool = Field(True, description="The hall display page announces calls aloud")
    calendar_note: str | None = Field(
        None, description="A line under the hours (the demo: its 24-hour calendar)"
    )


class WebSettings(Strict):
    terminal_id: str = Field("web", description="Its terminal id (role web) in the hall config")
    hall_config: str = "hall.yaml"
    broker_url: str | None = Field(
        None, description="mqtt://[user:pass@]host:port; none = the hall config's managed broker"
    )
    tls_ca: str | None = None
    listen: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0: the hall LAN)")
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(
        None,
        description="How browsers reach this server (for links it prints); none = http://listen:port",
    )
    data_dir: str = Field("../var/web", description="Accounts, sessions, silent-call numbers")
    secure_cookies: bool = Field(
        False, description="Mark session cookies Secure (serve over HTTPS, e.g. behind nginx)"
    )
    screen: ScreenSettings = ScreenSettings()
    voice: VoiceSettings = VoiceSettings(driver="null")
    voice_dialect: str | None = Field(
        None,
        description="A dialect voice pack (a folder, relative to this file) announced after "
        "Mandarin, e.g. 闽南语 clips",
    )
    sms: SmsSettings = SmsSettings()
    pad_idle_s: float = Field(60.0, ge=10, le=600, description="Rating pad back to idle after")

    base_dir: str = Field(".", exclude=True)

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else Path(self.base_dir) / p

    def broker_settings(self, hall: HallConfig) -> BrokerSettings:
        url = self.broker_url or f"mqtt://{hall.broker.local_host}:{hall.broker.port}"
        extra = {"tls_ca": str(self.path(self.tls_ca))} if self.tls_ca else {}
        return BrokerSettings.from_url(url, **extra)


Audio = Literal["page", "speaker", "both", "none"]


def load(path: str | Path) -> WebSettings:
    """``web.yaml`` with file:line errors (as the hall config)."""
    from hall_contract.yamlconf import load_model

    p = Path(path)
    s = load_model(WebSettings, p)
    return s.model_copy(update={"base_dir": str(p.resolve().parent)})
