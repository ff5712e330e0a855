"""docker-compose.yml describes the production shape and matches what the code reads."""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.utils.module_loading import import_string

from cocare_chat.config import Config, production_secret_problems
from tests.support.services import free_port, port_open, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
# Values only the deployment knows: each must come from its environment (an .env file or
# the shell) as ${NAME:?...}, which refuses to start when it is missing.
SECRETS = (
    "COCARE_SECRET_KEY",
    "COCARE_CHANNEL_ENCRYPTION_KEY",
    "COCARE_MATRIX_AS_TOKEN",
    "COCARE_MATRIX_HS_TOKEN",
)


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
    workers = {
        s["command"][-1] for s in app_services(doc).values() if "run_workers" in s["command"]
    }
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
        monkeypatch.setenv(k, re.sub(r"\$\{[^}]+\}", lambda _: secrets.token_urlsafe(48), v))
    cfg = Config()
    assert cfg.production and cfg.allowed_hosts[0] == "care.example.org"
    assert production_secret_problems(cfg) == []


def test_secrets_come_from_the_environment_never_from_the_file():
    for name, svc in app_services(compose()).items():
        env = svc["environment"]
        for key in SECRETS:
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", env[key]), (name, key, env[key])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"^(ENV|ARG) .*COCARE_SECRET_KEY", dockerfile, re.M)  # not baked in
    # The image is production unless told otherwise: without a real secret it won't start.
    assert re.search(r"^ENV .*\bCOCARE_PRODUCTION=true\b", dockerfile, re.M)


def daphne_commands() -> dict[str, list[str]]:
    cmds = {
        n: s["command"] for n, s in app_services(compose()).items() if s["command"][0] == "daphne"
    }
    cmd = re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M)
    cmds["Dockerfile CMD"] = yaml.safe_load(cmd.group(1))
    return cmds


def test_the_web_processes_take_the_client_address_from_the_proxy():
    """Per-address sign-in limits must see clients, not the load balancer; and since Daphne
    then trusts X-Forwarded-For, only the proxy on the host may reach the web ports."""
    for name, cmd in daphne_commands().items():
        assert "--proxy-headers" in cmd, name
    for name, svc in app_services(compose()).items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_production_web_command_limits_each_client_behind_the_proxy_on_its_own():
    """docker-compose's own Daphne command, run here: five failed sign-ins from one client
    (as the proxy reports it) lock that client's address, not the proxy's."""
    cmd = daphne_commands()["web1"]
    port = free_port()
    args = [a for a in cmd]
    args[args.index("-b") + 1] = "127.0.0.1"
    args[args.index("-p") + 1] = str(port)
    exe = str(Path(sys.executable).with_name("daphne"))
    env = subprocess_env(redis=False, COCARE_RATE_LIMIT_LOGIN_FAILURES="1")  # 5 per address
    proc = subprocess.Popen(
        [exe, *args[1:]], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            assert proc.poll() is None and time.monotonic() < deadline, shlex.join(args)
            time.sleep(0.1)
        # Documentation addresses, a fresh /64 each run: no other run shares the counters.
        net = uuid.uuid4().hex
        one, other = f"2001:db8:{net[:4]}:{net[4:8]}::1", f"2001:db8:{net[8:12]}:{net[12:16]}::1"

        def attempt(client: str, username: str) -> int:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as c:
                c.get("/login/", headers={"X-Forwarded-For": client})
                return c.post(
                    "/login/",
                    data={
                        "username": username,
                        "password": "wrong",
                        "csrfmiddlewaretoken": c.cookies["csrftoken"],
                    },
                    headers={"X-Forwarded-For": client},
                ).status_code

        assert [attempt(one, f"guess-{net}-{i}") for i in range(6)] == [200] * 5 + [429]
        assert attempt(other, f"someone-{net}") == 200  # another client behind the same proxy
    finally:
        proc.terminate()
        proc.wait(20)


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
