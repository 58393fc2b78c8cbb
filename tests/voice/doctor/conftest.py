"""The doctor's tests reuse the bot-core fakes (fake STT / LLM / TTS)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
