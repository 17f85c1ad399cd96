"""Hall devices: ID card reader, scanners, receipt printer, queue displays and voice.

Layout per device: a pure ``protocol`` module (bytes in, typed values out), a ``driver``
(I/O, timeouts, retries, reconnect) and a ``simulator`` speaking the same wire protocol.
"""

from devices.errors import DeviceError
from devices.state import DeviceState, DeviceStatus

__all__ = ["DeviceError", "DeviceState", "DeviceStatus"]
