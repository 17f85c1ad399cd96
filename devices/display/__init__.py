"""Window displays (窗口屏): show the called ticket number and window."""

from devices.display.settings import DisplaySettings

__all__ = ["DisplaySettings"]
