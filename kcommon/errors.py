"""The one `ConfigError`, raised by the console and the bot alike.

Both read settings (the environment, `.env`, command-line options) and both must say
what is wrong in one line a user can act on, never a traceback and never a secret's
value. They raise the same exception, so a caller of either (`kconsole`, the demo that
runs both) catches one type. (`voice.config.describe_validation_error` writes the line
for pydantic settings.)
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line a user can act on."""
