"""docker-compose.yml cannot run here; check that it names real settings, covers every queue, publishes nothing
beyond the host's loopback, and takes every secret from .env (the variables .env.example lists)."""

from __future__ import annotations

import fnmatch
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ingest.storage import storage_from_url
from workers.settings import EXAMPLE_MARKERS, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SECRETS = ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "WEIKE_SECRET_KEY")
# ${NAME…} not preceded by another $ (compose's escape for a literal $, as in minio-setup's shell command).
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
_BARE_VARIABLE = re.compile(r"(?<!\$)\$(?![{$])")


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _interpolate(value: str, env: dict[str, str]) -> str:
    """What compose makes of a value, for the ${NAME:?message} form this file uses."""
    return _INTERPOLATION.sub(lambda m: env[m.group(1)], value).replace("$$", "$")


def _app_services() -> dict[str, dict[str, Any]]:
    """The services running our image: the API, the workers, beat and the migration."""
    return {name: service for name, service in _compose()["services"].items()
            if service.get("image") == "weike:latest"}


def test_every_weike_variable_is_a_real_setting() -> None:
    fields = set(Settings.model_fields)
    for name, service in _compose()["services"].items():
        for key in service.get("environment") or {}:
            if key.startswith("WEIKE_"):
                field = key.removeprefix("WEIKE_").lower().split("__")[0]
                assert field in fields, f"{name}: {key} is not a setting"


def test_production_shape_has_its_services_and_queues() -> None:
    services = _compose()["services"]
    assert {"api", "media-worker", "asr-worker", "beat", "postgres", "redis", "minio", "minio-setup"} <= set(services)
    for name in ("api", "postgres", "redis", "minio"):
        assert "healthcheck" in services[name], name
    queues: set[str] = set()
    beats = 0
    for service in services.values():
        command = service.get("command") or []
        if command[:2] == ["weike", "worker"]:
            queues.update(command[command.index("--queues") + 1].split(","))
            beats += "--beat" in command
    assert queues == {"media", "asr", "maintenance"}
    assert beats == 1  # one sweep per deployment
    assert services["api"]["environment"]["WEIKE_ENVIRONMENT"] == "production"


def test_every_published_port_is_bound_to_the_hosts_loopback() -> None:
    published: dict[str, list[str]] = {}
    for name, service in _compose()["services"].items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):  # the long syntax
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port} is published on every interface"
                published.setdefault(name, []).append(str(port["target"]))
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published on every interface"
                published.setdefault(name, []).append(str(port).rsplit(":", 1)[-1])
    assert published.pop("api") == ["8000"]
    assert "9000" in published.pop("minio")  # for the reverse proxy in front of MEDIA_PUBLIC_URL
    assert published == {}


def test_no_value_has_a_default_in_the_file() -> None:
    """Every variable is ${NAME:?message}: compose refuses to start without it, and no password is written here."""
    text = COMPOSE.read_text(encoding="utf-8")
    found = _INTERPOLATION.findall(text)
    assert found
    for name, modifier in found:
        assert modifier.startswith(":?") and modifier[2:].strip(), f"${{{name}{modifier}}} is not required"
    assert not _BARE_VARIABLE.search(_INTERPOLATION.sub("", text)), "use ${NAME:?message}, not $NAME"
    for marker in EXAMPLE_MARKERS:
        assert marker not in text.lower()


def test_every_secret_comes_from_the_environment() -> None:
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if key in SECRETS or key == "MINIO_ROOT_USER":
                match = _INTERPOLATION.fullmatch(str(value))
                assert match and match.group(1) == key and match.group(2).startswith(":?"), \
                    f"{name}: {key} is not required from .env"
    env = _app_services()["api"]["environment"]
    sentinels = {name: f"<{name}>" for name, _ in _INTERPOLATION.findall(COMPOSE.read_text(encoding="utf-8"))}
    database_url = _interpolate(env["WEIKE_DATABASE_URL"], sentinels)
    assert ":<POSTGRES_PASSWORD>@" in database_url, database_url
    storage_url = _interpolate(env["WEIKE_STORAGE_URL"], sentinels)
    for part in ("access_key=<MINIO_ROOT_USER>&", "secret_key=<MINIO_ROOT_PASSWORD>&",
                 "public_endpoint=<MEDIA_PUBLIC_URL>&"):
        assert part in storage_url, storage_url


def test_api_and_workers_get_the_secret_key() -> None:
    services = _app_services()
    assert {"api", "media-worker", "asr-worker", "beat", "migrate"} <= set(services)
    for name, service in services.items():
        assert service["environment"]["WEIKE_SECRET_KEY"].startswith("${WEIKE_SECRET_KEY:?"), name
        assert "WEIKE_UPLOAD_TOKEN" not in service["environment"], name


def test_env_example_lists_every_variable_compose_requires() -> None:
    required = {name for name, _ in _INTERPOLATION.findall(COMPOSE.read_text(encoding="utf-8"))}
    example = _env_example()
    assert set(example) == required
    for name in SECRETS:
        assert "change-me" in example[name], f"{name}: the example must be one production refuses"
    assert example["MEDIA_PUBLIC_URL"].startswith("https://")


def test_git_ignores_env_but_not_env_example() -> None:
    patterns = [line.strip() for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(name: str) -> bool:
        result = False
        for pattern in patterns:  # the last matching pattern decides, as in git
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(name, pattern.lstrip("!/")):
                result = not negated
        return result

    assert ignored(".env")
    assert not ignored(".env.example")


def _production_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for key, value in _app_services()["api"]["environment"].items():
        monkeypatch.setenv(key, _interpolate(str(value), env))
    return Settings(_env_file=None)


def test_production_refuses_the_example_values(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError):
        _production_settings(monkeypatch, _env_example())
    for name in SECRETS:  # each example value alone is enough to refuse
        env = {**_env_example(), **{n: secrets.token_urlsafe(48) for n in SECRETS if n != name}}
        with pytest.raises(ValidationError):
            _production_settings(monkeypatch, env)


def test_real_secrets_start_production_with_presigned_urls_on_the_public_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**_env_example(), **{name: secrets.token_urlsafe(48) for name in SECRETS}}

    settings = _production_settings(monkeypatch, env)

    assert settings.environment == "production" and settings.secret_key == env["WEIKE_SECRET_KEY"]
    url = storage_from_url(settings.storage_url).presigned_url("lessons/abc/360p.mp4")
    assert url is not None and url.startswith(f"{env['MEDIA_PUBLIC_URL']}/weike/lessons/abc/360p.mp4?")
