"""Echo handling on the uplink: the bot's own playback is the reference."""

from voice.echo.canceller import EchoCanceller, EchoStats

__all__ = ["EchoCanceller", "EchoStats"]
