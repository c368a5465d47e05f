"""Errors raised by `transcode`: one base, stable English codes, Simplified Chinese messages.

`detail` is English text for logs (an ffmpeg stderr tail, a path); `message` is what users see.
"""

from __future__ import annotations


class TranscodeError(Exception):
    code = "transcode_failed"
    message = "文件处理失败"
    retryable = False

    def __init__(self, detail: str = "", *, message: str | None = None) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        if message is not None:
            self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


class NotMedia(TranscodeError):
    """Text, random bytes, or a container with no audio and no video stream."""

    code = "not_media"
    message = "无法识别的音视频文件"


class ImageNotMedia(NotMedia):
    """A still image (PNG, JPEG, HEIC, ...) uploaded as a video."""

    code = "image_not_media"
    message = "这是一张图片，不是音视频文件"


class PlaylistRefused(TranscodeError):
    """An HLS playlist, an ffconcat script or any other input that names other files."""

    code = "playlist_refused"
    message = "不接受播放列表或引用其他文件的文件"


class CorruptMedia(TranscodeError):
    """Truncated or damaged: unreadable, or decodes to much less than it claims."""

    code = "corrupt_media"
    message = "文件已损坏或不完整"


class TooLong(TranscodeError):
    code = "too_long"
    message = "时长超过上限"


class TooManyPixels(TranscodeError):
    code = "too_many_pixels"
    message = "画面尺寸超过上限"


class NoAudio(TranscodeError):
    """An audio edition was asked for a file without sound."""

    code = "no_audio"
    message = "文件中没有声音"


class CommandFailed(TranscodeError):
    code = "command_failed"
    message = "文件处理失败"

    def __init__(self, detail: str = "", *, returncode: int | None = None) -> None:
        super().__init__(detail)
        self.returncode = returncode


class CommandTimedOut(TranscodeError):
    code = "transcode_timeout"
    message = "处理超时"


class NotAPhoto(TranscodeError):
    """A speaker's photo that is not a JPEG, PNG or WebP picture we can decode (whatever its name says)."""

    code = "not_a_photo"
    message = "请上传 JPEG、PNG 或 WebP 格式的照片"


class Mp3Invalid(TranscodeError):
    """Not a readable MPEG audio Layer III stream (no frames, free-format bit rate, a broken header frame)."""

    code = "mp3_invalid"
    message = "MP3 文件无法解析"


class Mp3ParamsMismatch(TranscodeError):
    """Two MP3 streams to be joined differ in MPEG version, sample rate, channels or bit rate."""

    code = "mp3_params_mismatch"
    message = "片头与课程音频的编码参数不一致，无法拼接"


class Mp3JoinUnsafe(TranscodeError):
    """The second stream's first frame borrows bits from frames before it (bit reservoir): a join would garble it."""

    code = "mp3_join_unsafe"
    message = "课程音频无法在帧边界拼接"


class TtsModelMissing(TranscodeError):
    """The speech-synthesis model files are not installed (Kokoro), or the fallback voice (espeak-ng) is missing."""

    code = "tts_model_missing"
    message = "语音合成模型未安装"


class SpeechSynthesisFailed(TranscodeError):
    """Nothing sayable in the text, or the synthesizer failed."""

    code = "tts_failed"
    message = "语音合成失败"
