"""Links to a device: one abstract Transport, thin backends (pyserial now, BLE later)."""

from legsense.transport.base import (
    DeviceRefused,
    FramedTransport,
    LinkClosed,
    LinkTimeout,
    NoSuchPort,
    PortPermission,
    ProtocolMismatch,
    Transport,
)
from legsense.transport.serial_port import DEFAULT_BAUD, SerialTransport, serial_ports

__all__ = [
    "DEFAULT_BAUD",
    "DeviceRefused",
    "FramedTransport",
    "LinkClosed",
    "LinkTimeout",
    "NoSuchPort",
    "PortPermission",
    "ProtocolMismatch",
    "SerialTransport",
    "Transport",
    "serial_ports",
]
