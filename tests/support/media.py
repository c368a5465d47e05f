"""Test media made with ffmpeg (lavfi sources), espeak-ng and sox: generator functions and session fixtures.

Every clip is small (a few seconds, at most 640x360 unless a test needs more) and built once per test session,
on first use, in one temporary folder. Hostile files are built here too, never kept in git.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import require_tool

MANDARIN_TEXT = (
    "今天我们学习怎样种植玉米。首先要选择好的种子，然后翻地施肥。"
    "天气暖和以后就可以播种了。出苗以后要注意浇水和除草。"
)
TOOL_TIMEOUT_S = 120


def run_tool(*args: str | Path) -> None:
    """Run a media tool for the tests; fail loudly with its stderr."""
    cmd = [str(a) for a in args]
    if cmd[0] == "ffmpeg":
        cmd[1:1] = ["-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    proc = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}"
        )


def ffprobe_json(path: Path) -> dict[str, Any]:
    """ffprobe's view of a file the tests made or got back (streams and format)."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, timeout=TOOL_TIMEOUT_S, check=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def streams_of(path: Path, codec_type: str) -> list[dict[str, Any]]:
    return [s for s in ffprobe_json(path)["streams"] if s.get("codec_type") == codec_type]


def top_level_atoms(path: Path) -> list[str]:
    """The MP4 box types at the top level, in file order (to see moov before mdat)."""
    atoms = []
    with path.open("rb") as f:
        while header := f.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
                f.seek(size - 16, 1)
            elif size == 0:
                atoms.append(kind.decode("latin-1"))
                break
            else:
                f.seek(size - 8, 1)
            atoms.append(kind.decode("latin-1"))
    return atoms


def gray_thumbnail(path: Path, *, at_s: float = 0.0, width: int = 8, height: int = 8) -> bytes:
    """One frame (or a JPEG) decoded to width x height 8-bit gray pixels, upright as players show it."""
    seek = ["-ss", f"{at_s}"] if at_s > 0 else []  # (seeking a still image yields nothing)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", *seek, "-i", str(path), "-frames:v", "1",
           "-vf", f"scale={width}:{height},format=gray", "-f", "rawvideo", "-"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT_S, check=True)
    assert len(proc.stdout) == width * height, proc.stderr
    return proc.stdout


def packets_md5(path: Path, stream: str = "v") -> str:
    """MD5 of the first video (or, with stream="a", audio) stream's packets: equal for a stream copy."""
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        f"0:{stream}:0",
        "-c",
        "copy",
        "-f",
        "md5",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT_S, check=True)
    return proc.stdout.decode().strip()


# --- generators: each writes `path` and returns it ------------------------------------------------------------


def make_rotated_portrait_clip(path: Path, *, duration_s: float = 3.0) -> Path:
    """A phone held upright: coded 640x360 H.264/AAC with a 90-degree clockwise display rotation (display 360x640).

    The coded picture's top half is white and its bottom half a dimmed test pattern, so once upright the white half
    is on the right.
    """
    plain = path.with_name(path.stem + ".unrotated.mp4")
    graph = (
        f"color=white:s=640x180:r=30:d={duration_s}[top];"
        f"testsrc2=s=640x180:r=30:d={duration_s},lutyuv=y=val/3[bottom];[top][bottom]vstack[v];"
        f"sine=f=440:d={duration_s}[a]"
    )
    run_tool("ffmpeg", "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
             "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", plain)  # fmt: skip
    # ffmpeg 5.1 turns rotate=270 on a stream copy into the display matrix phones write for "rotate 90".
    run_tool("ffmpeg", "-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=270", path)
    plain.unlink()
    return path


def make_landscape_720p_clip(path: Path, *, duration_s: float = 2.0) -> Path:
    """1280x720 H.264/AAC at 30 fps: big enough for both the 720p and the 360p rung."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s=1280x720:r=30:d={duration_s}", "-f", "lavfi",
             "-i", f"sine=d={duration_s}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", path)  # fmt: skip
    return path


def make_hevc_mov(path: Path, *, duration_s: float = 2.0) -> Path:
    """An iPhone-style HEVC (hvc1) .mov with AAC sound, 320x240."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=30:d={duration_s}",
             "-f", "lavfi", "-i", f"sine=f=330:d={duration_s}", "-c:v", "libx265", "-preset", "ultrafast",
             "-x265-params", "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p", "-c:a", "aac",
             "-shortest", path)  # fmt: skip
    return path


# The SDR picture the HDR clips are made from (and compared with): colour bars, a gradient and moving shapes.
SDR_TEST_PICTURE = "testsrc2=s=1280x720:r=30"


def make_hdr_phone_clip(path: Path, *, transfer: str, duration_s: float = 2.0) -> Path:
    """An HDR phone's 10-bit HEVC .mov: BT.2020 primaries, HLG (`arib-std-b67`, iPhone) or PQ (`smpte2084`,
    HDR10), made from SDR_TEST_PICTURE with its white at BT.2408's HDR reference white (203 cd/m2)."""
    graph = (f"{SDR_TEST_PICTURE}:d={duration_s},zscale=transferin=709:primariesin=709:matrixin=709:"
             f"rangein=limited:transfer={transfer}:primaries=2020:matrix=2020_ncl:range=limited:npl=203,"
             "format=yuv420p10le")
    run_tool("ffmpeg", "-f", "lavfi", "-i", graph, "-f", "lavfi", "-i", f"sine=f=330:d={duration_s}",
             "-c:v", "libx265", "-preset", "ultrafast",
             # A keyframe every half second, as phones write them often: the poster's keyframes-only pick runs.
             "-x265-params", f"log-level=error:keyint=15:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc",
             "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc", "-tag:v", "hvc1",
             "-c:a", "aac", "-shortest", path)  # fmt: skip
    return path


def picture_stats(path: Path, *, size: str | None = None) -> tuple[float, float]:
    """(mean luma, mean saturation) over every frame, as ffmpeg's `signalstats` measures them (8-bit scale)."""
    chain = f"scale={size}," if size else ""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-vf",
         f"{chain}format=yuv420p,signalstats,metadata=print", "-f", "null", "-"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=True,
    )  # fmt: skip
    def mean(key: str) -> float:
        values = [float(line.rpartition("=")[2]) for line in proc.stderr.splitlines() if f"signalstats.{key}=" in line]
        assert values, proc.stderr[-1000:]
        return sum(values) / len(values)
    return mean("YAVG"), mean("SATAVG")


def make_vfr_clip(path: Path) -> Path:
    """3 s of 320x240 video: 30 fps for the first second, 10 fps after (variable frame rate), and a tone."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30:d=3", "-f", "lavfi", "-i", "sine=d=3",
             "-vf", "select='lt(n\\,30)+not(mod(n\\,3))'", "-fps_mode", "vfr", "-c:v", "libx264",
             "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path)  # fmt: skip
    return path


def make_streamed_webm(path: Path) -> Path:
    """Opus in WebM written to a pipe, as a browser's MediaRecorder saves it: no duration in the header."""
    with path.open("wb") as out:
        proc = subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=d=3", "-c:a", "libopus", "-f", "webm", "-"],
            stdout=out, stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT_S, check=True,
        )  # fmt: skip
    assert proc.returncode == 0
    return path


def make_mandarin_speech_wav(path: Path, *, text: str = MANDARIN_TEXT) -> Path:
    """Mandarin read by espeak-ng (voice cmn-latn-pinyin reads Han characters as Mandarin)."""
    require_tool("espeak-ng")
    run_tool("espeak-ng", "-v", "cmn-latn-pinyin", "-w", path, text)
    return path


def make_quiet_speech_wav(path: Path, speech: Path) -> Path:
    """The speech about 16 dB quieter (around -35 LUFS), as a far-away phone microphone records it."""
    run_tool("ffmpeg", "-i", speech, "-af", "volume=-16dB", path)
    return path


def make_amr_voice_note(path: Path, speech: Path) -> Path:
    """An AMR-NB 8 kHz voice note (ffmpeg has no AMR encoder; sox with opencore does)."""
    require_tool("sox")
    run_tool("sox", speech, "-r", "8000", "-c", "1", "-t", "amr-nb", path)
    return path


def make_wechat_voice_note(path: Path, speech: Path, *, tencent: bool = True) -> Path:
    """A WeChat voice note: SILK v3 at 24 kHz with Tencent's leading 0x02 byte (silk-python's encoder); with
    `tencent=False` a QQ-style one, as the SILK SDK's encoder writes it: no 0x02, and a -1 packet length at the end."""
    import pysilk

    pcm = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(speech), "-f", "s16le", "-ac", "1",
                          "-ar", "24000", "-"], capture_output=True, timeout=TOOL_TIMEOUT_S, check=True).stdout
    with path.open("wb") as out:
        pysilk.encode(io.BytesIO(pcm), out, 24000, 24000, tencent=tencent)
        if not tencent:
            out.write(b"\xff\xff")
    return path


def make_mp3_with_cover(path: Path, speech: Path) -> Path:
    """Speech as MP3 with an attached 320x320 cover picture (ID3 APIC)."""
    run_tool("ffmpeg", "-i", speech, "-f", "lavfi", "-i", "testsrc2=s=320x320:d=1", "-map", "0:a", "-map", "1:v",
             "-frames:v", "1", "-c:a", "libmp3lame", "-b:a", "64k", "-c:v", "mjpeg",
             "-disposition:v", "attached_pic", "-id3v2_version", "3", path)  # fmt: skip
    return path


def make_silent_video(path: Path) -> Path:
    """H.264 video with no audio stream at all."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2", "-c:v", "libx264",
             "-preset", "ultrafast", "-pix_fmt", "yuv420p", path)  # fmt: skip
    return path


def make_two_audio_tracks(path: Path) -> Path:
    """Video with two audio tracks: the first is silent, the second is the default one and carries a tone."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3",
             "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-f", "lavfi", "-i", "sine=f=500:d=3",
             "-map", "0:v", "-map", "1:a", "-map", "2:a", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-disposition:a:0", "0", "-disposition:a:1", "default",
             path)  # fmt: skip
    return path


def make_qcif_clip(path: Path) -> Path:
    """An old feature phone's clip: 176x144 H.263 with AAC in .3gp."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=176x144:r=15:d=2", "-f", "lavfi", "-i", "sine=d=2",
             "-c:v", "h263", "-c:a", "aac", "-ar", "16000", "-ac", "1", "-b:a", "24k", path)  # fmt: skip
    return path


def make_fitting_360p_clip(path: Path) -> Path:
    """Already what the 360p rung asks for: 640x360 H.264 High yuv420p 30 fps, modest bitrate, AAC stereo."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=2", "-f", "lavfi",
             "-i", "sine=d=2,aformat=channel_layouts=stereo", "-c:v", "libx264", "-preset", "veryfast",
             "-profile:v", "high", "-pix_fmt", "yuv420p", "-crf", "28", "-maxrate", "600k", "-bufsize", "1200k",
             "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", path)  # fmt: skip
    return path


def make_black_start_clip(path: Path) -> Path:
    """7 s of 320x240: black for the first 3 s (a lens cap, a fade-in), then a test pattern."""
    graph = (
        "color=black:s=320x240:r=25:d=3[b];testsrc2=s=320x240:r=25:d=4[t];[b][t]concat=n=2:v=1:a=0[v];"
        "sine=d=7[a]"
    )
    run_tool("ffmpeg", "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
             "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", path)  # fmt: skip
    return path


def make_plain_clip(path: Path, *, duration_s: float = 4.0, faststart: bool = False) -> Path:
    """An ordinary 320x240 H.264/AAC MP4; moov at the end unless `faststart`."""
    flags = ["-movflags", "+faststart"] if faststart else []
    run_tool("ffmpeg", "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={duration_s}", "-f", "lavfi",
             "-i", f"sine=d={duration_s}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", *flags, path)  # fmt: skip
    return path


def truncate_half(src: Path, path: Path) -> Path:
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_png(path: Path) -> Path:
    run_tool("ffmpeg", "-f", "lavfi", "-i", "testsrc2=s=64x64:d=1", "-frames:v", "1", "-f", "image2",
             "-c:v", "png", path)  # fmt: skip
    return path


def make_hls_playlist(path: Path) -> Path:
    path.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    return path


def make_ffconcat_script(path: Path, target: Path) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{target}'\nfile '/etc/passwd'\n")
    return path


def make_duration_bomb(path: Path, *, hours: float = 3.0) -> Path:
    """Hours of silence as 8 kbps mono MP3, made by repeating 10 s of frames (no Xing header to give it away)."""
    piece = path.with_name(path.stem + ".piece.mp3")
    run_tool("ffmpeg", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "10", "-c:a", "libmp3lame",
             "-b:a", "8k", "-write_xing", "0", "-id3v2_version", "0", piece)  # fmt: skip
    frames = piece.read_bytes()
    piece.unlink()
    with path.open("wb") as f:
        for _ in range(int(hours * 360)):
            f.write(frames)
    return path


def make_pixel_bomb(path: Path) -> Path:
    """One 8192x8192 H.264 frame (about 200 KB: a flat gray picture)."""
    run_tool("ffmpeg", "-f", "lavfi", "-i", "color=gray:s=8192x8192:r=1:d=1", "-frames:v", "1",
             "-c:v", "libx264", "-preset", "ultrafast", path)  # fmt: skip
    return path


# --- session fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("ffmpeg")
    require_tool("ffprobe")
    return tmp_path_factory.mktemp("media")


def _built(media_dir: Path, name: str, make: Callable[[Path], Path]) -> Path:
    path = media_dir / name
    if not path.exists():
        make(path)
    return path


@pytest.fixture(scope="session")
def rotated_portrait_clip(media_dir: Path) -> Path:
    return _built(media_dir, "portrait phone.mp4", make_rotated_portrait_clip)


@pytest.fixture(scope="session")
def landscape_720p_clip(media_dir: Path) -> Path:
    return _built(media_dir, "landscape 720p.mp4", make_landscape_720p_clip)


@pytest.fixture(scope="session")
def hevc_mov(media_dir: Path) -> Path:
    return _built(media_dir, "IMG_0001.MOV", make_hevc_mov)


@pytest.fixture(scope="session")
def vfr_clip(media_dir: Path) -> Path:
    return _built(media_dir, "vfr.mp4", make_vfr_clip)


@pytest.fixture(scope="session")
def streamed_webm(media_dir: Path) -> Path:
    return _built(media_dir, "recorded in browser.webm", make_streamed_webm)


@pytest.fixture(scope="session")
def mandarin_speech_wav(media_dir: Path) -> Path:
    return _built(media_dir, "speech.wav", make_mandarin_speech_wav)


@pytest.fixture(scope="session")
def quiet_speech_wav(media_dir: Path, mandarin_speech_wav: Path) -> Path:
    return _built(media_dir, "quiet speech.wav", lambda p: make_quiet_speech_wav(p, mandarin_speech_wav))


@pytest.fixture(scope="session")
def amr_voice_note(media_dir: Path, mandarin_speech_wav: Path) -> Path:
    return _built(media_dir, "voice note.amr", lambda p: make_amr_voice_note(p, mandarin_speech_wav))


@pytest.fixture(scope="session")
def wechat_voice_note(media_dir: Path, mandarin_speech_wav: Path) -> Path:
    return _built(media_dir, "微信语音.amr", lambda p: make_wechat_voice_note(p, mandarin_speech_wav))


@pytest.fixture(scope="session")
def mp3_with_cover(media_dir: Path, mandarin_speech_wav: Path) -> Path:
    return _built(media_dir, "lesson with cover.mp3", lambda p: make_mp3_with_cover(p, mandarin_speech_wav))


@pytest.fixture(scope="session")
def silent_video(media_dir: Path) -> Path:
    return _built(media_dir, "no sound.mp4", make_silent_video)


@pytest.fixture(scope="session")
def two_audio_tracks(media_dir: Path) -> Path:
    return _built(media_dir, "two tracks.mp4", make_two_audio_tracks)


@pytest.fixture(scope="session")
def qcif_clip(media_dir: Path) -> Path:
    return _built(media_dir, "qcif.3gp", make_qcif_clip)


@pytest.fixture(scope="session")
def fitting_360p_clip(media_dir: Path) -> Path:
    return _built(media_dir, "fits 360p.mp4", make_fitting_360p_clip)


@pytest.fixture(scope="session")
def black_start_clip(media_dir: Path) -> Path:
    return _built(media_dir, "black start.mp4", make_black_start_clip)


@pytest.fixture(scope="session")
def zero_bytes_file(media_dir: Path) -> Path:
    return _built(media_dir, "empty.mp4", lambda p: (p.write_bytes(b""), p)[1])


@pytest.fixture(scope="session")
def text_as_mp4(media_dir: Path) -> Path:
    return _built(
        media_dir, "notes.mp4", lambda p: (p.write_text("这是一份文字笔记，不是视频。\n" * 20), p)[1]
    )


@pytest.fixture(scope="session")
def png_as_mp4(media_dir: Path) -> Path:
    return _built(media_dir, "photo.mp4", make_png)


@pytest.fixture(scope="session")
def truncated_mp4(media_dir: Path) -> Path:
    """moov at the end, file cut in half: the index never arrived."""
    whole = _built(media_dir, "whole.mp4", make_plain_clip)
    return _built(media_dir, "truncated.mp4", lambda p: truncate_half(whole, p))


@pytest.fixture(scope="session")
def truncated_faststart_mp4(media_dir: Path) -> Path:
    """moov first, media data cut in half: probes as 4 s, decodes to about 2 s."""
    whole = _built(media_dir, "whole faststart.mp4", lambda p: make_plain_clip(p, faststart=True))
    return _built(media_dir, "truncated faststart.mp4", lambda p: truncate_half(whole, p))


@pytest.fixture(scope="session")
def hls_playlist(media_dir: Path) -> Path:
    return _built(media_dir, "playlist.mp4", make_hls_playlist)


@pytest.fixture(scope="session")
def ffconcat_script(media_dir: Path, silent_video: Path) -> Path:
    return _built(media_dir, "concat.mp4", lambda p: make_ffconcat_script(p, silent_video))


@pytest.fixture(scope="session")
def duration_bomb(media_dir: Path) -> Path:
    return _built(media_dir, "three hours.mp3", make_duration_bomb)


@pytest.fixture(scope="session")
def pixel_bomb(media_dir: Path) -> Path:
    return _built(media_dir, "huge frame.mp4", make_pixel_bomb)
