"""Fit and compare end-of-turn methods on the generated corpus (`bench.turn_corpus`).

`python -m bench.turn_train [--quick] [--write]` prints, for each method, the share of
paused turns it would cut off (a reply inside a 300-900 ms mid-sentence pause) and how
soon after the caller's real end it answers complete turns (p50/p95), with the
detector's own VAD on the corpus audio and the corpus text as the transcript (the
recogniser's errors are measured end to end by `python -m bench --only turns`).

Methods: fixed silence 600 ms (the offline recogniser before), fixed 300 ms
(Deepgram's endpointing before), and the adaptive detector with three scorers: words
only, prosody only, words + prosody. Scorers are logistic models fitted on pauses of
the corpus (label: is this pause the end?); the comparison is cross-validated by
phrase (a phrase is never scored by a model that saw it), `--write` refits on the
whole corpus and writes voice/turn/weights.json.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.turn_corpus import Turn, build
from voice.turn.detector import TurnConfig, TurnDetector, TurnState
from voice.turn.lexical import read_ending
from voice.turn.model import FEATURES, TurnModel, default_model, features

CHUNK_MS = 20
DECIDE_AT_MS = 200  # features are read this far into a pause (they do not change after)


@dataclass
class Outcome:
    premature: bool  # OVER before the turn's real end
    latency_ms: float | None  # OVER after the real end: how long after it


def run_turn(turn: Turn, decide: Callable[[TurnDetector], bool], *, config: TurnConfig | None = None,
             model: TurnModel | None = None) -> Outcome:
    """Stream the turn through a detector in 20 ms chunks; `decide` says when it is over."""
    det = TurnDetector(turn.rate, config, model)
    step = turn.rate * CHUNK_MS // 1000 * 2
    for i in range(0, len(turn.pcm), step):
        det.push(turn.pcm[i : i + step])
        det.transcript(turn.text_until(det.now))
        if decide(det):
            if det.now < turn.end + 0.05:  # an answer before the last fragment finished
                return Outcome(True, None)
            return Outcome(False, (det.now - turn.end) * 1000)
    return Outcome(False, None)


def fixed(ms: float) -> Callable[[TurnDetector], bool]:
    return lambda det: det.decide().state is not TurnState.IDLE and not det.in_speech and det.silence_ms >= ms and \
        det.decide().state is not TurnState.SPEAKING


def adaptive(det: TurnDetector) -> bool:
    return det.decide().over


def pause_samples(turn: Turn) -> list[tuple[list[float], list[float], list[float], int, str]]:
    """(words+prosody, words, prosody features, label, ending) at every pause of the turn."""
    det = TurnDetector(turn.rate)
    step = turn.rate * CHUNK_MS // 1000 * 2
    out = []
    points = [e + DECIDE_AT_MS / 1000 for e in turn.ends]
    k = 0
    for i in range(0, len(turn.pcm), step):
        det.push(turn.pcm[i : i + step])
        if k < len(points) and det.now >= points[k]:
            text = read_ending(turn.text_until(det.now))
            pros = det._pitch.cue()
            out.append((features(text, pros), features(text, pros, use_prosody=False),
                        features(text, pros, use_text=False), int(k == len(points) - 1), text.ending.value))
            k += 1
    return out


MID_WEIGHT = 3.0  # a reply inside a pause costs more than a slow one: mid-turn pauses weigh more


def smart_turn() -> tuple[Any, Callable[..., np.ndarray]] | None:
    """pipecat's Smart Turn v3.2 (audio-only ONNX model shipped in the pipecat-ai wheel), if
    `pipecat-ai` and `onnxruntime` are installed; None otherwise. Loaded without importing
    pipecat itself (its package pulls in the whole framework)."""
    import importlib.util

    try:
        import onnxruntime as ort
    except ImportError:
        return None
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))) / "audio" / "turn" / "smart_turn"
    model, features = base / "data" / "smart-turn-v3.2-cpu.onnx", base / "_whisper_features.py"
    if not model.exists() or not features.exists():
        return None
    fspec = importlib.util.spec_from_file_location("smart_turn_features", features)
    assert fspec is not None and fspec.loader is not None
    module = importlib.util.module_from_spec(fspec)
    fspec.loader.exec_module(module)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), sess_options=opts), module.compute_whisper_log_mel_features


def smart_turn_rows(turns: list[Turn]) -> tuple[str, float, float, float, int, int, float] | None:
    """Smart Turn the way pipecat runs it: at a 200 ms VAD stop, complete if P > 0.5, else wait
    to the maximum (1400 ms here, as ours). Returns the row and the median ms per inference."""
    import time

    from voice.audio import resample

    loaded = smart_turn()
    if loaded is None:
        return None
    session, log_mel = loaded
    costs: list[float] = []
    premature = 0
    paused = 0
    latency: list[float] = []
    for t in turns:
        pcm16 = t.pcm if t.rate == 16000 else resample(t.pcm, t.rate, 16000)
        x = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        probs = []
        for end in t.ends:
            cut = x[: int((end + DECIDE_AT_MS / 1000) * 16000)][-128000:]
            cut = np.pad(cut, (128000 - len(cut), 0))
            started = time.perf_counter()
            feats = log_mel(cut, do_normalize=True)[None, ...].astype(np.float32)
            probs.append(float(session.run(None, {"input_features": feats})[0].reshape(-1)[0]))
            costs.append((time.perf_counter() - started) * 1000)
        if t.kind == "paused":
            paused += 1
            premature += any(p > 0.5 for p in probs[:-1])
        else:
            latency.append(200.0 if probs[-1] > 0.5 else 1400.0)
    return ("Smart Turn v3.2 (audio model), 200 ms stop", 100 * premature / max(1, paused),
            float(np.percentile(latency, 50)), float(np.percentile(latency, 95)), premature, paused,
            float(np.median(costs)))


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.3, mid_weight: float = MID_WEIGHT) -> tuple[np.ndarray, float]:
    """Weighted, L2-regularised logistic regression by Newton's method (a dozen features, no library)."""
    sw = np.where(y > 0.5, 1.0, mid_weight)
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 1e-6
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (sw * (p - y)) + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return w[:-1], float(w[-1])


def _model(samples: list, which: int, name: str) -> TurnModel:
    x = np.array([s[which] for s in samples])
    y = np.array([s[3] for s in samples], dtype=float)
    w, b = fit(x, y)
    return TurnModel(tuple(float(v) for v in w), b, use_text=which != 2, use_prosody=which != 1, name=name)


SCORERS = [(0, "words+prosody"), (1, "words only"), (2, "prosody only")]


def evaluate(turns: list[Turn], folds: int = 3) -> list[tuple[str, float, float, float, int, int]]:
    """Rows: (method, premature %, latency p50, p95, premature count, paused count)."""
    names = sorted({t.name for t in turns})
    fold_of = {n: i % folds for i, n in enumerate(names)}
    samples = {id(t): pause_samples(t) for t in turns}
    rows = []

    def row(label: str, outcomes: list[tuple[Turn, Outcome]]) -> None:
        paused = [o for t, o in outcomes if t.kind == "paused"]
        lat = [o.latency_ms for t, o in outcomes if t.kind == "complete" and o.latency_ms is not None]
        lat_all = [o for t, o in outcomes if t.kind == "complete"]
        prem = sum(o.premature for o in paused) + sum(o.premature for o in lat_all)
        n = len(paused)
        rows.append((label, 100 * sum(o.premature for o in paused) / max(1, n),
                     float(np.percentile(lat, 50)) if lat else float("nan"),
                     float(np.percentile(lat, 95)) if lat else float("nan"), prem, n))

    for ms in (600, 300):
        row(f"fixed silence {ms} ms", [(t, run_turn(t, fixed(ms))) for t in turns])
    for which, name in SCORERS:
        outcomes = []
        for f in range(folds):
            train = [s for t in turns if fold_of[t.name] != f for s in samples[id(t)]]
            model = _model(train, which, name)
            outcomes += [(t, run_turn(t, adaptive, model=model)) for t in turns if fold_of[t.name] == f]
        row(f"adaptive, {name} (cross-validated)", outcomes)
    row("adaptive, shipped weights", [(t, run_turn(t, adaptive, model=default_model())) for t in turns])
    return rows


async def main_async(args: argparse.Namespace) -> None:
    turns = await build(quick=args.quick)
    print(f"corpus: {len(turns)} turns ({sum(t.kind == 'paused' for t in turns)} with pauses), 8 and 16 kHz")
    if args.write:
        samples = [s for t in turns for s in pause_samples(t)]
        model = _model(samples, 0, "words+prosody")
        path = Path(__file__).resolve().parent.parent / "voice" / "turn" / "weights.json"
        path.write_text(model.to_json() + "\n", encoding="utf-8")
        print(f"wrote {path.name}: " + ", ".join(f"{n}={w:+.2f}" for n, w in zip(FEATURES, model.weights, strict=True)))
    print(f"{'method':48} {'premature':>10} {'p50 ms':>7} {'p95 ms':>7}")
    for label, prem, p50, p95, count, n in evaluate(turns):
        print(f"{label:48} {prem:8.1f} % {p50:7.0f} {p95:7.0f}   ({count}/{n})")
    st = smart_turn_rows(turns)
    if st is None:
        print("Smart Turn v3.2: not compared (pip install pipecat-ai onnxruntime to include it)")
    else:
        label, prem, p50, p95, count, n, ms = st
        print(f"{label:48} {prem:8.1f} % {p50:7.0f} {p95:7.0f}   ({count}/{n})  {ms:.0f} ms per decision")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.turn_train")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write", action="store_true", help="refit on the whole corpus and write the weights")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
