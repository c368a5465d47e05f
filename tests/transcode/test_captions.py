"""Readable captions: re-cut cues, WebVTT and SRT that players (and ffmpeg) read, and checks on reviewers' edits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.services import require_tool
from transcode.asr import Transcript
from transcode.asr_engines import Word
from transcode.captions import (
    CaptionRules,
    CaptionsInvalid,
    Cue,
    EditedSegment,
    build_cues,
    display_width,
    parse_cues,
    parse_edited_segments,
    write_srt,
    write_webvtt,
)

RULES = CaptionRules()
LONG_UNPUNCTUATED = "这是一段很长很长的话没有任何标点符号老师一直说下去直到说完为止我们看看它会怎样切分每一行都不能超过十六个字"


def assert_readable(cues: list[Cue], rules: CaptionRules = RULES) -> None:
    assert cues
    previous_end = 0.0
    for cue in cues:
        assert 1 <= len(cue.lines) <= rules.max_lines, cue
        assert all(0 < display_width(line) <= rules.max_line_width for line in cue.lines), cue
        assert rules.min_cue_s - 1e-6 <= cue.end_s - cue.start_s <= rules.max_cue_s + 1e-6, cue
        assert cue.start_s >= previous_end - 1e-6, cue
        previous_end = cue.end_s


def test_cues_break_at_punctuation_and_respect_the_limits() -> None:
    segments = [
        EditedSegment(0.0, 8.0, "大家好，欢迎来到今天的数学课，我们一起来认识长方形和正方形。"),
        EditedSegment(8.0, 13.7, "长方形有四条边，对边相等，四个角都是直角，"),
        EditedSegment(13.7, 16.6, "正方形的四条边都相等。"),
    ]
    cues = build_cues(segments)
    assert_readable(cues)
    # Broken after the comma, and the comma dropped at the end of the line.
    assert cues[0].lines == ("大家好，欢迎来到今天的数学课",)
    assert "".join("".join(c.lines) for c in cues).replace("，", "") == (
        "大家好欢迎来到今天的数学课我们一起来认识长方形和正方形长方形有四条边对边相等四个角都是直角正方形的四条边都相等"
    )


def test_long_unpunctuated_speech_is_cut_between_words() -> None:
    cues = build_cues([EditedSegment(20.0, 34.0, LONG_UNPUNCTUATED)])
    assert_readable(cues)
    lines = [line for cue in cues for line in cue.lines]
    assert "".join(lines) == LONG_UNPUNCTUATED
    assert not any(line.startswith(("方形", "形")) for line in lines)
    assert cues[0].start_s == 20.0 and cues[-1].end_s == pytest.approx(34.0)


def test_word_timestamps_place_the_cues() -> None:
    words = [
        Word(0.0, 0.4, "同学们", 0.9),
        Word(0.4, 0.9, "好，", 0.9),
        Word(5.0, 5.6, "请坐", 0.9),
        Word(5.6, 6.0, "。", 0.9),
    ]
    segment = EditedSegment(0.0, 6.0, "同学们好，请坐。", words=tuple(words))
    cues = build_cues([segment])
    assert [c.lines for c in cues] == [("同学们好",), ("请坐",)]
    assert cues[0].start_s == 0.0 and cues[1].start_s == 5.0  # the pause in the words starts a new cue
    assert_readable(cues)


def test_a_short_cue_is_held_for_a_second_without_overlapping() -> None:
    cues = build_cues([EditedSegment(3.0, 3.3, "好。"), EditedSegment(5.0, 6.0, "我们开始上课。")])
    assert cues[0] == Cue(3.0, 4.0, ("好",))  # held on into the silence after it
    cues = build_cues([EditedSegment(3.0, 3.3, "好。"), EditedSegment(3.5, 6.0, "我们开始上课。")])
    # No room after it: shown a little early.
    assert cues[0] == Cue(2.5, 3.5, ("好",)) and cues[1].start_s == 3.5
    assert_readable(cues)


def test_a_short_cue_hemmed_in_by_its_neighbours_borrows_time_or_joins_one() -> None:
    # A reviewer's edit packs a 0.8 s sentence between two others: it takes time from the longer neighbour.
    cues = build_cues([EditedSegment(8.0, 14.754, "正方形的四条边相等。"), EditedSegment(14.754, 15.539, "四个角都是直角。"),
                       EditedSegment(15.539, 18.66, "正方形的四条边都相等。")])  # fmt: skip
    assert [c.lines for c in cues] == [("正方形的四条边相等",), ("四个角都是直角",), ("正方形的四条边都相等",)]
    assert_readable(cues)
    # Neighbours too short to lend time: the short one shares a cue with its neighbour, on a line of its own.
    cues = build_cues([EditedSegment(0.0, 1.0, "大家好。"), EditedSegment(1.0, 1.4, "好的。"),
                       EditedSegment(1.4, 2.4, "开始吧。")])  # fmt: skip
    assert [c.lines for c in cues] == [("大家好",), ("好的", "开始吧")]
    assert_readable(cues)


def test_markup_characters_cannot_style_or_break_captions() -> None:
    cues = build_cues([EditedSegment(3700.0, 3702.0, "a<b & {\\an8} c>d")])
    vtt, srt = write_webvtt(cues), write_srt(cues)
    assert "01:01:40.000 --> 01:01:42.000\na&lt;b &amp; {\\an8} c&gt;d\n" in vtt
    assert "01:01:40,000 --> 01:01:42,000\na＜b & ｛\\an8｝ c＞d\n" in srt
    assert parse_cues(vtt) == cues


def test_webvtt_and_srt_round_trip_and_ffmpeg_reads_them(tmp_path: Path) -> None:
    cues = build_cues([EditedSegment(0.0, 14.0, LONG_UNPUNCTUATED), EditedSegment(3700.0, 3702.0, "下课。")])
    vtt, srt = write_webvtt(cues), write_srt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and "01:01:40.000" in vtt
    assert srt.startswith("1\n00:00:00,000 --> ")
    assert parse_cues(vtt) == cues and parse_cues(srt) == cues
    ffmpeg = require_tool("ffmpeg")
    for name, text in (("c.vtt", vtt), ("c.srt", srt)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        out = subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-i", str(tmp_path / name), "-f", "srt", "-"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        again = parse_cues(out.stdout.decode("utf-8"))
        assert [c.lines for c in again] == [c.lines for c in cues]
        assert [round(c.start_s, 2) for c in again] == [round(c.start_s, 2) for c in cues]


def test_captions_of_a_real_transcript_are_readable(mandarin_transcript: Transcript) -> None:
    cues = build_cues(mandarin_transcript.segments)
    assert_readable(cues)
    assert parse_cues(write_webvtt(cues)) == cues
    assert cues[-1].end_s <= mandarin_transcript.duration_s + 1.0


def test_edited_segments_are_accepted_and_normalised() -> None:
    items = [
        {"start_s": 0, "end_s": 2.5, "text": "  同学们好  "},
        {"start_s": 2.5, "end_s": 5, "text": "今天学习 --> 分数"},
    ]
    segments = parse_edited_segments(items, duration_s=5.02)
    assert segments == [EditedSegment(0.0, 2.5, "同学们好"), EditedSegment(2.5, 5.0, "今天学习 → 分数")]
    assert_readable(build_cues(segments))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [{"start_s": 0, "end_s": 3, "text": "一"}, {"start_s": 2, "end_s": 4, "text": "二"}],
            "第 2 条字幕与上一条时间重叠",
        ),
        ([{"start_s": 0, "end_s": 12, "text": "一"}], "第 1 条字幕超出了视频时长"),
        ([{"start_s": 3, "end_s": 3, "text": "一"}], "第 1 条字幕的开始时间应早于结束时间"),
        ([{"start_s": 0, "end_s": 1, "text": "  "}], "第 1 条字幕没有文字"),
        ([{"start_s": 0, "text": "一"}], "第 1 条字幕缺少时间或文字"),
        ([{"start_s": "nan", "end_s": 1, "text": "一"}], "第 1 条字幕的开始时间应早于结束时间"),
        ([{"start_s": 0, "end_s": 1, "text": "一\x00二"}], "第 1 条字幕的文字过长或含有无效字符"),
    ],
)
def test_bad_edits_are_refused_with_a_clear_message(items: list[dict[str, object]], message: str) -> None:
    with pytest.raises(CaptionsInvalid) as raised:
        parse_edited_segments(items, duration_s=10.0)
    assert raised.value.code == "captions_invalid"
    assert raised.value.message.startswith(message)
