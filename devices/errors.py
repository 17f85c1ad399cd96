"""The one exception root of the ``devices`` package.

Each layer translates the layer below's errors into one of these (``raise X(...) from err``),
so callers only ever catch :class:`DeviceError`. Messages are for technicians and never
carry a citizen's personal data.
"""


class DeviceError(Exception):
    """Root of every error raised by :mod:`devices`."""


class ProtocolError(DeviceError):
    """Bytes that do not form a valid frame (bad preamble, length or checksum)."""


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""


class DeviceUnavailable(DeviceError):
    """The port cannot be opened or the device went away (unplugged)."""


class DeviceRefused(DeviceError):
    """The device answered, but with a status that says it could not do it."""


class ConfigError(DeviceError):
    """A device setting is wrong (unknown driver, bad URL, bad baud rate)."""
