# The BLE link's GATT layout and rules, shared by the device (legsense_device.ble_link),
# the host (legsense.transport.ble) and the simulated peripheral the tests run.
#
# One primary service with two characteristics carries the very same byte stream as
# the USB link (frames.py frames, back to back):
#
#   REQUEST  write (with response)  host -> device  encoded request frames, cut into
#                                                   pieces of at most ATT MTU - 3 bytes
#   REPLY    notify                 device -> host  encoded reply frames, cut the same way
#
# Frames are self-delimiting (00 ... 00) and CRC-checked, so the pieces need no header
# of their own: each side feeds whatever arrives into a FrameDecoder.
#
# Who may do what (docs/ble.md, "Pairing and bonding"): HELLO and GET_TIME are open to
# any peer (enough to identify the device and to report a protocol mismatch); every
# other request, reads included (nights are health data), needs an encrypted link with
# a bonded peer. New bonds are taken only while the device's pairing window is open
# (a button press), so a stranger's phone can neither read nor erase nights.

try:
    from micropython import const  # type: ignore  (the CPython fallback differs in signature)
except ImportError:  # CPython

    def const(x):
        return x


from legsense_core import protocol as P

# 128-bit UUIDs (random, v4), one family: ...de82 service, ...de83 request, ...de84 reply.
SERVICE_UUID = "7793de82-3710-4837-84f9-5cd602be3f45"
REQUEST_UUID = "7793de83-3710-4837-84f9-5cd602be3f45"
REPLY_UUID = "7793de84-3710-4837-84f9-5cd602be3f45"

DEFAULT_MTU = const(23)  # ATT MTU before any exchange (Core spec minimum for LE)
PREFERRED_MTU = const(247)  # asked for / offered: a 251-byte LL PDU with data length ext.
ATT_HEADER = const(3)  # opcode + attribute handle in a notification or a write
REQUEST_BUFFER = const(512)  # bytes the device buffers on REQUEST between two reads

NAME_PREFIX = "legsense-"
ADV_INTERVAL_US = const(625000)  # 625 ms: found within a 2-3 s scan, ~20 uA on an ESP32
PAIRING_WINDOW_S = const(120)  # a button press accepts new bonds for this long

OPEN_REQUESTS = (P.HELLO, P.GET_TIME)  # allowed from any connected peer
REFUSAL_TEXT = "pair first: press the device's button, then connect within 2 minutes"


def piece_size(mtu):
    """Bytes of frame stream per notification or write at this ATT MTU."""
    if not mtu or mtu < DEFAULT_MTU:
        mtu = DEFAULT_MTU
    return mtu - ATT_HEADER


def advertised_name(device_id):
    """The GAP name: the prefix and the last 6 characters of the device id."""
    return NAME_PREFIX + device_id[-6:]


def allowed(mtype, trusted):
    """May a peer send a request of this type? trusted = encrypted link, bonded peer."""
    return trusted or mtype in OPEN_REQUESTS


def refuse(body, trusted, out):
    """0 when the request in body may be served; otherwise the length of the ERROR
    (E_UNAUTHORISED) reply body written into out. Bodies too short to carry a header
    go through, the server answers them with its own ERROR 1."""
    if trusted or len(body) < P.HEADER_SIZE:
        return 0
    mtype = body[1]
    if mtype in OPEN_REQUESTS:
        return 0
    seq = body[2] | (body[3] << 8)
    return P.encode_body(out, P.ERROR, seq, (P.E_UNAUTHORISED, mtype, REFUSAL_TEXT))
