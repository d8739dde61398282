"""Shared pytest options."""


def pytest_addoption(parser):
    parser.addoption(
        "--hil-port",
        default=None,
        help="serial port of a real board for the HIL replay tests (or set LEGSENSE_PORT)",
    )
