"""Audio pack file names: hostile lesson titles become FAT32-safe, readable, unique names in track order."""

from __future__ import annotations

import unicodedata

import pytest

from transcode.pack_names import MAX_NAME_UNITS, readable_text, track_file_names, track_number_width

FAT_FORBIDDEN = set('\\/:*?"<>|[]')  # [ ] too: mtools reads them as a pattern

HOSTILE_TITLES = [
    "开篇：学习党章",
    "第二讲 / 党的纪律 \\ 规矩",
    'C:\\Windows\\*.* "危险" <script>|?',
    "控制\x00字符\x07与\x1b[31m转义\x7f",
    "👨‍👩‍👧 家风建设 🇨🇳 👍🏽 ❤️ 🏴󠁧󠁢󠁥󠁮󠁧󠁿",
    "长" * 200,
    "学习党章",
    "学习党章",
    "Lesson A",
    "lesson a",
    "？！……——（）",
    "🎉🎉🎉",
    "标题结尾有点和空格. . ..  ",
    "   前后都有空白\t\n",
    "學習黨章：傳統字",
    "\u202e反向控制\u200b零宽\ufeff",
    "溫度 25℃ · 第①讲 ★重点",
    "𠮷野家与𪚥字（扩展B区）",
]


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_fat_safe(name: str) -> None:
    stem, dot, ext = name.rpartition(".")
    assert dot and ext == "mp3", name
    assert not FAT_FORBIDDEN & set(name), name
    assert all(ord(ch) >= 0x20 and ord(ch) != 0x7F for ch in name), name
    assert not stem.endswith((".", " ")) and not name.endswith((".", " ")), name
    assert utf16_units(name) <= MAX_NAME_UNITS, name
    assert all(unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name), name
    assert not any(0xFE00 <= ord(ch) <= 0xFE0F or 0x1F000 <= ord(ch) <= 0x1FAFF for ch in name), name  # emoji


def test_hostile_titles_become_fat32_safe_unique_names_in_track_order() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert len(names) == len(HOSTILE_TITLES)
    for name in names:
        assert_fat_safe(name)
    assert len({n.casefold() for n in names}) == len(names)  # FAT compares names case-insensitively
    assert sorted(names) == names
    assert [n[:3] for n in names] == [f"{i:02d}_" for i in range(1, len(names) + 1)]


def test_forbidden_characters_become_full_width_forms_that_keep_the_meaning() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert names[0] == "01_开篇：学习党章.mp3"
    assert names[1] == "02_第二讲 ／ 党的纪律 ＼ 规矩.mp3"
    assert names[2] == "03_C：＼Windows＼＊.＊ ＂危险＂ ＜script＞｜？.mp3"


def test_control_and_format_characters_are_removed() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert names[3] == "04_控制字符与［31m转义.mp3"  # mtools would read [ ] as a pattern
    assert names[15] == "16_反向控制零宽.mp3"


def test_emoji_zwj_sequences_flags_and_skin_tones_are_removed_and_chinese_stays() -> None:
    assert track_file_names(HOSTILE_TITLES)[4] == "05_家风建设.mp3"
    assert readable_text("1️⃣ 第一课 ✨") == "1 第一课"


def test_symbols_a_gbk_player_font_has_stay() -> None:
    assert track_file_names(HOSTILE_TITLES)[16] == "17_溫度 25℃ · 第①讲 ★重点.mp3"


def test_a_long_title_is_cut_at_a_character_boundary_with_a_mark() -> None:
    name = track_file_names(HOSTILE_TITLES)[5]
    assert len(name) == MAX_NAME_UNITS
    assert name == "06_" + "长" * (MAX_NAME_UNITS - 3 - 4 - 1) + "….mp3"


def test_long_titles_of_cjk_extension_characters_count_as_fat_stores_them() -> None:
    (name,) = track_file_names(["𠮷" * 80])
    assert utf16_units(name) <= MAX_NAME_UNITS
    assert name.startswith("01_𠮷𠮷") and name.endswith("….mp3")
    assert "\ud842" not in name  # never half a surrogate pair


def test_a_long_title_cut_before_a_dot_or_space_loses_it() -> None:
    (name,) = track_file_names(["好" * 55 + " ...后面"])
    assert name == "01_" + "好" * 55 + "….mp3"


def test_duplicate_titles_and_titles_differing_only_in_case_get_distinct_names() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert names[6:10] == ["07_学习党章.mp3", "08_学习党章.mp3", "09_Lesson A.mp3", "10_lesson a.mp3"]


def test_a_title_with_nothing_readable_becomes_lesson_n() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert names[10] == "11_第11课.mp3"
    assert names[11] == "12_第12课.mp3"
    assert track_file_names(["", "   ", "..."]) == ["01_第1课.mp3", "02_第2课.mp3", "03_第3课.mp3"]


def test_dots_spaces_and_whitespace_at_the_ends_are_dropped() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert names[12] == "13_标题结尾有点和空格.mp3"
    assert names[13] == "14_前后都有空白.mp3"
    assert track_file_names(["多个   空格\n\n换行\u3000全角空格"]) == ["01_多个 空格 换行 全角空格.mp3"]


def test_traditional_characters_and_cjk_extensions_are_kept_as_they_are() -> None:
    names = track_file_names(HOSTILE_TITLES)
    assert names[14] == "15_學習黨章：傳統字.mp3"
    assert names[17] == "18_𠮷野家与𪚥字（扩展B区）.mp3"


@pytest.mark.parametrize(("count", "width", "first", "last"), [
    (1, 2, "01_", "01_"), (9, 2, "01_", "09_"), (99, 2, "01_", "99_"), (100, 3, "001_", "100_"),
    (1000, 4, "0001_", "1000_"),
])  # fmt: skip
def test_the_number_is_zero_padded_as_wide_as_the_pack_needs(count: int, width: int, first: str, last: str) -> None:
    assert track_number_width(count) == width
    names = track_file_names([f"第{i}讲" for i in range(1, count + 1)])
    assert names[0].startswith(first) and names[-1].startswith(last)
    assert sorted(names) == names


def test_an_unsafe_extension_is_refused() -> None:
    with pytest.raises(ValueError):
        track_file_names(["a"], extension=".mp3:evil")
    with pytest.raises(ValueError):
        track_file_names(["a"], extension="mp3")
