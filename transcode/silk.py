"""WeChat and QQ voice notes: SILK v3 (`#!SILK_V3`; WeChat's files start with one more byte, 0x02), which ffmpeg
cannot read. A cadre who copies a voice message off the phone gets one of these, named `.amr`, `.slk` or `.silk`.

The original stays as it was uploaded; a step that reads it gets a mono 16-bit WAV decoded from it in its scratch
folder (silk-python, a binding of the SILK SDK), and everything after that is the WAV's ordinary path. The native
decoder runs in a child process through the runner, so a hostile file meets a time limit and a crash in the decoder
cannot take the worker down; it stops one second past the duration limit, which the WAV's probe then refuses.
"""

from __future__ import annotations

import io
import sys
import wave
from pathlib import Path

from transcode import runner
from transcode.errors import CommandFailed, CorruptMedia
from transcode.limits import MediaLimits

SILK_MAGIC = b"#!SILK_V3"
WECHAT_PREFIX = b"\x02"
SAMPLE_RATE = 24000  # WeChat's and QQ's SILK encoders work at 24 kHz at most
MIME_TYPE = "audio/silk"
FORMAT_NAME = "silk"
END_OF_STREAM = b"\xff\xff"  # the SILK SDK's encoder (QQ) ends a file with a packet length of -1
CORRUPT_EXIT_STATUS = 3  # the child's status for a file the decoder refuses; anything else is the worker's fault


def is_silk(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(len(WECHAT_PREFIX) + len(SILK_MAGIC))
    return head.startswith(SILK_MAGIC) or head.startswith(WECHAT_PREFIX + SILK_MAGIC)


def decode_silk(src: Path, dest: Path, *, limits: MediaLimits, python_bin: str = sys.executable) -> Path:
    """Write `dest` (WAV, mono, SAMPLE_RATE) from the SILK file `src`; CorruptMedia when it cannot be decoded."""
    max_samples = int((limits.max_duration_s + 1) * SAMPLE_RATE)
    args = [python_bin, "-m", "transcode.silk", str(src), str(dest), str(max_samples)]
    # Decoding runs at about 1000x realtime here and stops past the duration limit: a tenth of the limit is ample.
    timeout_s = max(limits.encode_timeout_min_s, limits.max_duration_s / 10)
    try:
        runner.run(args, timeout_s=timeout_s, cwd=dest.parent)
    except CommandFailed as exc:
        dest.unlink(missing_ok=True)
        if exc.returncode == CORRUPT_EXIT_STATUS:
            raise CorruptMedia(f"{src.name}: SILK voice note could not be decoded") from exc
        raise  # the decoder could not run (a broken install, out of memory): not the upload's fault
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


class _SilkReader(io.RawIOBase):
    """The voice note as silk-python reads it, ending at the SDK's end-of-stream marker.

    silk-python reads each packet's 16-bit length with `read(2)` and has no check for the -1 that the SDK's own
    encoder writes last: it would try to decode a packet of 65535 bytes and refuse the whole file."""

    def __init__(self, raw: io.BufferedReader) -> None:
        super().__init__()
        self._raw, self._ended = raw, False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._ended:
            return b""
        data = self._raw.read(size)
        if size == 2 and data == END_OF_STREAM:
            self._ended = True
            return b""
        return data


class _Enough(Exception):
    """The duration limit was passed: stop decoding."""


class _WavSink(io.RawIOBase):
    """The file-like object silk-python writes 16-bit PCM to: frames go into a WAV, up to `max_samples`."""

    def __init__(self, wav: wave.Wave_write, max_samples: int) -> None:
        super().__init__()
        self._wav, self._left_bytes = wav, max_samples * 2

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        chunk = bytes(memoryview(data)[: self._left_bytes])
        self._wav.writeframesraw(chunk)
        self._left_bytes -= len(chunk)
        if self._left_bytes <= 0:
            raise _Enough
        return memoryview(data).nbytes


def _decode_main(src: Path, dest: Path, max_samples: int) -> int:
    import pysilk

    with src.open("rb") as fh, wave.open(str(dest), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        try:
            pysilk.decode(_SilkReader(fh), _WavSink(wav, max_samples), SAMPLE_RATE)
        except _Enough:
            pass
        except pysilk.SilkError as exc:
            print(f"SILK decoding failed: {exc}", file=sys.stderr)
            return CORRUPT_EXIT_STATUS
    return 0


if __name__ == "__main__":
    sys.exit(_decode_main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
