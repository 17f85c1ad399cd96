"""WCAG 2.x contrast maths (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def _channel(c: float) -> float:
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: Sequence[float]) -> float:
    """Relative luminance of an sRGB colour with channels in 0..1."""
    r, g, b = (_channel(float(x)) for x in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def blend(fg: Sequence[float], bg: Sequence[float]) -> tuple[float, float, float]:
    """``fg`` with its alpha over an opaque ``bg``."""
    a = float(fg[3]) if len(fg) > 3 else 1.0
    return tuple(a * float(f) + (1 - a) * float(b) for f, b in zip(fg[:3], bg[:3], strict=True))  # type: ignore[return-value]


def contrast(fg: Sequence[float], bg: Sequence[float]) -> float:
    """Contrast ratio 1..21 of text ``fg`` (alpha blended) over background ``bg``."""
    l1 = luminance(blend(fg, bg))
    l2 = luminance(bg)
    hi, lo = max(l1, l2), min(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


def hex_rgba(h: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    h = h.lstrip("#")
    return (int(h[0:2], 16) / 255, int(h[2:4], 16) / 255, int(h[4:6], 16) / 255, alpha)
