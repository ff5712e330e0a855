"""docker-compose.yml works as written for the Matrix side (issue 13, Done means 6).

No Docker engine runs here, so the file is checked against what it points at: every path
it mounts exists or is written by one of its services, the appservice URL is set, is
reachable by the name it uses and equals the registration's ``url``, every variable is
one the code reads or the deploy README tells the operator to set, and (against the
Synapse from PyPI) Synapse accepts the generated config with deploy/synapse/cocare.yaml
on top and loads the registration the compose job writes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from cocare_chat.config import Config
from tests.support.services import ROOT, missing
from tests.support.synapse import SYNAPSE_PY, synapse_available

COMPOSE = ROOT / "docker-compose.yml"
SECRET = "s3cret-" + "x7Kp9" * 12  # as long as production requires (50+)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def app_env() -> dict[str, str]:
    """The app environment with ``${VAR:?}`` replaced as compose would from .env."""
    env = services()["web1"]["environment"]
    return {k: re.sub(r"\$\{[^}]+\}", SECRET, str(v)) for k, v in env.items()}


def mounts(svc: dict) -> list[tuple[str, str]]:
    """(source, target) of every volume entry (short syntax)."""
    out = []
    for entry in svc.get("volumes", []):
        parts = entry.split(":")
        out.append((parts[0], parts[1]))
    return out


def written_by(name: str, svc: dict) -> list[str]:
    """Container paths a one-shot service writes (``-o PATH`` of a manage.py command)."""
    cmd = svc.get("command") or []
    return [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a in ("-o", "--output")]


def volume_path(svc: dict, container_path: str) -> tuple[str, str] | None:
    """(named volume, path inside it) for a container path of ``svc``, if on a volume."""
    for source, target in mounts(svc):
        if not source.startswith((".", "/")) and (
            container_path == target or container_path.startswith(target + "/")
        ):
            return source, container_path[len(target) :]
    return None


def produced_files() -> set[tuple[str, str]]:
    """(volume, path in it) of every file a compose service writes into a named volume."""
    out = set()
    for name, svc in services().items():
        for path in written_by(name, svc):
            where = volume_path(svc, path)
            assert where is not None, f"{name} writes {path} outside any volume"
            out.add(where)
    return out


def synapse_config_files() -> list[str]:
    cmd = services()["synapse"]["command"]
    return [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == "--config-path"]


def snippet_path_in_container() -> str:
    [target] = [t for s, t in mounts(services()["synapse"]) if s == "./deploy/synapse/cocare.yaml"]
    return target


def test_every_bind_mounted_path_exists_and_every_named_volume_is_declared():
    declared = set(compose().get("volumes") or {})
    for name, svc in services().items():
        for source, _target in mounts(svc):
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_every_file_synapse_loads_is_in_the_repository_or_produced_before_it_starts():
    svcs = services()
    synapse = svcs["synapse"]
    produced = produced_files()
    readme = (ROOT / "deploy" / "README.md").read_text()
    for path in synapse_config_files():
        if path == snippet_path_in_container():
            continue  # bind-mounted from deploy/synapse/cocare.yaml (checked above)
        # The base config is generated once into the data volume by the documented step.
        assert path == synapse["environment"]["SYNAPSE_CONFIG_PATH"]
        assert volume_path(synapse, path) == ("synapse-data", "/homeserver.yaml")
        assert "docker compose run --rm synapse generate" in readme
    snippet = yaml.safe_load((ROOT / "deploy/synapse/cocare.yaml").read_text())
    for registration in snippet["app_service_config_files"]:
        where = volume_path(synapse, registration)
        assert where in produced, f"nothing writes {registration} for Synapse"
        writers = [
            n for n, s in svcs.items() if any(volume_path(s, p) == where for p in written_by(n, s))
        ]
        for writer in writers:
            assert synapse["depends_on"][writer]["condition"] == "service_completed_successfully"
    assert synapse["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_registration_is_generated_by_the_real_command_not_kept_in_the_repository():
    svc = services()["matrix-registration"]
    assert svc["command"][:3] == ["python", "manage.py", "matrix_registration"]
    assert svc["image"] == "cocare-chat:latest"
    assert svc["environment"] == services()["web1"]["environment"]  # the same settings
    assert not list((ROOT / "deploy").rglob("*registration*.yaml"))


def test_the_appservice_url_is_set_and_names_a_web_process_that_accepts_the_host():
    env = app_env()
    url = urlsplit(env["COCARE_MATRIX_APPSERVICE_URL"])
    assert url.scheme == "http" and not url.path.strip("/")
    # The host is a web process (its service name or network alias), on Daphne's port.
    webs = {n: s for n, s in services().items() if (s.get("command") or [""])[0] == "daphne"}
    reach = {
        n: {n, *((s.get("networks") or {}).get("default") or {}).get("aliases", [])}
        for n, s in webs.items()
    }
    serving = [n for n, names in reach.items() if url.hostname in names]
    assert serving, f"{url.hostname} is not the name of a web process"
    for n in serving:
        cmd = webs[n]["command"]
        assert str(url.port) == cmd[cmd.index("-p") + 1]
    # Django answers 400 to a Host it does not allow: the homeserver's requests would fail.
    assert url.hostname in json.loads(env["COCARE_ALLOWED_HOSTS"])


def test_the_homeserver_url_and_server_name_are_synapses():
    env = app_env()
    synapse = services()["synapse"]
    url = urlsplit(env["COCARE_MATRIX_HOMESERVER_URL"])
    assert url.hostname == "synapse" and url.port == 8008
    assert env["COCARE_MATRIX_SERVER_NAME"] == synapse["environment"]["SYNAPSE_SERVER_NAME"]
    snippet = yaml.safe_load((ROOT / "deploy/synapse/cocare.yaml").read_text())
    assert "listeners" not in snippet  # the generated listener (port 8008) stays
    assert snippet["database"]["args"]["host"] == "postgres"


def registration_from_compose_env(tmp_path: Path) -> dict:
    """What the matrix-registration service writes, made by the real command."""
    out = tmp_path / "cocare-registration.yaml"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "cocare_chat.settings", **app_env()}
    cmd = services()["matrix-registration"]["command"]
    args = [a if a != cmd[-1] else str(out) for a in cmd[1:]]
    r = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return yaml.safe_load(out.read_text())


def test_the_registration_compose_writes_points_at_the_appservice_url(tmp_path):
    reg = registration_from_compose_env(tmp_path)
    env = app_env()
    assert reg["url"] == env["COCARE_MATRIX_APPSERVICE_URL"]
    assert reg["as_token"] == env["COCARE_MATRIX_AS_TOKEN"]
    assert reg["hs_token"] == env["COCARE_MATRIX_HS_TOKEN"]
    assert reg["rate_limited"] is False


def test_every_variable_is_read_by_the_code_or_set_by_the_operator_as_documented():
    fields = {f"COCARE_{name.upper()}" for name in Config.model_fields}
    for name, svc in services().items():
        env = svc.get("environment") or {}
        unknown = {k for k in env if k.startswith("COCARE_")} - fields
        assert not unknown, f"{name}: {unknown}"
    readme = (ROOT / "deploy" / "README.md").read_text()
    for var in set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text())):
        assert f"{var}=" in readme, f"deploy/README.md does not say how to set {var}"


SYNAPSE_CHECK = """
import json, sys
from synapse.config.appservice import load_appservices
from synapse.config.homeserver import HomeServerConfig
cfg = HomeServerConfig.load_config("", ["-c", sys.argv[1], "-c", sys.argv[2]])
[svc] = load_appservices(cfg.server.server_name, cfg.appservice.app_service_config_files)
db = cfg.database.databases[0].config
print(json.dumps({"server_name": cfg.server.server_name, "url": svc.url,
                  "rate_limited": svc.is_rate_limited(), "sender": svc.sender.to_string(),
                  "db": db["name"], "db_args": db["args"],
                  "registration": cfg.registration.enable_registration,
                  "login_burst": cfg.ratelimiting.rc_login_address.burst_count}))
"""


@pytest.mark.synapse
def test_synapse_accepts_the_generated_config_with_ours_on_top_and_loads_the_registration(tmp_path):
    if not synapse_available():
        missing("synapse (.synapse-venv)")
    env = app_env()
    server_name = services()["synapse"]["environment"]["SYNAPSE_SERVER_NAME"]
    base = tmp_path / "homeserver.yaml"
    subprocess.run(
        [
            str(SYNAPSE_PY),
            "-m",
            "synapse.app.homeserver",
            "--server-name",
            server_name,
            "--report-stats",
            "no",
            "--config-path",
            str(base),
            "--data-directory",
            str(tmp_path),
            "--generate-config",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    registration = registration_from_compose_env(tmp_path)
    (tmp_path / "reg.yaml").write_text(yaml.safe_dump(registration))
    ours = yaml.safe_load((ROOT / "deploy/synapse/cocare.yaml").read_text())
    ours["app_service_config_files"] = [str(tmp_path / "reg.yaml")]  # where the volume is
    (tmp_path / "cocare.yaml").write_text(yaml.safe_dump(ours))
    r = subprocess.run(
        [str(SYNAPSE_PY), "-c", SYNAPSE_CHECK, str(base), str(tmp_path / "cocare.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["url"] == env["COCARE_MATRIX_APPSERVICE_URL"]
    assert got["rate_limited"] is False
    assert got["sender"] == f"@cocare_bridge:{env['COCARE_MATRIX_SERVER_NAME']}"
    assert got["db"] == "psycopg2" and got["db_args"]["dbname"] == "synapse"
    assert "password" not in got["db_args"]  # from PGPASSWORD, not a file
    assert got["registration"] is False and got["login_burst"] > 5
