"""The Stream Node emulator: call a voice bot the way Knowlarity does, and measure it."""

from voice.caller.call import *  # noqa: F403 - transitional: the package is split up next
