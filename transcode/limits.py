"""Limits on what a worker accepts and how long one command may run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaLimits:
    max_duration_s: float = 7200.0
    max_pixels: int = 4096 * 2304
    probe_timeout_s: float = 30.0
    encode_timeout_min_s: float = 120.0
    encode_timeout_factor: float = 4.0

    def encode_timeout_s(self, duration_s: float) -> float:
        """Time limit for one ffmpeg run over `duration_s` seconds of media."""
        return max(self.encode_timeout_min_s, duration_s * self.encode_timeout_factor)
