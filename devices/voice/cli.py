"""Voice commands for ``python -m devices``: ``voice-pack --ensure``, ``say TEXT``,
``announce A001 3``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from devices.voice import pack as packs
from devices.voice.announcer import Announcer
from devices.voice.settings import VoiceSettings


def _settings(args: argparse.Namespace) -> VoiceSettings:
    return VoiceSettings(
        driver=args.sink,
        pack_root=args.pack_root,
        output_dir=args.out,
        repeat=getattr(args, "repeat", 1) or 1,
    )


def _sink_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sink", default="auto", choices=["auto", "aplay", "paplay", "file", "null"]
    )
    parser.add_argument("--out", help="file sink: folder for the WAVs")
    parser.add_argument("--pack-root", help="folder holding the voice packs")


def cmd_voice_pack(args: argparse.Namespace) -> int:
    root = Path(args.pack_root) if args.pack_root else packs.default_pack_root()
    folder = root / args.name
    pack = packs.ensure_pack(folder) if args.ensure else packs.load_pack(folder)
    missing = pack.missing(packs.ALL_TOKENS)
    print(f"voice pack {pack.name} in {pack.folder}: {len(pack.clips)} clips")
    if missing:
        print(f"missing clips: {' '.join(missing)}")
    return 1 if missing else 0


def _play(announcer: Announcer, item: Any) -> int:
    try:
        item.wait(timeout=120)
    finally:
        announcer.close()
    if item.error is not None:
        print(f"playing failed: {item.error}")
        return 1
    print(f"spoken{' (TTS)' if item.used_tts else ''}: {item.text}")
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    announcer = Announcer(_settings(args))
    return _play(announcer, announcer.say(args.text))


def cmd_announce(args: argparse.Namespace) -> int:
    announcer = Announcer(_settings(args))
    return _play(announcer, announcer.announce(args.ticket, args.window))


def add_commands(subparsers: Any) -> None:
    """Add the voice commands to an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser("voice-pack", help="check or generate the Mandarin voice pack")
    p.add_argument("--ensure", action="store_true", help="generate missing clips with espeak-ng")
    p.add_argument("--name", default="cmn", help="pack folder name")
    p.add_argument("--pack-root", help="folder holding the voice packs")
    p.set_defaults(func=cmd_voice_pack)

    p = subparsers.add_parser("say", help="speak a text with TTS")
    p.add_argument("text")
    _sink_options(p)
    p.set_defaults(func=cmd_say)

    p = subparsers.add_parser("announce", help="announce a call, e.g. announce A001 3")
    p.add_argument("ticket")
    p.add_argument("window")
    p.add_argument("--repeat", type=int, default=1)
    _sink_options(p)
    p.set_defaults(func=cmd_announce)
