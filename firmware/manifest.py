# ruff: noqa: F821
# pyright: reportUndefinedVariable=false
# MicroPython freeze manifest for legsense (a build input, not imported on the board).
#
# Frozen modules keep their bytecode in the firmware image (flash) instead of the heap:
# that is what brings the app within its 64 KB heap budget (docs/firmware.md, "Heap
# budget"). Build a MicroPython image for the ESP32 with it:
#
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/legsense/firmware/manifest.py
#
# in micropython/ports/esp32 with ESP-IDF set up (recipe in docs/firmware.md). Paths
# here are relative to this file. The board profiles (boards/*.json) are data read at
# boot and stay on the filesystem, as do main.py and config.json.

# The port's own frozen modules (asyncio, the ESP32 helpers) must stay in the image.
include("$(PORT_DIR)/boards/manifest.py")

# The BLE link's library (micropython-lib); `make flash` installs it with mip otherwise.
require("aioble")

package("legsense_core")
package("legsense_device")
