"""The one Settings object, read from WEIKE_* environment variables (and .env).

Defaults run with no configuration at all: SQLite, a folder object store and a Celery broker on SQLite,
all under ``data_dir``. Only ``api/deps.py`` and ``workers/wiring.py`` call :func:`get_settings`; tests build
``Settings(...)`` and pass it in.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from transcode.ladder import LARGE_RUNG_X264_PARAMS
from transcode.limits import MediaLimits
from transcode.model_store import default_cache_dir


class MediaLimitsSettings(BaseModel):
    """Limits on what the workers will process; mirrors :class:`transcode.limits.MediaLimits`."""

    model_config = ConfigDict(frozen=True)

    max_duration_s: float = 7200.0
    max_pixels: int = 4096 * 2304
    probe_timeout_s: float = 30.0
    encode_timeout_min_s: float = 120.0
    encode_timeout_factor: float = 4.0

    def to_media_limits(self) -> MediaLimits:
        return MediaLimits(**self.model_dump())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WEIKE_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    # Argon2id parameters for new password hashes (catalog/accounts.py PASSWORD_HASHING); "fast" is the test suite's.
    password_hashing: Literal["standard", "fast"] = "standard"
    data_dir: Path = Path("var")
    # Empty means "derive from data_dir" (see _fill_defaults).
    database_url: str = ""
    storage_url: str = ""
    broker_url: str = ""

    max_upload_bytes: int = 4 * 1024**3
    limits: MediaLimitsSettings = MediaLimitsSettings()
    rungs: tuple[int, ...] = (720, 360)
    x264_preset: str = "veryfast"
    # x264-params added for rungs of 720p and up with the veryfast preset (transcode/ladder.py); empty: the preset alone.
    x264_large_rung_params: str = LARGE_RUNG_X264_PARAMS
    ffmpeg_bin: str = "ffmpeg"
    ffprobe_bin: str = "ffprobe"

    # Jobs: a running job holds a lease that its worker renews; an expired lease means the worker died.
    job_lease_s: float = 120.0
    job_max_attempts: int = 3
    job_stale_pending_s: float = 600.0
    sweep_interval_s: float = 15.0
    # Audio packs: a build's lease; the beat builds stale packs' next versions, re-enqueues builds whose worker died
    # and deletes superseded versions past their 90 days.
    pack_lease_s: float = 120.0
    pack_sweep_interval_s: float = 60.0
    pack_voice: str = "zf_xiaoxiao"  # the spoken intros' voice (transcode/tts.py)
    pack_warm_intros: bool = True  # say track numbers' and new lessons' intro clips before any pack needs them

    # Two pool processes: a lesson's poster and audio edition run beside its renditions, in the CPU the encoder
    # leaves idle (1.3 s of a 60 s phone clip's 22 s on two cores, bench/pipeline.py). Speech workers use 1.
    worker_concurrency: int = 2
    worker_queues: str = "media,asr,maintenance"
    worker_heartbeat_s: float = 10.0
    worker_fresh_s: float = 60.0

    # Speech recognition (queue "asr"). The model is a name or a local folder; empty means the Whisper base
    # weights that `weike models install` prepares under models_dir.
    asr_enabled: bool = True
    asr_engine: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    asr_model: str = ""
    asr_device: Literal["cpu", "cuda"] = "cpu"
    asr_compute_type: str = "int8"
    asr_beam_size: int = 1
    asr_vad: bool = True
    asr_initial_prompt: str = ""  # a county glossary; off by default (base repeats the prompt)
    asr_threads: int = 0  # 0: the engine's default
    models_dir: Path | None = None  # default: ~/.cache/weike-models (shared by every data_dir)

    # Accounts. The secret signs API tokens; empty means generated once and kept in data_dir/secret_key
    # (embedded defaults only: production refuses to start without one).
    secret_key: str = ""
    token_ttl_s: int = 3600
    web_session_ttl_s: int = 12 * 3600
    login_max_failures: int = 5
    login_failure_window_s: int = 15 * 60

    # Resumable uploads (tus). Requests writing upload bytes run in threads of their own (at most this many at
    # once); a request whose client sends nothing for the read timeout ends there, keeping what arrived.
    upload_concurrency: int = 16
    upload_read_timeout_s: float = 60.0
    upload_expires_s: int = 7 * 24 * 3600
    upload_lock_s: float = 60.0
    upload_sweep_interval_s: float = 300.0  # beat: expire unfinished uploads, adopt finished orphans

    presigned_url_expires_s: int = 600
    log_level: str = "INFO"

    # Podcast feeds and the daily broadcast (api/feeds.py, catalog/broadcast.py). Absolute links in feeds and M3U
    # playlists start with public_url (https://weike.example.gov.cn); unset, with the address the request came to.
    public_url: str | None = None
    broadcast_minutes: int = Field(default=20, ge=1, le=240)  # a day's programme for the village loudspeakers
    # Members' star ratings for the 十佳党课 contests (catalog/ratings.py): off unless a county runs a contest.
    ratings_enabled: bool = False

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        data_dir = self.data_dir.expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'weike.sqlite3'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{data_dir / 'store'}")
        if self.public_url is not None:
            public_url = self.public_url.strip().rstrip("/")
            parts = urlsplit(public_url)
            if public_url and (parts.scheme not in ("http", "https") or not parts.netloc or parts.query
                               or parts.fragment):
                raise ValueError("WEIKE_PUBLIC_URL must be an http(s) address such as https://weike.example.gov.cn")
            object.__setattr__(self, "public_url", public_url or None)
        if self.models_dir is None:
            object.__setattr__(self, "models_dir", default_cache_dir())
        if not self.broker_url:
            object.__setattr__(self, "broker_url", f"sqla+sqlite:///{data_dir / 'broker.sqlite3'}")
        if self.environment == "production":
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs a real database (WEIKE_DATABASE_URL), not SQLite")
            if len(self.secret_key) < 32 or _looks_like_example(self.secret_key):
                raise ValueError("production needs WEIKE_SECRET_KEY: at least 32 random characters, not the example")
            if _looks_like_example(self.storage_url) or _looks_like_example(self.database_url):
                raise ValueError("production must not use the example passwords of .env.example")
            if self.password_hashing != "standard":
                raise ValueError("production hashes passwords with the standard Argon2id parameters")
        return self

    def signing_key(self) -> str:
        """The secret that signs tokens: configured, or (embedded defaults) made once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key)
        return key

    def media_origins(self) -> str:
        """Where browsers fetch media from besides this site: the object store's (public) endpoint, for the pages'
        Content-Security-Policy."""
        if not self.storage_url.startswith("s3://"):
            return ""
        query = parse_qs(urlsplit(self.storage_url).query)
        endpoint = (query.get("public_endpoint") or query.get("endpoint") or [""])[0]
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def media_limits(self) -> MediaLimits:
        return self.limits.to_media_limits()

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith(("sqla+", "filesystem:"))

    def queue_list(self) -> list[str]:
        return [q.strip() for q in self.worker_queues.split(",") if q.strip()]

    def public_summary(self) -> dict[str, str]:
        """What `weike serve` prints: where things live, without secrets."""
        return {
            "data_dir": str(self.data_dir),
            "database": self.database_url.split("@")[-1],
            "storage": self.storage_url.split("?")[0],
            "broker": self.broker_url.split("@")[-1],
        }


EXAMPLE_MARKERS = ("change-me", "changeme", "minioadmin")


def _looks_like_example(value: str) -> bool:
    return any(marker in value.lower() for marker in EXAMPLE_MARKERS)


@lru_cache
def get_settings() -> Settings:
    return Settings()
