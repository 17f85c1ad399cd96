"""Settings of the voice caller (validated config data, no I/O)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

VoiceDriver = Literal["auto", "aplay", "paplay", "file", "null"]


class VoiceSettings(BaseModel):
    """Where the clips come from and where the sound goes.

    ``driver`` picks the sink: ``aplay`` / ``paplay`` (real speakers), ``file`` (write each
    announcement as a WAV into ``output_dir``, keeping the newest ``keep_files``: machines
    without sound, tests), ``null`` (discard), ``auto`` (aplay, else paplay, else ``file``
    when ``output_dir`` is set, else ``null``; the choice is logged once).
    """

    model_config = ConfigDict(extra="forbid")

    driver: VoiceDriver = "auto"
    """Audio sink, see the class docstring."""
    port: str = ""
    """ALSA device for ``aplay -D`` / PulseAudio sink for ``paplay -d`` ("" = default)."""
    pack: str = "cmn"
    """Voice pack name: a folder under ``pack_root`` (``cmn`` Mandarin, e.g. ``nan`` 闽南语)."""
    pack_root: str | None = None
    """Folder holding the voice packs (None: ``$HALLKIT_VOICE_DIR`` or
    ``~/.local/share/hallkit/voice``)."""
    repeat: int = Field(default=2, ge=1, le=5)
    """How many times each call is spoken."""
    repeat_gap_s: float = Field(default=0.8, ge=0, le=10)
    """Silence between repeats."""
    clip_gap_s: float = Field(default=0.0, ge=0, le=1)
    """Silence between clips inside one sentence."""
    espeak_voice: str = "cmn-latn-pinyin"
    """espeak-ng voice for the fallback TTS and for generating the Mandarin pack."""
    espeak_speed: int = Field(default=150, ge=80, le=400)
    """espeak-ng words per minute."""
    output_dir: str | None = None
    """``file`` driver: where announcement WAVs go (None: a ``calls`` folder next to the packs)."""
    keep_files: int | None = Field(default=50, ge=1)
    """``file`` driver: how many ``call-NNNN.wav`` files to keep (None: all of them)."""
    play_timeout_s: float = Field(default=30.0, gt=0)
    """Longest one announcement may play before the player is stopped."""
