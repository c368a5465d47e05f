"""Audio pack builds: a 40-lesson pack of 15-minute audio editions, without and with spoken intros, against a plain
copy of the same bytes in the same run (issue 16's targets: >= 80% of copy speed without intros, intros < 2 s a
track on two cores).

    .venv/bin/python bench/packs.py                        # 40 lessons x 15 min
    .venv/bin/python bench/packs.py --lessons 6 --minutes 2  # a quick sanity run

One real audio edition of --minutes (the pipeline's own encoder, transcode.audio_edition, on generated speech-like
sound) is stored under 40 lessons' keys in a folder store on this disk, as the worker sees them. Then, --rounds
times, alternating which goes first:
- copy: the 40 stored editions copied into one file in the scratch folder, fsynced (what writing the same bytes
  costs, with nothing else done);
- pack: workers.packs.build_version of a fresh pack of the 40 lessons (the `media.pack` task's body: tags, streaming
  into a stored ZIP, storing it, fsynced), from the moment the worker takes it to the ready row.
Both read their inputs from the page cache (just written, and they fit in memory), so the figures compare what each
writes and computes. Then a pack with spoken intros four times: cold (every clip said, every intro encoded and
stored), warm (the intros already stored, as for a rebuild or another pack of the same lessons), with the voice's
clips stored but no encoded intro (what the maintenance beat leaves: the build encodes and joins), and with only the
track numbers' clips stored (the beat says those first: a pack of lessons the voice has never said); the intro
cost per track is (intro pack - plain pack) / tracks. Medians are reported for the plain runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog import packs  # noqa: E402
from catalog.db import unit_of_work  # noqa: E402
from catalog.lifecycle import Viewer  # noqa: E402
from catalog.models import AudioPackVersion, Role  # noqa: E402
from tests.support.accounts import import_county  # noqa: E402
from tests.support.packs import published_audio_lesson  # noqa: E402
from tests.support.stacks import build_embedded  # noqa: E402
from transcode import runner  # noqa: E402
from transcode.audio_edition import encode_audio_edition  # noqa: E402
from transcode.intros import intro_parts, speech_cache_key  # noqa: E402
from transcode.limits import MediaLimits  # noqa: E402
from transcode.probe import probe_media  # noqa: E402
from workers.pack_intros import voice_for  # noqa: E402
from workers.packs import build_version, plan_version  # noqa: E402
from workers.wiring import context_for  # noqa: E402

MB = 1_000_000
TITLES = ["秸秆还田的好处", "水稻病虫害绿色防控", "渔船安全生产须知", "农村宅基地政策解读", "党员先锋岗怎么当",
          "乡村振兴与集体经济", "老党员讲红色故事", "防汛抗旱知识", "垃圾分类从我做起", "民法典与农民权益"]
NAMES = ["王建国", "李秀英", "张海生", "陈立新", "刘桂兰"]
BRANCHES = ["东风村党支部", "渔港社区党支部", "西岭村党支部", "海上党支部"]


def make_edition(folder: Path, minutes: float) -> Path:
    """A real audio edition of speech-like sound: a voice-band tone, syllable-rate tremolo and pink noise."""
    wav, out = folder / "source.wav", folder / "edition.mp3"
    seconds = minutes * 60
    runner.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                f"sine=f=180:d={seconds},tremolo=f=4:d=0.8",
                "-f", "lavfi", "-i", f"anoisesrc=c=pink:a=0.02:d={seconds}",
                "-filter_complex", "amix=inputs=2:duration=shortest", "-ac", "1", "-ar", "16000", str(wav)],
               timeout_s=600)
    limits = MediaLimits()
    encode_audio_edition(wav, probe_media(wav, limits=limits), out, tags={"title": "基准"}, limits=limits)
    return out


def copy_baseline(keys: list[str], store_root: Path, scratch: Path) -> float:
    out = scratch / "copy.bin"
    started = time.perf_counter()
    with out.open("wb") as dst:
        for key in keys:
            with (store_root / key).open("rb") as src:
                shutil.copyfileobj(src, dst, 4 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    elapsed = time.perf_counter() - started
    out.unlink()
    return elapsed


def build_pack(settings: object, lesson_ids: list[str], *, intros: bool) -> tuple[float, int]:
    ctx = context_for(settings)  # type: ignore[arg-type]
    with unit_of_work(ctx.engine) as s:
        pack = packs.create_pack(s, Viewer(username="bench", role=Role.REVIEWER), title="基准音频包",
                                 lesson_ids=lesson_ids, spoken_intros=intros)
        version_id = plan_version(s, pack).id or 0
    started = time.perf_counter()
    build_version(ctx, version_id)
    elapsed = time.perf_counter() - started
    with unit_of_work(ctx.engine) as s:
        row = s.get(AudioPackVersion, version_id)
        assert row is not None and row.status == "ready", (row.status, row.error_code, row.error_message) if row else None
        size = row.size_bytes
        ctx.storage.delete(row.key or "")
    return elapsed, size


def forget_intros(store_root: Path, *, clips_kept: set[str] | None = None) -> None:
    """Delete the stored intros, and the voice's clips other than `clips_kept` (all kept when None)."""
    for encoded in (store_root / "intros").glob("*.mp3"):
        encoded.unlink()
    if clips_kept is not None:
        for clip in (store_root / "intros" / "clips").glob("*.wav"):
            if clip.stem not in clips_kept:
                clip.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lessons", type=int, default=40)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-intros", action="store_true", help="skip the spoken-intro runs")
    parser.add_argument("--dir", type=Path, default=REPO / "var" / "bench-packs",
                        help="where the store and scratch live (the disk the service would use)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        settings = build_embedded(root / "var")
        import_county(settings)
        t0 = time.perf_counter()
        edition = make_edition(root, args.minutes)
        print(f"edition: {args.minutes:g} min, {edition.stat().st_size / MB:.1f} MB "
              f"(made in {time.perf_counter() - t0:.1f} s)")
        ids = [published_audio_lesson(settings, f"{TITLES[i % len(TITLES)]}（第{i + 1}讲）", edition,
                                      speaker=NAMES[i % len(NAMES)], branch=BRANCHES[i % len(BRANCHES)],
                                      duration_s=args.minutes * 60) for i in range(args.lessons)]
        store_root = Path(settings.storage_url.removeprefix("file://"))
        edition_keys = [f"lessons/{i}/audio.mp3" for i in ids]
        total_mb = sum((store_root / k).stat().st_size for k in edition_keys) / MB
        print(f"{args.lessons} lessons, {total_mb:.0f} MB of audio editions; {os.cpu_count()} CPUs")
        copies, builds, size = [], [], 0
        for r in range(args.rounds):
            order = ("copy", "pack") if r % 2 == 0 else ("pack", "copy")
            for what in order:
                if what == "copy":
                    copies.append(copy_baseline(edition_keys, store_root, settings.scratch_dir))
                else:
                    seconds, size = build_pack(settings, ids, intros=False)
                    builds.append(seconds)
        copy_s, build_s = statistics.median(copies), statistics.median(builds)
        print(f"plain copy of the same bytes (fsynced)  {copy_s:6.2f} s  {total_mb / copy_s:7.0f} MB/s")
        print(f"pack without intros ({size / MB:.0f} MB ZIP)      {build_s:6.2f} s  {size / MB / build_s:7.0f} MB/s"
              f"  = {100 * copy_s / build_s:.0f}% of copy speed (target >= 80%)")
        if args.no_intros:
            return
        cold, _ = build_pack(settings, ids, intros=True)
        warm, _ = build_pack(settings, ids, intros=True)
        forget_intros(store_root)  # keep the voice's clips, as the beat leaves them
        said, _ = build_pack(settings, ids, intros=True)
        numbers = {speech_cache_key(intro_parts(n, "").number, voice_for(context_for(settings)).name)
                   for n in range(1, args.lessons + 1)}
        forget_intros(store_root, clips_kept=numbers)  # only the track numbers' clips, as the beat says them first
        new_lessons, _ = build_pack(settings, ids, intros=True)
        print(f"pack with intros, cold (all said)       {cold:6.2f} s  intro cost {(cold - build_s) / args.lessons:5.2f} "
              "s a track (target < 2 s)")
        print(f"pack with intros, numbers said ahead    {new_lessons:6.2f} s  intro cost "
              f"{(new_lessons - build_s) / args.lessons:5.2f} s a track (lessons new to the voice: their clips said)")
        print(f"pack with intros, clips said ahead      {said:6.2f} s  intro cost {(said - build_s) / args.lessons:5.2f} "
              "s a track (the beat says numbers' and new lessons' clips; the build encodes and joins)")
        print(f"pack with intros, warm (intros stored)  {warm:6.2f} s  intro cost {(warm - build_s) / args.lessons:5.2f} "
              "s a track")


if __name__ == "__main__":
    main()
