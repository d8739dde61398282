"""An I2C bus with emulated devices, offering the machine.I2C methods of MicroPython.

Devices attach at 7-bit addresses and see the bus as a real I2C target does: a write
transfer whose first byte sets the register pointer (and the rest writes registers), and
read transfers that continue from the pointer. The target decides how the pointer
advances (auto-increment, FIFO registers that do not advance, roll-back windows).

Errors match MicroPython on the ESP32: a transfer to an address nobody acknowledges
raises OSError(ENODEV) ("[Errno 19] ENODEV").

Byte counting (always on, cheap) gives bus statistics for power and timing estimates:
each transfer costs a start, the address byte, its data bytes (9 clocks each with the
ACK) and a stop; a register read is two transfers joined by a repeated start.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Protocol


class I2CTarget(Protocol):
    """What a device on the emulated bus implements."""

    def i2c_write(self, data: bytes) -> None:
        """A write transfer: data[0] is the register address, the rest are values."""
        ...

    def i2c_read(self, n: int) -> bytes:
        """A read transfer of n bytes from the current register pointer."""
        ...


class RegisterTarget:
    """An I2C target with a register pointer, as both IMU families are: a write transfer
    sets the pointer and writes values from it, a read transfer reads from it; the
    pointer advances by the device's own rule (`_next`). Subclasses supply the registers."""

    ptr: int = 0

    def _read_reg(self, reg: int) -> int:
        raise NotImplementedError

    def _write_reg(self, reg: int, value: int) -> None:
        raise NotImplementedError

    def _next(self, reg: int) -> int:
        raise NotImplementedError

    def i2c_write(self, data: bytes) -> None:
        """Write transfer: register address, then values (the pointer advances)."""
        if not data:
            return
        self.ptr = data[0] & 0x7F
        for value in data[1:]:
            self._write_reg(self.ptr, value)
            self.ptr = self._next(self.ptr)

    def i2c_read(self, n: int) -> bytes:
        """Read transfer from the register pointer."""
        out = bytearray(n)
        for k in range(n):
            out[k] = self._read_reg(self.ptr)
            self.ptr = self._next(self.ptr)
        return bytes(out)


@dataclass
class BusStats:
    """Traffic counted on the bus since the last reset."""

    transfers: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    clocks: int = 0  # SCL clocks, including address bytes, ACKs, starts and stops

    def seconds(self, freq_hz: int) -> float:
        """Time the bus was busy at an SCL frequency of freq_hz."""
        return self.clocks / freq_hz


class EmulatedI2C:
    """Stands in for machine.I2C(id, scl=..., sda=..., freq=...) with emulated targets."""

    def __init__(self, bus_id: int = 0, scl: int = 22, sda: int = 21, freq: int = 400_000):
        self.bus_id = bus_id
        self.scl = scl
        self.sda = sda
        self.freq = freq
        self.stats = BusStats()
        self._targets: dict[int, I2CTarget] = {}

    def __repr__(self) -> str:
        # The same text MicroPython's ESP32 port prints for an I2C object.
        return f"I2C({self.bus_id}, scl={self.scl}, sda={self.sda}, freq={self.freq})"

    def attach(self, address: int, target: I2CTarget) -> None:
        """Connect a target at a 7-bit address (0x08-0x77)."""
        if not 0x08 <= address <= 0x77:
            raise ValueError(f"I2C address 0x{address:02x} outside 0x08-0x77")
        if address in self._targets:
            raise ValueError(f"I2C address 0x{address:02x} already in use")
        self._targets[address] = target

    def detach(self, address: int) -> None:
        """Disconnect the target at an address (as if its wire came loose)."""
        del self._targets[address]

    def _target(self, address: int) -> I2CTarget:
        target = self._targets.get(address)
        if target is None:
            self.stats.transfers += 1
            self.stats.clocks += 9 + 2  # the address byte went out, nobody acknowledged
            raise OSError(errno.ENODEV, "ENODEV")
        return target

    def _count(self, n_read: int, n_written: int, transfers: int) -> None:
        s = self.stats
        s.transfers += transfers
        s.bytes_read += n_read
        s.bytes_written += n_written
        s.clocks += 9 * (n_read + n_written + transfers) + 2 * transfers

    # --- machine.I2C API -------------------------------------------------------------

    def scan(self) -> list[int]:
        """Addresses that acknowledge, ascending (ESP32 probes 0x08-0x77)."""
        self._count(0, 0, 0x78 - 0x08)
        return sorted(self._targets)

    def readfrom_mem_into(self, addr: int, memaddr: int, buf, *, addrsize: int = 8) -> None:
        """Read len(buf) bytes starting at register memaddr into buf."""
        target = self._target(addr)
        target.i2c_write(bytes((memaddr,)))
        data = target.i2c_read(len(buf))
        memoryview(buf).cast("B")[:] = data
        self._count(len(data), 1, 2)

    def readfrom_mem(self, addr: int, memaddr: int, nbytes: int, *, addrsize: int = 8) -> bytes:
        """Read nbytes starting at register memaddr."""
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize=addrsize)
        return bytes(buf)

    def writeto_mem(self, addr: int, memaddr: int, buf, *, addrsize: int = 8) -> None:
        """Write buf to registers starting at memaddr."""
        target = self._target(addr)
        data = bytes(buf)
        target.i2c_write(bytes((memaddr,)) + data)
        self._count(0, 1 + len(data), 1)

    def readfrom(self, addr: int, nbytes: int, stop: bool = True) -> bytes:
        """Plain read transfer: continues from the target's register pointer."""
        data = self._target(addr).i2c_read(nbytes)
        self._count(len(data), 0, 1)
        return data

    def readfrom_into(self, addr: int, buf, stop: bool = True) -> None:
        """Plain read transfer into buf."""
        memoryview(buf).cast("B")[:] = self.readfrom(addr, len(buf), stop)

    def writeto(self, addr: int, buf, stop: bool = True) -> int:
        """Plain write transfer; returns the number of ACKs, as MicroPython does."""
        data = bytes(buf)
        self._target(addr).i2c_write(data)
        self._count(0, len(data), 1)
        return len(data)
