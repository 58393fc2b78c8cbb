"""`kconsole doctor`: the voice guide's pre-flight checklist and troubleshooting, run.

Each check answers one item of the guide's checklist or one of its common issues with
ok / warn / fail and, when it is not ok, the fix:

- the port is free, or held by a running kconsole bot (then that bot is checked), or
  held by another process, which is named (issue 3);
- TLS: the certificate and key load and belong together, the certificate names the
  public host and is not expired; plain ws:// is refused off loopback (WSS only);
- the path the Stream Node will use matches the bot's route, token included (issue 8);
- the Stream Node's sampling-rate matches the bot's rate (issue 4);
- provider keys are present and accepted, by a minimal request to each vendor; a vendor
  that cannot be reached from here is said to be unreachable, not declared bad;
- the greeting renders at the configured rate as 16-bit mono WAV, and is not silence;
- a self-call through the bot's own endpoint is greeted within the Stream Node's limit
  (issue 1), with playAudio in the right format (issue 4);
- with a public URL: it reaches this bot, and when it does not (a restarted ngrok gives
  a new URL, issue 7) that is said, with the fix.
"""

from voice.doctor.result import CheckResult, Status

__all__ = ["CheckResult", "Status"]
