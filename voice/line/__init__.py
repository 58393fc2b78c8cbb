"""A simulated phone line (echo, G.711, band limit, noise, babble, jitter, loss): used by
the tests, by `make bench` and by `kconsole call --line ...`."""

from voice.line.simulator import JitterShaper, PhoneLine, Playout
from voice.line.spec import PRESETS, LineSpec, LineSpecError, parse_line_spec

__all__ = ["PRESETS", "JitterShaper", "LineSpec", "LineSpecError", "PhoneLine", "Playout", "parse_line_spec"]
