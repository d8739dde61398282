# legsense portable core: runs unchanged on MicroPython (ESP32) and CPython.
# No I/O, no `machine`, no allocation in per-sample paths (see docs/architecture.md).
