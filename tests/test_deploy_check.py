"""Production needs real secrets: ``manage.py check --deploy`` is clean with them, reports
the public development key as an error, and production refuses to start without them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.services import ROOT, free_port

GOOD_SECRET = "k" + "9f3aQ-z!" * 8
PUBLIC_DEV_KEY = "dev-insecure-" + "x" * 50  # in this repository, so known to anyone


def run(args: list[str], timeout: float = 120, **env_vars: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COCARE_SECRET_KEY", "COCARE_CHANNEL_ENCRYPTION_KEY")
    }
    env.update({"COCARE_ALLOWED_HOSTS": '["care.example.org"]', **env_vars})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_deploy_is_clean_with_production_settings():
    out = run(
        ["check", "--deploy", "--fail-level", "WARNING"],
        COCARE_PRODUCTION="true",
        COCARE_SECRET_KEY=GOOD_SECRET,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout


def test_check_deploy_reports_the_public_development_key_as_an_error():
    out = run(["check", "--deploy", "--fail-level", "ERROR"])  # the default (dev) key
    assert out.returncode != 0
    assert (
        "cocare.E001" in out.stderr
        and "COCARE_SECRET_KEY is the public development key" in out.stderr
    )
    short = run(["check", "--deploy", "--fail-level", "ERROR"], COCARE_SECRET_KEY="s3cr3t!")
    assert short.returncode != 0 and "shorter than 50 characters" in short.stderr


def test_production_refuses_to_start_with_the_public_development_key():
    out = run(["serve", "--port", str(free_port())], timeout=60, COCARE_PRODUCTION="true")
    assert out.returncode != 0
    assert "Listening on" not in out.stdout
    assert "COCARE_SECRET_KEY is the public development key" in out.stderr
    for key in (PUBLIC_DEV_KEY, "a" * 80, "x7!Kp2" * 5):  # public, one letter, too short
        refused = run(["check", "--deploy"], COCARE_PRODUCTION="true", COCARE_SECRET_KEY=key)
        assert refused.returncode != 0 and "COCARE_SECRET_KEY" in refused.stderr, key
        assert key not in refused.stderr  # a refusal never prints the secret itself


def test_production_refuses_a_weak_channel_encryption_key():
    out = run(
        ["check", "--deploy"],
        COCARE_PRODUCTION="true",
        COCARE_SECRET_KEY=GOOD_SECRET,
        COCARE_CHANNEL_ENCRYPTION_KEY="short",
    )
    assert out.returncode != 0 and "COCARE_CHANNEL_ENCRYPTION_KEY" in out.stderr
