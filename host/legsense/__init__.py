"""legsense host bridge: offline analysis, WASM/IRLSSG 2016 scoring, night files."""

__version__ = "0.1.0"
