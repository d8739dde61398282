# Boot entry of the legsense firmware (MicroPython runs main.py after boot.py).
#
# Whatever goes wrong, the board must not reset into the same failure again and again,
# and its REPL must stay reachable (that is how it is repaired): an exception is printed
# and saved to /crash.txt. While a night records, the board resets at once instead, so
# the night resumes (the app's reset-loop guard ends the night after five resets in ten
# minutes, and the next crash then stays here). Otherwise, if the watchdog was already
# running, a timer keeps feeding it so the board stays at the REPL.

import sys

CRASH_FILE = "/crash.txt"


def _report(exc):
    print("legsense: the app stopped:")
    sys.print_exception(exc)  # type: ignore  (MicroPython)
    try:
        with open(CRASH_FILE, "w") as f:
            sys.print_exception(exc, f)  # type: ignore
    except OSError:
        pass


def main():
    app = None
    try:
        import asyncio

        from legsense_device.app import App

        app = App()
        asyncio.run(app.run())
    except KeyboardInterrupt:  # Ctrl-C at the REPL: a person is at the keyboard
        print("legsense: interrupted")
    except Exception as e:
        _report(e)
        if app is not None:
            app.reset_to_resume("panic")  # returns only when no night records
    if app is not None and app.watchdog is not None:
        app.watchdog.feed_from_timer()


main()
