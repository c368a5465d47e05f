"""Benchmark: speech recognition engines on this CPU, in one run.

    .venv/bin/python bench/asr.py [--long-minutes 60] [--skip-long] [--beams 1,5] [--threads 2]

Makes about 60 s of espeak-ng Mandarin from a known text, then for each engine x compute type x beam size that
works here (faster-whisper: every CPU compute type CTranslate2 reports; openai-whisper: float32) runs
`transcode.asr.transcribe_file` in a fresh process and prints model load time, transcription wall time, real-time
factor (wall / audio seconds, load excluded, our ffmpeg decode included), peak RSS and character error rate
against the text. Then a long lesson (the sample, then twice its length of silence, looped to --long-minutes, as AAC)
through the default engine, for its peak RSS: it must stay under 1 GB. Models come from the model cache
(`WEIKE_MODEL_CACHE` or ~/.cache/weike-models; prepared if missing). Run it with nothing else busy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCES = (
    "大家好，欢迎来到今天的数学课。我们一起来认识长方形和正方形。",
    "长方形有四条边，对边相等，四个角都是直角。正方形的四条边都相等。",
    "今天我们学习一篇课文，题目是我的家乡。",
    "我的家乡在一个美丽的小山村，村子旁边有一条小河，河水清清的。",
    "春天来了，小草从地下钻出来，柳树发芽了，桃花也开了。",
    "种玉米要先选好种子，然后翻地施肥，天气暖和以后就可以播种了。",
    "出苗以后要注意浇水和除草，还要防治病虫害。",
    "同学们，请大家拿出练习本，把今天学过的生字写三遍。",
    "下面请一位同学来回答，长方形和正方形有什么相同的地方？",
)  # fmt: skip


@dataclass
class Run:
    engine: str
    compute_type: str
    beam_size: int
    load_s: float
    wall_s: float
    audio_s: float
    rss_mb: float
    cer: float
    language: str | None

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s

    def line(self) -> str:
        return (
            f"  {self.engine:15} {self.compute_type:13} beam {self.beam_size}  load {self.load_s:5.1f} s  "
            f"wall {self.wall_s:6.1f} s  RTF {self.rtf:5.3f}  peak RSS {self.rss_mb:5.0f} MB  "
            f"CER {self.cer:4.2f}  lang {self.language}"
        )


def run_tool(*args: str | Path) -> None:
    cmd = [str(a) for a in args]
    if cmd[0] == "ffmpeg":
        cmd[1:1] = ["-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)


def make_sample(folder: Path) -> Path:
    """The sentences spoken one after another, as 16-bit WAV (about a minute)."""
    parts = []
    for n, sentence in enumerate(SENTENCES):
        part = folder / f"s{n}.wav"
        run_tool("espeak-ng", "-v", "cmn-latn-pinyin", "-w", part, sentence)
        parts.append(part)
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    sample = folder / "sample.wav"
    run_tool("ffmpeg", "-f", "concat", "-safe", "0", "-i", listing, "-ar", "16000", "-ac", "1", sample)
    return sample


def make_long_lesson(folder: Path, sample: Path, minutes: float) -> Path:
    """The sample followed by twice its length of silence, looped to `minutes`, as 64 kbit/s AAC."""
    unit = folder / "unit.wav"
    run_tool("ffmpeg", "-i", sample, "-af", "apad=pad_dur=120", "-ar", "16000", unit)
    lesson = folder / "long.m4a"
    run_tool(
        "ffmpeg",
        "-stream_loop",
        "-1",
        "-i",
        unit,
        "-t",
        f"{minutes * 60}",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        lesson,
    )
    return lesson


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration in this (fresh) process: load, transcribe, measure."""
    from tests.support.speech import character_error_rate
    from transcode.asr import AsrConfig, decode_audio, transcribe_file
    from transcode.asr_engines import load_engine

    if spec.get("decode_only"):  # before anything big is loaded: a forked child counts its parent's pages
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            decode_audio(Path(spec["audio"]), Path(tmp) / "a.s16le", timeout_s=900, max_duration_s=7200)
            wall_s = time.perf_counter() - started
        return {"wall_s": wall_s, "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}

    config = AsrConfig(
        model=spec["model"],
        engine=spec["engine"],
        compute_type=spec["compute_type"],
        beam_size=spec["beam_size"],
        cpu_threads=spec["threads"],
    )
    started = time.perf_counter()
    load_engine(config)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    transcript = transcribe_file(Path(spec["audio"]), config)
    wall_s = time.perf_counter() - started
    return {
        "load_s": load_s,
        "wall_s": wall_s,
        "audio_s": transcript.duration_s,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cer": character_error_rate(spec["reference"], transcript.text) if spec["reference"] else -1.0,
        "language": transcript.language,
        "segments": len(transcript.segments),
        "text": transcript.text,
    }


def in_fresh_process(spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    if spec["compute_type"] == "float32" and spec["engine"] == "faster-whisper":
        env["CT2_USE_MKL"] = "1"  # before ctranslate2 loads (transcode.asr_engines sets it too)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True, text=True, env=env, timeout=3600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['engine']} {spec['compute_type']} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--beams", default="1,5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child)), ensure_ascii=False))
        return

    import ctranslate2

    from tests.support.speech import model_cache_dir
    from transcode.model_store import install_models

    paths = install_models(model_cache_dir())
    compute_types = sorted(ctranslate2.get_supported_compute_types("cpu"))
    beams = [int(b) for b in args.beams.split(",")]
    configs = [("faster-whisper", str(paths.ct2_dir), ct) for ct in compute_types]
    configs.append(("openai-whisper", str(paths.openai_checkpoint), "float32"))
    reference = "".join(SENTENCES)
    print(f"CPU cores: {os.cpu_count()}, threads: {args.threads}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="weike-bench-asr-") as tmp:
        folder = Path(tmp)
        sample = make_sample(folder)
        runs: list[Run] = []
        print("Mandarin sample (espeak-ng, Whisper base, temperature 0, VAD on):")
        for engine, model, compute_type in configs:
            for beam in beams:
                spec = {"engine": engine, "model": model, "compute_type": compute_type, "beam_size": beam,
                        "threads": args.threads, "audio": str(sample), "reference": reference}  # fmt: skip
                r = in_fresh_process(spec)
                run = Run(engine, compute_type, beam, r["load_s"], r["wall_s"], r["audio_s"], r["rss_mb"],
                          r["cer"], r["language"])  # fmt: skip
                runs.append(run)
                print(run.line(), flush=True)
                print(f"      {r['text'][:90]}", flush=True)
        summarize(runs)
        if not args.skip_long:
            lesson = make_long_lesson(folder, sample, args.long_minutes)
            spec = {"engine": "faster-whisper", "model": str(paths.ct2_dir), "compute_type": "int8", "beam_size": 1,
                    "threads": args.threads, "audio": str(lesson), "reference": ""}  # fmt: skip
            d = in_fresh_process({**spec, "decode_only": True})
            r = in_fresh_process(spec)
            print(
                f"Long lesson, default engine: {r['audio_s'] / 60:.0f} min of audio ({lesson.stat().st_size >> 20} MB "
                f"AAC) in {r['wall_s']:.0f} s (RTF {r['wall_s'] / r['audio_s']:.3f}), {r['segments']} segments, "
                f"peak RSS {r['rss_mb']:.0f} MB: {'under' if r['rss_mb'] < 1024 else 'OVER'} 1 GB; "
                f"the ffmpeg decode alone: {d['wall_s']:.1f} s, peak RSS {d['rss_mb']:.0f} MB"
            )


def summarize(runs: list[Run]) -> None:
    greedy = {(r.engine, r.compute_type): r for r in runs if r.beam_size == 1}
    fw = min((r for r in runs if r.engine == "faster-whisper"), key=lambda r: r.rtf)
    ow = min((r for r in runs if r.engine == "openai-whisper"), key=lambda r: r.rtf)
    default = greedy.get(("faster-whisper", "int8"))
    winner, loser = (fw, ow) if fw.rtf <= ow.rtf else (ow, fw)
    print(
        f"Fastest: {winner.engine} {winner.compute_type} beam {winner.beam_size} (RTF {winner.rtf:.3f}), "
        f"{loser.rtf / winner.rtf:.1f}x faster than the best {loser.engine} ({loser.compute_type} beam "
        f"{loser.beam_size}, RTF {loser.rtf:.3f}); peak RSS {winner.rss_mb:.0f} MB against {loser.rss_mb:.0f} MB"
    )
    if default is not None:
        target = "meets" if default.rtf <= 0.15 else "MISSES"
        print(f"Default (faster-whisper int8 greedy): RTF {default.rtf:.3f}, {target} the 0.15 target")


if __name__ == "__main__":
    main()
