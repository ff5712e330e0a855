"""docker-compose.yml describes the production shape and matches what the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import get_commands
from django.utils.module_loading import import_string

from cocare_chat.config import Config

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services(doc):
    return {n: s for n, s in doc["services"].items() if s.get("image") == "cocare-chat:latest"}


def test_compose_has_the_production_shape():
    doc = compose()
    services = doc["services"]
    assert {"postgres", "redis", "synapse"} <= set(services)
    webs = [n for n, s in app_services(doc).items() if s["command"][0] == "daphne"]
    assert len(webs) >= 2
    workers = {s["command"][-1] for s in app_services(doc).values()
               if "run_workers" in s["command"]}
    assert workers == set(settings.COCARE_WORKERS)  # one process per worker kind


def test_every_variable_the_compose_file_sets_is_one_the_code_reads():
    fields = {f"COCARE_{name.upper()}" for name in Config.model_fields}
    for name, svc in app_services(compose()).items():
        env = svc["environment"]
        unknown = {k for k in env if k.startswith("COCARE_")} - fields
        assert not unknown, f"{name}: {unknown}"
        assert env["COCARE_DATABASE_URL"].startswith("postgres://")
        assert env["COCARE_REDIS_URL"].startswith("redis://")
        assert env["COCARE_PRODUCTION"] == "true"


def test_every_value_parses_as_the_setting_type(monkeypatch):
    env = dict(app_services(compose())["web1"]["environment"])
    # Substitute ${VAR:?} placeholders as docker compose would with real secrets.
    for k, v in env.items():
        monkeypatch.setenv(k, re.sub(r"\$\{[^}]+\}", "x" * 60, v))
    cfg = Config()
    assert cfg.production and cfg.allowed_hosts[0] == "care.example.org"


def test_every_command_exists():
    commands = get_commands()
    for name, svc in app_services(compose()).items():
        cmd = svc["command"]
        if cmd[0] == "daphne":
            assert callable(import_string(cmd[-1].replace(":", ".")))
        else:
            assert cmd[:2] == ["python", "manage.py"], name
            assert cmd[2] in commands, f"{name}: unknown command {cmd[2]}"
            if cmd[2] == "run_workers":
                assert set(cmd[3:]) <= set(settings.COCARE_WORKERS)


def test_the_image_builds_every_package_the_settings_install():
    dockerfile = (ROOT / "Dockerfile").read_text()
    local_apps = [a for a in settings.INSTALLED_APPS if (ROOT / a).is_dir()]
    for app in [*local_apps, "cocare_chat"]:
        assert f"COPY {app} {app}" in dockerfile, app


def test_the_image_serves_the_npm_libraries_the_pages_load():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "npm ci" in dockerfile and "scripts/vendor-static.sh" in dockerfile
    assert "COPY --from=vendor /src/web/vendor web/vendor" in dockerfile
