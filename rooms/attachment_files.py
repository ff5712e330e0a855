"""What an uploaded file is and what we keep of it — bytes in, bytes out, no database.

:func:`process` decides the type from the bytes (magic numbers, then Pillow opening and
verifying images), never from the file name or the type the client claims. Accepted:
JPEG, PNG, HEIC/HEIF (converted to JPEG: phones, browsers and Matrix clients all show
JPEG) and PDF. Images are decoded and encoded again without any metadata, so EXIF (GPS
above all), XMP and text chunks never reach storage; the orientation EXIF asked for is
applied to the pixels first. A thumbnail (JPEG, at most ``THUMB_SIDE`` pixels a side) is
made for every image.

Refused with :class:`BadFile` (a clear message, nothing stored): an empty file, one over
``max_bytes``, an image of more than ``max_pixels`` pixels (a decompression bomb is a
small file that claims a huge canvas: the header is read and refused before any pixel is
decoded), anything that is not one of the accepted types (a renamed executable), and an
image or PDF that does not parse.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from rooms.errors import Invalid

pillow_heif.register_heif_opener()

THUMB_SIDE = 320
JPEG_QUALITY = 88
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
ACCEPTED = "JPEG, PNG or HEIC photos, or PDF documents"


class BadFile(Invalid):
    """A file we will not store; the message says why in words a person can act on."""


@dataclass(frozen=True)
class Processed:
    content: bytes
    content_type: str  # image/jpeg, image/png, application/pdf
    ext: str
    thumb: bytes | None
    width: int | None
    height: int | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def sniff(head: bytes) -> str | None:
    """The accepted type the leading bytes announce: "jpeg", "png", "heif", "pdf" or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    return None


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def process(data: bytes, *, max_bytes: int, max_pixels: int) -> Processed:
    """Check and clean one upload; raises :class:`BadFile` (nothing is kept) otherwise."""
    if not data:
        raise BadFile("The file is empty (0 bytes).")
    if len(data) > max_bytes:
        raise BadFile(f"The file is too large ({_mb(len(data))}; the limit is {_mb(max_bytes)}).")
    kind = sniff(data[:16])
    if kind is None:
        raise BadFile(f"This type of file cannot be attached: send {ACCEPTED}.")
    if kind == "pdf":
        return _pdf(data)
    return _image(data, kind, max_pixels)


def _pdf(data: bytes) -> Processed:
    # A PDF is kept as sent (we do not rewrite documents); it must at least be one.
    if b"%%EOF" not in data[-2048:]:
        raise BadFile("The PDF is damaged or incomplete.")
    return Processed(data, "application/pdf", "pdf", None, None, None)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open (header only), refuse over ``max_pixels`` before decoding, then decode."""
    with warnings.catch_warnings():
        # Our own limit decides; Pillow's global bomb limit must not pre-empt it with a
        # different message (or only warn).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data))
            w, h = probe.size
            if w * h > max_pixels:
                raise BadFile(
                    f"The image is too large ({w}×{h} pixels; the limit is "
                    f"{max_pixels / 1e6:g} megapixels)."
                )
            probe.verify()
            img = Image.open(io.BytesIO(data))
            img.load()
        except BadFile:
            raise
        except Image.DecompressionBombError:
            # Pillow's own guard fires at open for canvases far over its global limit.
            raise BadFile(
                f"The image is too large (the limit is {max_pixels / 1e6:g} megapixels)."
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise BadFile("The image is damaged or not a real photo.") from None
    return img


def _image(data: bytes, kind: str, max_pixels: int) -> Processed:
    img = _open(data, max_pixels)
    # Apply the orientation the camera recorded, then drop every piece of metadata by
    # writing fresh pixels only (no exif=, no icc/xmp/text chunks).
    img = ImageOps.exif_transpose(img)
    keep_png = kind == "png"
    if keep_png:
        clean = img if img.mode in ("RGB", "RGBA", "L", "LA") else img.convert("RGBA")
        pixels = Image.frombytes(clean.mode, clean.size, clean.tobytes())
        out = io.BytesIO()
        pixels.save(out, "PNG", optimize=True)
        content_type, ext = "image/png", "png"
    else:
        rgb = img.convert("RGB")
        pixels = Image.frombytes("RGB", rgb.size, rgb.tobytes())
        out = io.BytesIO()
        pixels.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
        content_type, ext = "image/jpeg", "jpg"
    thumb = pixels.convert("RGB")
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    tout = io.BytesIO()
    thumb.save(tout, "JPEG", quality=80)
    return Processed(
        out.getvalue(), content_type, ext, tout.getvalue(), pixels.width, pixels.height
    )
