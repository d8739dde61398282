# The simulator's side of a virtual board's boot, inside the MicroPython VM (not part of
# the firmware; board_runner.mjs puts this folder on the VM's sys.path as /.sim).
#
# This port runs asyncio on the JavaScript event loop and collects garbage only when
# control returns to JavaScript, so asyncio.run() cannot block as it does on the board:
# here it starts the app as a task and unwinds main.py with _Detached, and the app then
# runs on the event loop. The USB serial port is the runner's stdin/stdout, served to
# the firmware's link through VmSerialPort in place of usb_link.StdioPort (this port has
# no select-able stdin). Sleeps are shortened by the board's speed factor, so simulated
# time (machine.sim_ticks_ms) and the event loop agree.

import asyncio
import sys
from binascii import hexlify, unhexlify

import _vmhost

_main = None


class _Detached(BaseException):
    # Not an Exception: main.py's handlers must let it through.
    pass


async def _supervise(coro):
    try:
        await coro
    except Exception as e:
        print("legsense: the app stopped:")
        sys.print_exception(e)
    _vmhost.enter_repl()


def _run(coro):
    global _main
    _main = asyncio.create_task(_supervise(coro))
    raise _Detached()


class VmSerialPort:
    """The board's USB serial port for usb_link.UsbLink: read_into() and write()."""

    async def read_into(self, buf):
        while True:
            text = _vmhost.serial_read(len(buf))
            if text is not None:
                data = unhexlify(text)
                n = len(data)
                buf[0:n] = data
                return n
            await _vmhost.serial_wait()

    async def write(self, data):
        _vmhost.serial_write(hexlify(data).decode())


def setup():
    milli = int(_vmhost.speed() * 1000 + 0.5)
    if milli != 1000:
        sleep_ms = asyncio.sleep_ms

        def fast_sleep_ms(ms):
            return sleep_ms(ms * 1000 // milli)

        def fast_sleep(s):
            return sleep_ms(int(s * 1000000) // milli)

        asyncio.sleep_ms = fast_sleep_ms
        asyncio.sleep = fast_sleep
    asyncio.run = _run


def _run_file(name):
    try:
        with open(name) as f:
            code = f.read()
    except OSError:
        return
    exec(compile(code, name, "exec"), {"__name__": "__main__"})


def _use_vm_serial():
    try:
        import legsense_device.usb_link as usb_link
    except Exception:  # a board without the firmware, or a broken one: its own problem
        return
    usb_link.StdioPort = VmSerialPort


def boot(mode):
    """Run boot.py, then (unless mode is "raw") main.py; True when the app was started
    and now runs on the event loop."""
    try:
        _run_file("boot.py")
        if mode == "raw":
            return False
        _use_vm_serial()
        _run_file("main.py")
    except _Detached:
        return True
    except SystemExit:
        pass
    except BaseException as e:
        sys.print_exception(e)
    return False


def interrupt():
    """Ctrl-C while the app runs: drop its tasks (a new, empty event loop)."""
    import machine

    machine._stop_timers()
    asyncio.new_event_loop()
    print("KeyboardInterrupt")
