"""Set up Kivy for a kiosk before any widget is imported: config, CJK font, window.

Call :func:`boot` first thing; it must run before ``kivy.uix`` is imported anywhere.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
FONT_NAME = "HallCJK"
#: Uyghur (Arabic script): DejaVu Sans maps every presentation form the reshaper produces
#: (kiosk/rtl.py), Uyghur's included, and has a real bold
RTL_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
)
RTL_FONT_NAME = "HallRTL"


def find_font() -> str:
    env = os.environ.get("KIOSK_FONT")
    for path in ((env,) if env else ()) + FONT_CANDIDATES:
        if path and Path(path).exists():
            return path
    raise SystemExit(
        "No CJK font found: install fonts-wqy-microhei (./hallkit.sh does) "
        "or set KIOSK_FONT to a .ttf/.ttc file"
    )


def find_rtl_font() -> tuple[str, str] | None:
    """(regular, bold) of the Arabic-script face, or None (then Uyghur texts are drawn
    with the CJK font, and the audit reports every glyph it lacks)."""
    env = os.environ.get("KIOSK_FONT_RTL")
    if env and Path(env).exists():
        return env, env
    for regular, bold in RTL_FONT_CANDIDATES:
        if Path(regular).exists():
            b = Path(regular).with_name(bold)
            return regular, str(b) if b.exists() else regular
    return None


def boot(
    *,
    fullscreen: bool,
    rotation: int = 0,
    size: tuple[int, int] = (1080, 1920),
    headless: bool = False,
) -> None:
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    # SDL turns SIGTERM/SIGINT into a window-close request, which a kiosk ignores; leave
    # the signals to Python so a service manager (or the demo) can stop the kiosk.
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    if "KIVY_HOME" not in os.environ:
        os.environ["KIVY_HOME"] = tempfile.mkdtemp(prefix="kiosk-kivy-")
    if headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "warning")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "show_cursor", "0" if fullscreen else "1")
    Config.set("graphics", "borderless", "1" if fullscreen else "0")
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "rotation", str(rotation))
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "resizable", "0")
    font = find_font()
    from kivy.core.text import LabelBase

    # Regular and bold: WenQuanYi has one weight; Kivy fakes bold from it.
    LabelBase.register(FONT_NAME, font, fn_bold=font)
    Config.set("kivy", "default_font", [FONT_NAME, font, font, font, font])
    regular, bold = find_rtl_font() or (font, font)
    LabelBase.register(RTL_FONT_NAME, regular, fn_bold=bold)
