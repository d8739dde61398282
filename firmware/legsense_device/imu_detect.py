# Find the IMU on the board's I2C bus by its WHO_AM_I register and open its driver.
#
# ST LSM6 parts answer at 0x6A/0x6B (SA0 pin), InvenSense MPU parts at 0x68/0x69 (AD0).
# WHO_AM_I: LSM6DSOX and LSM6DSO both read 0x6C (the board profile's `imu` name decides
# which, default lsm6dsox; they share registers and scales), LSM6DS3TR-C 0x6A,
# MPU-6050 0x68 (whatever AD0 is), MPU-6886 0x19.

LSM6_ADDRESSES = (0x6A, 0x6B)
MPU6_ADDRESSES = (0x68, 0x69)
ADDRESSES = LSM6_ADDRESSES + MPU6_ADDRESSES

_LSM6_WHO_AM_I_REG = 0x0F
_MPU6_WHO_AM_I_REG = 0x75
_LSM6_IDS = {0x6C: "lsm6dsox", 0x6A: "lsm6ds3trc"}
_MPU6_IDS = {0x68: "mpu6050", 0x19: "mpu6886"}


class IMUNotFoundError(OSError):
    """No supported IMU answered; the message says what was tried and what answered."""


def _who_am_i(i2c, address, reg, buf):
    try:
        i2c.readfrom_mem_into(address, reg, buf)
    except OSError:
        return None
    return buf[0]


def identify(i2c, addresses=ADDRESSES, hint=None):
    """Return (name, address) of the first supported IMU found, or (None, notes).

    notes lists the addresses that answered with an unknown WHO_AM_I.
    """
    buf = bytearray(1)
    notes = []
    for address in addresses:
        lsm = address in LSM6_ADDRESSES
        reg = _LSM6_WHO_AM_I_REG if lsm else _MPU6_WHO_AM_I_REG
        who = _who_am_i(i2c, address, reg, buf)
        if who is None:
            continue
        name = (_LSM6_IDS if lsm else _MPU6_IDS).get(who)
        if name is None:
            notes.append("0x%02x answered WHO_AM_I=0x%02x" % (address, who))
            continue
        if name == "lsm6dsox" and hint == "lsm6dso":
            name = "lsm6dso"
        return name, address
    return None, notes


def open_imu(i2c, addresses=ADDRESSES, hint=None):
    """Probe the bus and return a driver for the IMU found.

    hint is the board profile's IMU name; it only chooses between parts that share a
    WHO_AM_I (LSM6DSO vs LSM6DSOX). Raises IMUNotFoundError naming the bus, the
    addresses tried and what i2c.scan() saw.
    """
    name, where = identify(i2c, addresses, hint)
    if name is None:
        try:
            seen = ", ".join("0x%02x" % a for a in i2c.scan()) or "nothing"
        except OSError as e:
            seen = "scan failed (%s)" % e
        msg = "no supported IMU on %s: tried %s; scan() found %s" % (
            i2c,
            ", ".join("0x%02x" % a for a in addresses),
            seen,
        )
        if where:
            msg += "; " + "; ".join(where)
        raise IMUNotFoundError(msg)
    if name.startswith("lsm6"):
        from legsense_device.imu_lsm6 import open_lsm6

        return open_lsm6(i2c, where, name)
    from legsense_device.imu_mpu6 import open_mpu6

    return open_mpu6(i2c, where, name)
