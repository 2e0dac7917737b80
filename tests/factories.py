"""Images made in memory for tests: every format and every kind of broken file."""

import io
import struct
import zlib

from PIL import Image


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30), mode: str = "RGB", **save) -> bytes:
    image = Image.new(mode, size, color)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def distinct_jpeg(seed: int, size=(96, 64)) -> bytes:
    """A JPEG whose bytes (so SHA-256) differ for every seed below the pixel count: a flat
    colour, and one pixel where the seed says, in black or white, whichever stands out
    (the colour's inverse did not: on a mid grey JPEG lost it, and seeds 1152 and 1408 were
    the same grey picture)."""
    r, g, b = (seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256
    image = Image.new("RGB", size, (r, g, b))
    mark = (0, 0, 0) if r + g + b >= 384 else (255, 255, 255)
    image.putpixel((seed % size[0], (seed // size[0]) % size[1]), mark)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def jpeg_with_orientation(size=(80, 40), orientation: int = 6) -> bytes:
    image = Image.new("RGB", size, (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [Image.new("P", (32, 32), i * 40) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return out.getvalue()


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def place(runtime, points) -> None:
    """Put points in the vector store as indexed images, with their database rows (as the
    worker would), so their vectors, and so every search's answer, are known. Slack
    images take their team, channel and publicness from the payload (``team``,
    ``channel``, ``public``); who may see a point is derived as the worker derives it."""
    from core.access import audience_of
    from core.models import Image as ImageRow
    from core.models import ImageStatus, utcnow
    from core.vectors import AUDIENCE

    with runtime.session() as session:
        for point in points:
            row = session.get(ImageRow, point.id)
            if row is None:
                row = ImageRow(id=point.id, sha256=f"{point.id:064x}", mime="image/jpeg", width=1, height=1,
                               size_bytes=1, status=ImageStatus.indexed, indexed_at=utcnow(),
                               caption=point.payload.get("caption"), source=point.payload.get("source", "web"),
                               slack_team=point.payload.get("team"), slack_channel=point.payload.get("channel"),
                               slack_public=point.payload.get("public"))
                session.add(row)
            point.payload.setdefault(AUDIENCE, audience_of(row))
        session.commit()
    runtime.vectors.upsert(points)


def bearer(runtime, name: str) -> dict:
    """Headers that make requests as the user ``name`` (created if new)."""
    from sqlmodel import select

    from core.accounts import create_user, issue_token
    from core.models import TokenKind, User

    with runtime.session() as session:
        user = session.exec(select(User).where(User.name == name)).first() or create_user(session, name)
        return {"Authorization": f"Bearer {issue_token(session, user, TokenKind.api)}"}


LOOPBACK = ("127.0.0.1", 50000)
"""The address in-process test clients call from: this machine (the login-free local user)."""


def reset_schema(engine) -> None:
    """Empty the database: drop every table (and Alembic's version) and migrate afresh."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    from core.db import migrate

    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate(engine)


def screenshot(lines: list[str], dark: bool = False, size=(1024, 640), font_size: int = 30) -> bytes:
    """A PNG of text lines, as a terminal or a slide would show them (Pillow's own font, so
    no fonts need be installed)."""
    from PIL import ImageDraw, ImageFont

    background, ink = ((24, 26, 30), (225, 228, 232)) if dark else ((250, 250, 247), (25, 25, 25))
    image = Image.new("RGB", size, background)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=font_size)
    for row, line in enumerate(lines):
        draw.text((40, 40 + row * int(font_size * 1.8)), line, fill=ink, font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def photo(seed: int, size=(640, 480)) -> bytes:
    """A JPEG with no text: soft gradients and blobs, as a photo has."""
    import numpy as np
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size[0])[None, :, None] * rng.uniform(60, 255, 3) + rng.uniform(0, 80, 3)
    image = Image.fromarray(np.broadcast_to(ramp, (size[1], size[0], 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = rng.integers(0, size[0]), rng.integers(0, size[1]), rng.integers(20, 140)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    out = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(4)).save(out, "JPEG", quality=88)
    return out.getvalue()
