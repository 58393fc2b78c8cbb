"""`--line` specs: what a bad phone line does, written the way a developer types it.

    echo=-20dB@150ms,codec=ulaw,noise=-50dBFS,jitter=60ms

Keys (all optional; comma-separated `key=value`, or a preset name as the first item,
which later keys override, e.g. `speakerphone,echo=-6dB@250ms`):

    echo=LOSSdB@DELAYms  the bot's own audio coming back from the caller's speaker,
                         LOSS dB quieter (6-40 dB on real phones), DELAY ms late; `off`
    drift=MSms           the echo delay steps within +-MS every few seconds during the call
    vary=DBdB            the echo loss glides within +-DB during the call
    codec=ulaw|alaw|linear   G.711 on the network leg (mu-law: India, US; A-law: Europe)
    band=300-3400|off    the telephone band limit (on by default with a G.711 codec)
    noise=LEVELdBFS      steady line / room noise (white); `off`
    babble=LEVELdBFS     other people talking in the background; `off`
    jitter=MSms          network jitter: frames held up to MS, then released in a burst
    loss=P%              packets lost on the carrier leg (concealed as silence)
    seed=N               the random seed (the same seed replays the same line)

Presets: clean, phone (mu-law, band, -60 dBFS hiss), speakerphone (phone with a strong,
drifting echo and room noise), mobile (phone with jitter, a little loss and a mild echo).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from voice.line.codec import Codec


class LineSpecError(ValueError):
    """A `--line` spec that does not parse; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class LineSpec:
    echo_loss_db: float | None = None  # None: no echo
    echo_delay_ms: float = 0.0
    echo_drift_ms: float = 0.0
    echo_vary_db: float = 0.0
    codec: Codec = "linear"
    band_limit: bool | None = None  # None: on with a G.711 codec
    noise_dbfs: float | None = None
    babble_dbfs: float | None = None
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    seed: int = 1

    @property
    def band(self) -> bool:
        return self.band_limit if self.band_limit is not None else self.codec != "linear"

    @property
    def echo(self) -> bool:
        return self.echo_loss_db is not None

    def describe(self) -> str:
        """The spec back as text (canonical form): what a log line or a report names."""
        parts: list[str] = []
        if self.echo_loss_db is not None:
            parts.append(f"echo=-{self.echo_loss_db:g}dB@{self.echo_delay_ms:g}ms")
            if self.echo_drift_ms:
                parts.append(f"drift={self.echo_drift_ms:g}ms")
            if self.echo_vary_db:
                parts.append(f"vary={self.echo_vary_db:g}dB")
        if self.codec != "linear":
            parts.append(f"codec={self.codec}")
        if self.band_limit is not None and self.band_limit != (self.codec != "linear"):
            parts.append("band=300-3400" if self.band_limit else "band=off")
        if self.noise_dbfs is not None:
            parts.append(f"noise={self.noise_dbfs:g}dBFS")
        if self.babble_dbfs is not None:
            parts.append(f"babble={self.babble_dbfs:g}dBFS")
        if self.jitter_ms:
            parts.append(f"jitter={self.jitter_ms:g}ms")
        if self.loss_pct:
            parts.append(f"loss={self.loss_pct:g}%")
        return ",".join(parts) or "clean"


PRESETS: dict[str, LineSpec] = {
    "clean": LineSpec(),
    "phone": LineSpec(codec="ulaw", noise_dbfs=-60.0),
    "speakerphone": LineSpec(echo_loss_db=12.0, echo_delay_ms=180.0, echo_drift_ms=30.0, echo_vary_db=3.0,
                             codec="ulaw", noise_dbfs=-50.0),
    "mobile": LineSpec(echo_loss_db=30.0, echo_delay_ms=120.0, codec="ulaw", noise_dbfs=-55.0,
                       jitter_ms=60.0, loss_pct=1.0),
}

_KEYS = ("echo", "drift", "vary", "codec", "band", "noise", "babble", "jitter", "loss", "seed")
_NUM = r"([+-]?\d+(?:\.\d+)?)"
_ECHO = re.compile(rf"^{_NUM}\s*db\s*@\s*{_NUM}\s*ms$", re.IGNORECASE)
_CODECS: dict[str, Codec] = {"ulaw": "ulaw", "mulaw": "ulaw", "u-law": "ulaw", "mu-law": "ulaw", "pcmu": "ulaw",
                             "alaw": "alaw", "a-law": "alaw", "pcma": "alaw", "linear": "linear", "pcm": "linear",
                             "l16": "linear", "none": "linear"}


def _quantity(key: str, value: str, unit: str, lo: float, hi: float, example: str) -> float:
    m = re.fullmatch(rf"{_NUM}\s*{re.escape(unit)}", value.strip(), re.IGNORECASE)
    if m is None:
        raise LineSpecError(f"{key}={value!r}: write a number in {unit}, e.g. {key}={example}")
    v = float(m.group(1))
    if not lo <= v <= hi:
        raise LineSpecError(f"{key}={value!r}: must be between {lo:g} and {hi:g} {unit}")
    return v


def parse_line_spec(text: str) -> LineSpec:
    """`echo=-20dB@150ms,codec=ulaw,...` -> LineSpec; LineSpecError says what is wrong."""
    items = [p.strip() for p in text.split(",") if p.strip()]
    if not items:
        raise LineSpecError("empty line spec; e.g. --line echo=-20dB@150ms,codec=ulaw,noise=-50dBFS,jitter=60ms")
    spec = LineSpec()
    if "=" not in items[0]:
        name = items.pop(0).lower()
        if name not in PRESETS:
            raise LineSpecError(f"unknown line preset {name!r}; presets: {', '.join(PRESETS)} (or key=value items)")
        spec = PRESETS[name]
    changes: dict[str, object] = {}
    seen: set[str] = set()
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise LineSpecError(f"{item!r}: expected key=value (keys: {', '.join(_KEYS)})")
        if key not in _KEYS:
            raise LineSpecError(f"unknown line key {key!r}; keys: {', '.join(_KEYS)}")
        if key in seen:
            raise LineSpecError(f"{key} given twice")
        seen.add(key)
        off = value.lower() in ("off", "none", "0")
        if key == "echo":
            if value.lower() in ("off", "none"):
                changes["echo_loss_db"] = None
                continue
            m = _ECHO.match(value)
            if m is None:
                raise LineSpecError(f"echo={value!r}: write LOSSdB@DELAYms, e.g. echo=-20dB@150ms")
            loss, delay = abs(float(m.group(1))), float(m.group(2))
            if not 0 <= loss <= 80:
                raise LineSpecError(f"echo={value!r}: the loss must be 0-80 dB (real phones: 6-40)")
            if not 0 <= delay <= 1000:
                raise LineSpecError(f"echo={value!r}: the delay must be 0-1000 ms (real phones: 20-300)")
            changes["echo_loss_db"], changes["echo_delay_ms"] = loss, delay
        elif key == "drift":
            changes["echo_drift_ms"] = _quantity(key, value, "ms", 0, 500, "40ms")
        elif key == "vary":
            changes["echo_vary_db"] = abs(_quantity(key, value, "dB", -20, 20, "3dB"))
        elif key == "codec":
            codec = _CODECS.get(value.lower())
            if codec is None:
                raise LineSpecError(f"codec={value!r}: choose ulaw, alaw or linear")
            changes["codec"] = codec
        elif key == "band":
            if value.lower() in ("off", "none", "no", "false"):
                changes["band_limit"] = False
            elif value.lower() in ("on", "300-3400", "yes", "true"):
                changes["band_limit"] = True
            else:
                raise LineSpecError(f"band={value!r}: write band=300-3400 or band=off")
        elif key in ("noise", "babble"):
            if value.lower() in ("off", "none"):
                changes[f"{key}_dbfs"] = None
            else:
                changes[f"{key}_dbfs"] = _quantity(key, value, "dBFS", -120, 0, "-50dBFS")
        elif key == "jitter":
            changes["jitter_ms"] = 0.0 if off else _quantity(key, value, "ms", 0, 2000, "60ms")
        elif key == "loss":
            changes["loss_pct"] = 0.0 if off else _quantity(key, value, "%", 0, 50, "1%")
        elif key == "seed":
            if not re.fullmatch(r"\d{1,9}", value):
                raise LineSpecError(f"seed={value!r}: a whole number, e.g. seed=7")
            changes["seed"] = int(value)
    return replace(spec, **changes)  # type: ignore[arg-type]

