"""``manage.py check --deploy`` with production settings reports nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.services import ROOT


def test_check_deploy_is_clean_with_production_settings():
    env = dict(os.environ)
    env.update({
        "COCARE_PRODUCTION": "true",
        "COCARE_SECRET_KEY": "k" + "9f3aQ-z!" * 8,
        "COCARE_ALLOWED_HOSTS": '["care.example.org"]',
    })
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no issues" in out.stdout
