"""Benchmark: offline Mandarin voices for spoken intros, by how well Whisper understands them and what they cost.

    .venv/bin/python bench/tts_voices.py [--intros 50] [--timed 10] [--voices zf_xiaoxiao,zm_yunjian,zf_xiaoyi,espeak]
    .venv/bin/python bench/tts_voices.py --voices zf_xiaoxiao,zf_xiaoxiao@untimed   # one run an intro, or two

Makes `--intros` realistic intros ("第三十七课。水稻病虫害的绿色防控。主讲人：李秀英，东风村党支部。": lesson numbers
1-120, micro-lesson titles on Party building, rural revitalisation, farming, fishery and law, names and village
branches), fixed by a seed. Each voice says every intro as a cold pack does (`transcode.intros.IntroSynthesizer`:
the number and lesson clips, in one run unless `@untimed`), encoded as the audio edition's
mono MP3, 44.1 kHz, 64 kbit/s, -16 LUFS; the project's Whisper (base, faster-whisper int8, greedy, language
hint zh, as bench/asr.py and the tests run it) transcribes each MP3, and the character error rate is printed per voice
(punctuation removed, Traditional -> Simplified with OpenCC, Arabic numerals -> Chinese with cn2an, Levenshtein over
the reference's characters).

Cost, in fresh processes: seconds of synthesis per intro with two ONNX threads (all intros) and, for Kokoro voices on
the first `--timed` intros, with one; a pack's throughput on two cores with two processes of one thread each
side by side; what is left when the lesson clip is cached (the number clip only); and the encode (ebur128 + limiter +
libmp3lame). The model load is excluded and reported apart. Run it with nothing else busy: it uses both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TITLES = (
    "秸秆还田的好处", "水稻病虫害的绿色防控", "稻飞虱和纹枯病的识别与防治", "小麦赤霉病的预防要点", "玉米密植高产栽培技术",
    "设施大棚蔬菜的水肥一体化", "果树冬季修剪技术", "茶园春季管理", "生猪养殖的疫病防控", "肉牛育肥的饲料配比",
    "池塘养鱼的水质调控", "稻田养虾的生态模式", "鱼塘增氧机的正确使用", "冬季鱼病的预防", "河蟹养殖中后期管理",
    "学习贯彻党的二十大精神", "如何开好组织生活会", "党员发展工作流程", "三会一课制度解读", "基层党组织书记的担当",
    "乡村振兴战略与村集体经济", "农村人居环境整治", "美丽乡村建设的经验", "农村电商带货入门", "农产品品牌的打造",
    "民法典中的婚姻家庭编", "农村土地承包经营权流转", "宅基地的法律问题", "农民工讨薪的法律途径", "防范电信诈骗",
    "2024年中央一号文件解读", "春耕备耕的十个要点", "水稻亩产提高20%的秘诀", "3月份小麦田间管理", "农药安全使用常识",
    "合作社的规范化管理", "高标准农田建设", "森林防火知识", "农村医疗保险怎么报销", "老年人防诈骗讲座",
)  # fmt: skip
SPEAKERS = (
    "王建国", "李秀英", "张伟", "刘志强", "陈桂兰", "杨明", "赵丽华", "黄德胜", "周海燕", "吴国平", "徐春梅", "孙立新",
    "马金花", "朱永强", "胡晓东", "郭玉兰", "何振华", "林小红", "罗大勇", "高春生", None,
)  # fmt: skip
BRANCHES = (
    "东风村党支部", "红星村党支部", "向阳村党支部", "新华村党支部", "长乐村党支部", "白沙村党支部", "石桥村党支部",
    "柳树湾村党支部", "杨家庄村党支部", "前进村党支部", "县农业农村局", "县司法局", "镇农技站", None,
)  # fmt: skip
KOKORO_DEFAULT = ("zf_xiaoxiao", "zm_yunjian", "zf_xiaoyi")
SEED = 16


def make_intros(count: int) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    return [{"number": rng.randint(1, 120), "title": rng.choice(TITLES), "speaker": rng.choice(SPEAKERS),
             "branch": rng.choice(BRANCHES)} for _ in range(count)]  # fmt: skip


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One voice, one thread count, in this fresh process: synthesize (and maybe encode) the intros."""
    from transcode.intros import IntroSynthesizer, encode_intro, intro_parts
    from transcode.model_store import install_kokoro
    from transcode.mp3_frames import Mp3Params
    from transcode.tts import EspeakVoice, KokoroVoice, Voice

    voice: Voice
    if spec["voice"] == "espeak":
        voice = EspeakVoice()
    else:
        name, _, how = spec["voice"].partition("@")  # zf_xiaoxiao, or zf_xiaoxiao@untimed: clip by clip
        voice = KokoroVoice(install_kokoro(Path(spec["cache"])), name, threads=spec["threads"], timed=how != "untimed")
    started = time.perf_counter()
    voice.synthesize("第一课。")  # loads the model and the G2P (jieba's dictionary)
    load_s = time.perf_counter() - started
    params = Mp3Params(version="1", sample_rate=44100, channels=1, bitrate_kbps=64)
    out: dict[str, Any] = {"load_s": load_s, "synth_s": [], "number_s": [], "encode_s": [], "audio_s": [],
                           "texts": [], "files": []}  # fmt: skip
    for n, intro in enumerate(spec["intros"]):
        parts = intro_parts(intro["number"], intro["title"], intro["speaker"], intro["branch"])
        started = time.perf_counter()
        speech = IntroSynthesizer(voice).speech(parts)  # a cold pack: both clips said (in one run where it can)
        out["synth_s"].append(time.perf_counter() - started)
        if spec.get("number_only"):
            started = time.perf_counter()
            voice.synthesize(parts.number)  # what is left when the lesson clip is cached
            out["number_s"].append(time.perf_counter() - started)
        out["audio_s"].append(speech.duration_s)
        out["texts"].append(parts.text)
        if spec.get("out_dir"):
            started = time.perf_counter()
            encoded = encode_intro(speech, params, Path(spec["out_dir"]) / f"{spec['voice']}-{n:02d}.mp3")
            out["encode_s"].append(time.perf_counter() - started)
            out["files"].append(str(encoded.path))
    return out


def asr_child(spec: dict[str, Any]) -> dict[str, Any]:
    from transcode.asr import AsrConfig, transcribe_file

    config = AsrConfig(model=spec["model"], cpu_threads=2)
    return {"texts": [transcribe_file(Path(f), config, language_hint="zh").text for f in spec["files"]]}


def in_fresh_process(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec, ensure_ascii=False)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def result_of(proc: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def run(spec: dict[str, Any]) -> dict[str, Any]:
    return result_of(in_fresh_process(spec))


def cer(reference: str, hypothesis: str) -> float:
    import cn2an

    from tests.support.speech import character_error_rate

    try:
        hypothesis = str(cn2an.transform(hypothesis, "an2cn"))
    except (ValueError, KeyError, IndexError):
        pass
    return character_error_rate(reference, hypothesis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intros", type=int, default=50)
    parser.add_argument("--timed", type=int, default=10)
    parser.add_argument("--voices", default=",".join((*KOKORO_DEFAULT, "espeak")))
    parser.add_argument("--timing-only", action="store_true", help="skip the 50 intros and Whisper: costs only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(asr_child(spec) if spec.get("asr") else child(spec), ensure_ascii=False))
        return

    from tests.support.speech import model_cache_dir
    from transcode.model_store import install_kokoro, install_models

    cache = model_cache_dir()
    whisper = install_models(cache, openai_checkpoint=False)
    install_kokoro(cache)
    intros = make_intros(args.intros)
    voices = args.voices.split(",")
    print(f"CPU cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; {len(intros)} intros, "
          f"{args.timed} timed")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="weike-bench-tts-") as tmp:
        rows = []
        for voice in voices:
            base = {"voice": voice, "cache": str(cache)}
            said = run({**base, "threads": 2, "intros": intros[: args.timed] if args.timing_only else intros,
                        "out_dir": tmp})  # fmt: skip
            heard = said["texts"] if args.timing_only else run(
                {"asr": True, "model": str(whisper.ct2_dir), "files": said["files"]})["texts"]  # fmt: skip
            errors = [cer(ref, hyp) for ref, hyp in zip(said["texts"], heard, strict=True)]
            row = {"voice": voice, "cer": statistics.mean(errors), "cer_median": statistics.median(errors),
                   "audio_s": statistics.mean(said["audio_s"]), "encode_s": statistics.median(said["encode_s"]),
                   "load_s": said["load_s"]}  # fmt: skip
            if voice != "espeak":
                timed = intros[: args.timed]
                one = run({**base, "threads": 1, "intros": timed, "number_only": True})
                started = time.perf_counter()  # a pack on two cores: two processes of one thread side by side
                halves = [in_fresh_process({**base, "threads": 1, "intros": timed[i::2]}) for i in (0, 1)]
                pair = [result_of(p) for p in halves]
                pair_wall = time.perf_counter() - started - max(p["load_s"] for p in pair)
                row.update(one_thread_s=statistics.mean(one["synth_s"]), pair_per_intro_s=pair_wall / len(timed),
                           number_only_s=statistics.mean(one["number_s"]))  # fmt: skip
            row.update(two_threads_s=statistics.mean(said["synth_s"]), rtf_two=sum(said["synth_s"]) / sum(said["audio_s"]))
            rows.append(row)
            print_row(row)
            worst = sorted(zip(errors, said["texts"], heard, strict=True), reverse=True)[:3]
            for e, ref, hyp in worst:
                print(f"      CER {e:4.2f}  {ref}\n                 heard {hyp}")
            sys.stdout.flush()
        print("\nvoice                          CER mean  median   synth 1 thr  2 thr  2 procs x 1 thr  number only  encode")
        for row in rows:
            print_row(row, table=True)


def print_row(row: dict[str, Any], *, table: bool = False) -> None:
    def s(key: str) -> str:
        return f"{row[key]:5.2f} s" if key in row else "    -  "

    if table:
        print(f"{row['voice']:30} {row['cer']:8.2f}  {row['cer_median']:6.2f}   {s('one_thread_s'):>11}  "
              f"{s('two_threads_s'):>6}  {s('pair_per_intro_s'):>15}  {s('number_only_s'):>11}  {s('encode_s')}")
        return
    print(f"  {row['voice']:12} CER {row['cer']:.2f} (median {row['cer_median']:.2f}); intro {row['audio_s']:.1f} s of "
          f"speech; synthesis per intro: 1 thread {s('one_thread_s')}, 2 threads {s('two_threads_s')}, two processes x "
          f"1 thread {s('pair_per_intro_s')} a track, number clip only {s('number_only_s')}; encode {s('encode_s')}; "
          f"load {row['load_s']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
