"""Voice packs: a folder of short WAV clips, one per token, plus a ``pack.json`` manifest.

Tokens are the words an announcement is built from: digits ``零 一 … 九`` (a ticket number
"A001" is read digit by digit: A 零 零 一), the number words ``十 百 千`` (a window number is
read as a number: 12 → 十二), letters ``A``–``Z``, and the phrases ``请 号 到 号窗口 办理``.

``pack.json``::

    {"name": "cmn", "language": "zh-CN", "description": "...",
     "clips": {"请": "qing3.wav", "A": "letter_a.wav", "零": "ling2.wav", ...}}

(``pack.yaml`` with the same keys is read too.) A dialect pack (e.g. 闽南语 recorded by a
person) is just another folder with the same manifest. All clips of a pack must share
one WAV format (channels, sample width, rate).

The Mandarin pack is generated at install time with espeak-ng ``-v cmn-latn-pinyin`` from
pinyin with tone numbers (``python -m devices voice-pack --ensure``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from devices.errors import ConfigError, DeviceError, DeviceTimeout, DeviceUnavailable

log = logging.getLogger(__name__)

DIGITS = "零一二三四五六七八九"
PHRASES = ("请", "号", "到", "号窗口", "办理")
NUMBER_WORDS = ("十", "百", "千")
LETTERS = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))

#: What espeak-ng (``cmn-latn-pinyin``) is given for each Mandarin token.
MANDARIN_PINYIN: dict[str, str] = {
    **dict(
        zip(
            DIGITS,
            ("ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"),
            strict=True,
        )
    ),
    "十": "shi2",
    "百": "bai3",
    "千": "qian1",
    "请": "qing3",
    "号": "hao4",
    "到": "dao4",
    "号窗口": "hao4 chuang1 kou3",
    "办理": "ban4 li3",
    **{letter: letter for letter in LETTERS},  # the pinyin voice says letters the Chinese way
}

ALL_TOKENS: tuple[str, ...] = tuple(MANDARIN_PINYIN)
MANIFEST = "pack.json"


def default_pack_root() -> Path:
    """``$HALLKIT_VOICE_DIR``, else ``$XDG_DATA_HOME/hallkit/voice``, else ~/.local/share/…"""
    if env := os.environ.get("HALLKIT_VOICE_DIR"):
        return Path(env)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "hallkit" / "voice"


def _file_name(token: str) -> str:
    if token in LETTERS:
        return f"letter_{token.lower()}.wav"
    return MANDARIN_PINYIN[token].replace(" ", "_") + ".wav"


# -- tokens ---------------------------------------------------------------------------
def number_tokens(n: int) -> list[str]:
    """Chinese reading of 0 ≤ n ≤ 9999 as number tokens: 12 → 十 二, 105 → 一 百 零 五."""
    if not 0 <= n <= 9999:
        raise ConfigError(f"window number {n} out of range 0..9999")
    if n == 0:
        return ["零"]
    if 10 <= n < 20:
        return ["十"] + ([DIGITS[n - 10]] if n > 10 else [])
    units = [(1000, "千"), (100, "百"), (10, "十"), (1, "")]
    tokens: list[str] = []
    pending_zero = False
    for value, word in units:
        digit = n // value % 10
        if digit == 0:
            pending_zero = bool(tokens)
            continue
        if pending_zero:
            tokens.append("零")
            pending_zero = False
        tokens.append(DIGITS[digit])
        if word:
            tokens.append(word)
    return tokens


def ticket_tokens(ticket: str) -> list[str]:
    """A ticket number read character by character: "A001" → A 零 零 一.

    Characters that are neither digits nor letters are kept as they are (no clip exists,
    so the announcer falls back to TTS for that sentence); spaces and dashes are dropped.
    """
    tokens: list[str] = []
    for ch in ticket.strip().upper():
        if ch.isascii() and ch.isdigit():
            tokens.append(DIGITS[int(ch)])
        elif ch in " -_":
            continue
        else:
            tokens.append(ch)
    return tokens


def window_tokens(window: int | str) -> list[str]:
    """A window read as a number when it is one ("12" → 十 二), else like a ticket ("B3")."""
    text = str(window).strip()
    if text.isascii() and text.isdigit() and len(text) <= 4:
        return number_tokens(int(text))
    return ticket_tokens(text)


def call_tokens(ticket: str, window: int | str) -> list[str]:
    """请 <ticket> 号 到 <window> 号窗口 办理."""
    return ["请", *ticket_tokens(ticket), "号", "到", *window_tokens(window), "号窗口", "办理"]


def call_text(ticket: str, window: int | str) -> str:
    """The sentence as text (for the TTS fallback and for logs)."""
    return f"请{ticket}号到{window}号窗口办理"


# -- packs ----------------------------------------------------------------------------
@dataclass(frozen=True)
class VoicePack:
    folder: Path
    name: str
    clips: Mapping[str, str]
    language: str = ""
    description: str = ""

    def has(self, token: str) -> bool:
        return token in self.clips and (self.folder / self.clips[token]).is_file()

    def missing(self, tokens: Iterable[str]) -> list[str]:
        return [t for t in dict.fromkeys(tokens) if not self.has(t)]

    def clip_path(self, token: str) -> Path:
        if not self.has(token):
            raise ConfigError(f"voice pack {self.name!r} has no clip for {token!r}")
        return self.folder / self.clips[token]

    def clip(self, token: str) -> bytes:
        return self.clip_path(token).read_bytes()


def load_pack(folder: str | Path) -> VoicePack:
    """Read a pack's manifest (``pack.json`` or ``pack.yaml``)."""
    folder = Path(folder)
    try:
        if (folder / MANIFEST).is_file():
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        elif (folder / "pack.yaml").is_file():
            data = yaml.safe_load((folder / "pack.yaml").read_text(encoding="utf-8"))
        else:
            raise ConfigError(f"no voice pack in {folder} (pack.json missing)")
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read voice pack manifest in {folder}: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("clips"), dict):
        raise ConfigError(f"voice pack manifest in {folder} has no 'clips' table")
    clips = {str(k): str(v) for k, v in data["clips"].items()}
    for file in clips.values():
        if Path(file).is_absolute() or ".." in Path(file).parts:
            raise ConfigError(f"voice pack clip path {file!r} must stay inside the pack folder")
    return VoicePack(
        folder=folder,
        name=str(data.get("name", folder.name)),
        clips=clips,
        language=str(data.get("language", "")),
        description=str(data.get("description", "")),
    )


def espeak_wav(
    text: str, voice: str = "cmn-latn-pinyin", speed: int = 150, timeout: float = 20.0
) -> bytes:
    """Synthesize ``text`` with espeak-ng; returns WAV bytes."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise DeviceUnavailable("espeak-ng is not installed (apt install espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="hallkit-tts-") as tmp:
        out = Path(tmp) / "out.wav"
        source = Path(tmp) / "text.txt"
        try:
            source.write_text(text, encoding="utf-8")
            subprocess.run(
                [exe, "-b", "1", "-v", voice, "-s", str(speed), "-w", str(out), "-f", str(source)],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            return out.read_bytes()
        except subprocess.TimeoutExpired as err:
            raise DeviceTimeout(f"espeak-ng took longer than {timeout} s") from err
        except (subprocess.CalledProcessError, OSError) as err:
            raise DeviceUnavailable(f"espeak-ng failed: {err}") from err


def trim_silence(wav: bytes, threshold: int = 300, margin_s: float = 0.03) -> bytes:
    """Cut leading and trailing near-silence off a 16-bit WAV clip (espeak-ng pads its output)."""
    import array
    import io
    import wave

    with wave.open(io.BytesIO(wav), "rb") as r:
        params = r.getparams()
        frames = r.readframes(r.getnframes())
    if params.sampwidth != 2:
        return wav
    samples = array.array("h", frames)
    loud = [i for i, v in enumerate(samples) if abs(v) > threshold]
    if not loud:
        return wav
    margin = int(margin_s * params.framerate) * params.nchannels
    start = max(0, loud[0] - margin) // params.nchannels * params.nchannels
    end = min(len(samples), loud[-1] + margin + 1)
    end += (-end) % params.nchannels
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setparams(params)
        w.writeframes(samples[start:end].tobytes())
    return out.getvalue()


def generate_pack(
    folder: str | Path,
    tokens: Sequence[str] | None = None,
    *,
    voice: str = "cmn-latn-pinyin",
    speed: int = 150,
    name: str = "cmn",
) -> VoicePack:
    """Generate (or complete) the Mandarin pack in ``folder`` with espeak-ng."""
    folder = Path(folder)
    wanted = list(tokens) if tokens is not None else list(ALL_TOKENS)
    unknown = [t for t in wanted if t not in MANDARIN_PINYIN]
    if unknown:
        raise ConfigError(f"no pinyin known for tokens {unknown}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        clips: dict[str, str] = {}
        if (folder / MANIFEST).is_file():
            clips.update(load_pack(folder).clips)
        for token in wanted:
            file = _file_name(token)
            (folder / file).write_bytes(
                trim_silence(espeak_wav(MANDARIN_PINYIN[token], voice, speed))
            )
            clips[token] = file
        manifest = {
            "name": name,
            "language": "zh-CN",
            "description": f"Mandarin clips generated with espeak-ng -v {voice}",
            "clips": clips,
        }
        (folder / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
        )
    except OSError as err:
        raise DeviceUnavailable(f"cannot write voice pack in {folder}: {err}") from err
    log.info("generated %d clips in voice pack %s", len(wanted), folder)
    return load_pack(folder)


def ensure_pack(
    folder: str | Path, tokens: Sequence[str] | None = None, **kwargs: object
) -> VoicePack:
    """Load the pack in ``folder``; generate the clips it lacks (all of them if there is none)."""
    wanted = list(tokens) if tokens is not None else list(ALL_TOKENS)
    try:
        pack = load_pack(folder)
        missing = pack.missing(wanted)
    except DeviceError:
        missing = wanted
    if not missing:
        return pack
    return generate_pack(folder, missing, **kwargs)  # type: ignore[arg-type]
