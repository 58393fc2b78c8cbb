"""Benchmarks of the bot and the console: `python -m bench [--quick] [--only NAME,...]`.

Every figure of issue 5 has its own module (`fig_*.py`) exposing `NAME`, `TITLE` and
`async def run(ctx) -> Figure`. Figures print tables with the target and PASS/MISS; they are
measurements, never tests: nothing here is part of the test run. Everything runs on
loopback, bounded in count and time (the whole run takes a few minutes on 2 cores).
"""
