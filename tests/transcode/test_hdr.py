"""HDR phone video (iPhone HLG, HDR10 PQ) comes out as SDR that looks as filmed, not grey and washed out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.media import SDR_TEST_PICTURE, make_hdr_phone_clip, picture_stats, streams_of
from transcode.ladder import encode_ladder, plan_ladder
from transcode.limits import MediaLimits
from transcode.poster import make_poster
from transcode.probe import probe_media
from transcode.tone_map import is_hdr

LIMITS = MediaLimits()
# Shown as it is, the HLG picture keeps about 40% of the original's saturation and the PQ one 25%.
MIN_SATURATION_RATIO = 0.8
MAX_LUMA_ERROR = 0.15


@pytest.fixture(scope="module", params=["arib-std-b67", "smpte2084"], ids=["HLG", "PQ"])
def hdr_clip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hdr")
    return make_hdr_phone_clip(folder / f"IMG_{request.param}.MOV", transfer=request.param)


@pytest.fixture(scope="module")
def sdr_stats(tmp_path_factory: pytest.TempPathFactory) -> tuple[float, float]:
    """The original SDR picture's (luma, saturation) at 1280x720."""
    from tests.support.media import run_tool

    sdr = tmp_path_factory.mktemp("sdr") / "sdr.mkv"
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"{SDR_TEST_PICTURE}:d=2", "-pix_fmt", "yuv420p", "-c:v", "ffv1", sdr)
    return picture_stats(sdr)


def _looks_like_the_original(stats: tuple[float, float], original: tuple[float, float]) -> None:
    luma, saturation = stats
    assert saturation >= MIN_SATURATION_RATIO * original[1], (stats, original)
    assert abs(luma - original[0]) <= MAX_LUMA_ERROR * original[0], (stats, original)


def test_hdr_is_recognised(hdr_clip: Path) -> None:
    probe = probe_media(hdr_clip, limits=LIMITS)
    assert probe.video is not None and is_hdr(probe.video)
    assert probe.video.color_primaries == "bt2020"
    assert not any(spec.copy for spec in plan_ladder(probe))


def test_hdr_renditions_are_sdr_bt709_and_keep_their_colour(
    hdr_clip: Path, sdr_stats: tuple[float, float], tmp_path: Path
) -> None:
    probe = probe_media(hdr_clip, limits=LIMITS)
    outputs = encode_ladder(hdr_clip, probe, plan_ladder(probe), tmp_path, limits=LIMITS)
    assert [o.spec.label for o in outputs] == ["720p", "360p"]
    for out in outputs:
        (video,) = streams_of(out.path, "video")
        assert video["pix_fmt"] == "yuv420p"
        assert (video.get("color_transfer"), video.get("color_primaries"), video.get("color_space")) == (
            "bt709", "bt709", "bt709")
        _looks_like_the_original(picture_stats(out.path, size="1280:720"), sdr_stats)


def test_shown_without_tone_mapping_the_picture_would_be_washed_out(
    hdr_clip: Path, sdr_stats: tuple[float, float]
) -> None:
    # What the check above guards against: the HDR frames converted to 8 bits and nothing else.
    with pytest.raises(AssertionError):
        _looks_like_the_original(picture_stats(hdr_clip), sdr_stats)


def test_hdr_poster_keeps_its_colour(hdr_clip: Path, sdr_stats: tuple[float, float], tmp_path: Path) -> None:
    probe = probe_media(hdr_clip, limits=LIMITS)
    poster = make_poster(hdr_clip, probe, tmp_path / "poster.jpg", limits=LIMITS)
    assert poster is not None
    _looks_like_the_original(picture_stats(poster.path, size="1280:720"), sdr_stats)
