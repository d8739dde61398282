# The simulator's side of a virtual board's boot, inside the MicroPython VM (not part of
# the firmware; board_runner.mjs puts this folder on the VM's sys.path as /.sim).
#
# This port runs asyncio on the JavaScript event loop and collects garbage only when
# control returns to JavaScript, so asyncio.run() cannot block as it does on the board:
# here it starts the app as a task and unwinds main.py with _Detached, and the app then
# runs on the event loop. The USB serial port is the runner's stdin/stdout, served to
# the firmware's link through VmSerialPort in place of usb_link.StdioPort (this port has
# no select-able stdin). asyncio runs on the board's simulated clock: its ticks are
# machine.sim_ticks_ms and its timers the runner's virtual timers (board_runner.mjs), so
# a sleep of n ms is n simulated ms, and simulated time only passes while the VM waits.
#
# After a machine.lightsleep() the scheduler returns to JavaScript and resumes 1 ms of
# simulated time later (_WakeLatencyQueue): this port collects garbage only when control
# returns to JavaScript (it cannot scan the C stack), and a firmware that sleeps in one
# task while the others keep being due would otherwise never leave the scheduler's loop
# (a whole night in one call, until the heap is full). 1 ms is about the ESP32's own
# wake-up latency from light sleep.

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


# Emscripten numbers errno values as WASI does (ENOENT is 44); MicroPython, its errno
# module and tools such as mpremote expect the usual ones (ENOENT is 2).
_ERRNO = {
    63: 1,
    44: 2,
    29: 5,
    8: 9,
    6: 11,
    48: 12,
    2: 13,
    20: 17,
    75: 18,
    43: 19,
    54: 20,
    31: 21,
    28: 22,
    41: 23,
    33: 24,
    51: 28,
    69: 30,
    37: 36,
    55: 39,
}


def _mapped(e):
    code = e.args[0] if e.args else 0
    return OSError(_ERRNO.get(code, code))


class FlashVfs:
    """The flash as the board's "/": the port's VfsPosix with the errno values fixed."""

    def __init__(self, inner):
        self.inner = inner

    def _call(self, name, *args):
        try:
            return getattr(self.inner, name)(*args)
        except OSError as e:
            raise _mapped(e) from None

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        return self._call("open", path, mode)

    def ilistdir(self, path):
        return iter(list(self._call("ilistdir", path)))

    def chdir(self, path):
        return self._call("chdir", path)

    def getcwd(self):
        return self._call("getcwd")

    def mkdir(self, path):
        return self._call("mkdir", path)

    def remove(self, path):
        return self._call("remove", path)

    def rename(self, old, new):
        return self._call("rename", old, new)

    def rmdir(self, path):
        return self._call("rmdir", path)

    def stat(self, path):
        return self._call("stat", path)

    def statvfs(self, path):
        return self._call("statvfs", path)


class _VirtualTimers:
    # Stands in for the `js` module inside asyncio.core: its event loop schedules itself
    # with setTimeout/clearTimeout, here on the board's simulated clock.
    @staticmethod
    def setTimeout(fn, ms):
        return _vmhost.set_timer(fn, ms)

    @staticmethod
    def clearTimeout(handle):
        if handle is not None:
            _vmhost.clear_timer(handle)


class _Later:
    # What the run queue shows right after a light sleep: a task due in 1 ms.
    def __init__(self, key):
        self.ph_key = key


class _WakeLatencyQueue:
    """asyncio's run queue, except that after a light sleep the scheduler sees nothing
    due for 1 ms (see the module doc)."""

    def __init__(self, queue, machine, core):
        self._q = queue
        self._machine = machine
        self._core = core
        self.entry = 0

    def push(self, *args):
        return self._q.push(*args)

    def pop(self):
        return self._q.pop()

    def remove(self, task):
        return self._q.remove(task)

    def peek(self):
        task = self._q.peek()
        if task is not None and self._machine._sleeps[0] != self.entry:
            core = self._core
            return _Later(core.ticks_add(core.ticks(), 1))
        return task


def setup():
    import asyncio.core as core

    import machine

    core.ticks = machine.sim_ticks_ms  # sleep_ms and the run loop read simulated ticks
    core.js = _VirtualTimers
    asyncio.run = _run
    queue = _WakeLatencyQueue(core._task_queue, machine, core)
    run_iter = core._run_iter

    def run_iter_after_sleep():
        queue.entry = machine._sleeps[0]
        run_iter()

    core._task_queue = queue
    core._run_iter = run_iter_after_sleep
    import vfs

    vfs.umount("/")
    vfs.mount(FlashVfs(vfs.VfsPosix()), "/")


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
