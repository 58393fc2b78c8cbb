"""The bot fleet: many `kconsole bot` workers, one Redis, every call visible to every console.

The bus is telemetry, never the call path: a worker serves its calls the same with Redis
up, down or never configured. What goes through Redis (Streams, an existing engine, not a
home-made broker):

- `streams`: key names and the wire encoding both sides share;
- `publisher`: a worker's side: every monitor event of every call to one bounded stream,
  heartbeats (live calls, load, loop lag), the recordings index, and the per-worker command
  stream it answers;
- `watcher` lives in `console.fleetwatch` (the console's side) and reads the same keys.
"""
