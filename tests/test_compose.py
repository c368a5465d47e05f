"""docker-compose.yml cannot run here; check that it names real settings and covers every queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from workers.settings import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


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
