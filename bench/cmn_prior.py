"""`python -m bench.cmn_prior [--check]`: measure the recogniser's cepstral-mean priors.

pocketsphinx normalises its features by a running cepstral mean; a call's first
utterance starts from an initial mean (`voice.providers.local_stt.CMN_PRIOR_*`). This
decodes the script's phrases, spoken by the turn corpus's three eSpeak voices, as first
utterances of fresh calls, through each front end the bot has: 16 kHz linear (wideband),
and 8 kHz linear and 8 kHz through a G.711 phone line (narrowband: upsampled, the upper
band filled with noise). It prints each front end's mean of the utterances' own means:
the constants to paste.

`--check` then decodes everything again with each voice's prior taken from the *other*
voices only, and prints the first pass's intent accuracy and the distance to the prior, so
the prior is judged on a voice it has not seen (~2 min on one core, ~4 with --check).
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass

import numpy as np

from bench.corpus import silence_s, with_line_noise
from bench.turn_corpus import VOICES, _synth, phone_line
from voice.providers import local_stt
from voice.providers.local_stt import PocketsphinxSTT
from voice.providers.script import IntentMatcher, load_script

FRONT_ENDS = [("wideband", 16000, False), ("narrowband", 8000, False), ("narrowband", 8000, True)]


@dataclass(frozen=True)
class Decoded:
    voice: str
    front_end: str
    own: np.ndarray | None  # the utterance's own cepstral mean
    ok: bool  # its first pass reached the phrase's intent


def _fmt(v: np.ndarray) -> str:
    return ",".join(f"{x:.1f}" for x in v)


async def _measure(priors: dict[tuple[str, str], str] | None) -> list[Decoded]:
    script = load_script(None)
    matcher = IntentMatcher(script)
    stt = PocketsphinxSTT(script.vocabulary(), turn=None, cmn_priors=False)
    rows: list[Decoded] = []
    for voice in VOICES:
        for name, rate, line in FRONT_ENDS:
            for intent in script.intents:
                for phrase in intent.phrases:
                    pcm = await _synth(phrase, rate, voice)
                    if line:
                        pcm = phone_line(pcm, rate)
                    audio = with_line_noise(silence_s(rate, 0.3) + pcm + silence_s(rate, 0.9), rate)
                    stream = await stt.open(sample_rate=rate, call_id="prior")
                    if priors is not None:
                        stream.cmn_prior = priors[(voice[0], name)]
                    await stream.send(audio)
                    await stream.close()
                    first_pass = [t.text for t in [r async for r in stream.results()] if t.final]
                    match = matcher.match(" ".join(first_pass), previous="order_status" if intent.name == "order_number"
                                          else None)
                    rows.append(Decoded(voice[0], name, stream.utterance_cmn,
                                        match.intent is not None and match.intent.name == intent.name))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="leave-one-voice-out accuracy of the first pass")
    args = parser.parse_args()
    # Each utterance's own mean is read at its end, over all of it: no second pass early in
    # a pause, which would measure the mean of the speech before that pause only.
    local_stt.SECOND_PASS_AT_MS = 10**9
    rows = asyncio.run(_measure(None))
    for name in ("wideband", "narrowband"):
        own = np.array([r.own for r in rows if r.front_end == name and r.own is not None])
        print(f"CMN_PRIOR_{name.upper()} = \"{_fmt(own.mean(0))}\"  # {len(own)} utterances")
    if not args.check:
        return
    priors = {}
    for voice in VOICES:
        for name in ("wideband", "narrowband"):
            others = [r.own for r in rows if r.front_end == name and r.voice != voice[0] and r.own is not None]
            priors[(voice[0], name)] = _fmt(np.mean(others, axis=0))
    original = local_stt.CMN_CHANNEL_CHANGE, local_stt.CMN_REDECODE_DISTANCE
    local_stt.CMN_CHANNEL_CHANGE = local_stt.CMN_REDECODE_DISTANCE = float("inf")  # pass 1 only: the prior alone
    try:
        checked = asyncio.run(_measure(priors))
    finally:
        local_stt.CMN_CHANNEL_CHANGE, local_stt.CMN_REDECODE_DISTANCE = original
    for voice in VOICES:
        for name in ("wideband", "narrowband"):
            mine = [r for r in checked if r.voice == voice[0] and r.front_end == name]
            own = np.array([r.own for r in mine if r.own is not None])
            prior = np.array([float(v) for v in priors[(voice[0], name)].split(",")])
            dist = np.linalg.norm(own - prior, axis=1)
            acc = np.mean([r.ok for r in mine])
            print(f"{voice[0]:7s} {name:10s} first-pass accuracy {acc:.0%}, distance to the others' prior "
                  f"median {np.median(dist):.1f}, max {dist.max():.1f}")


if __name__ == "__main__":
    main()
