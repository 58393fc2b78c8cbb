"""Small, dependency-free helpers that the console, the bot and the sandbox all import.

Each module has one job and imports nothing outside the standard library, so any part of
the product (and its tests) can use it without pulling in Textual, pydantic or a network
library: `text` (control characters made visible), `redact` (keys and tokens hidden),
`logsafe` (every log record formatted as data, escaped and redacted) and `backoff` (the one
retry schedule).
"""
