"""Validation by content: what a user uploading odd files would see."""

import io

import pytest
from PIL import Image

from core.config import LimitSettings
from core.decoding import THUMBNAIL_SIZE, check_image, decode_for_index, thumbnail_of
from core.errors import ImageTooLarge, InvalidImage, UnsupportedImage
from tests.factories import (
    SVG,
    animated_gif,
    image_bytes,
    jpeg_with_orientation,
    png_claiming_size,
)

LIMITS = LimitSettings()


@pytest.mark.parametrize(
    ("fmt", "mime", "mode", "save"),
    [
        ("JPEG", "image/jpeg", "RGB", {}),
        ("JPEG", "image/jpeg", "CMYK", {}),
        ("PNG", "image/png", "RGBA", {}),
        ("PNG", "image/png", "I;16", {}),
        ("WEBP", "image/webp", "RGB", {}),
        ("BMP", "image/bmp", "RGB", {}),
        ("TIFF", "image/tiff", "RGB", {}),
    ],
)
def test_accepted_formats_are_read_by_content(fmt, mime, mode, save):
    color = 1000 if mode == "I;16" else (10, 20, 30, 40)[: len(mode)] if mode != "CMYK" else (0, 50, 100, 0)
    data = image_bytes(fmt, size=(50, 30), color=color, mode=mode, **save)
    checked = check_image(data, LIMITS)
    assert (checked.mime, checked.width, checked.height) == (mime, 50, 30)
    decoded = decode_for_index(data, 16, LIMITS)
    assert decoded.pixels.mode == "RGB" and decoded.pixels.size == (50, 30)
    assert Image.open(io.BytesIO(decoded.thumbnail)).format == "JPEG"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_thumbnail_longest_side_is_384(fmt):
    data = image_bytes(fmt, size=(1600, 800))
    assert Image.open(io.BytesIO(decode_for_index(data, 224, LIMITS).thumbnail)).size == (384, 192)
    assert Image.open(io.BytesIO(thumbnail_of(data, LIMITS))).size == (384, 192)


def test_exif_orientation_is_applied():
    checked = check_image(jpeg_with_orientation(size=(80, 40), orientation=6), LIMITS)
    assert (checked.width, checked.height) == (40, 80)
    decoded = decode_for_index(checked.data, 32, LIMITS)
    assert decoded.pixels.size == (40, 80)
    assert Image.open(io.BytesIO(decoded.thumbnail)).size == (40, 80)


def test_animated_gif_uses_its_first_frame():
    checked = check_image(animated_gif(), LIMITS)
    assert checked.mime == "image/gif"
    assert decode_for_index(checked.data, 16, LIMITS).pixels.mode == "RGB"


def test_same_bytes_same_digest_different_bytes_different_digest():
    a, b = image_bytes(color=(1, 2, 3)), image_bytes(color=(3, 2, 1))
    assert check_image(a, LIMITS).sha256 == check_image(a, LIMITS).sha256 != check_image(b, LIMITS).sha256


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", InvalidImage),
        (b"\xff\xd8\xff\xe0 certainly not a jpeg" * 10, InvalidImage),
        (bytes(range(256)) * 40, UnsupportedImage),
        (SVG, UnsupportedImage),
        (b"<html><?php echo 'hi'; ?></html>", UnsupportedImage),
        (image_bytes("JPEG", size=(300, 200))[:-400], InvalidImage),
        (image_bytes("PNG", size=(300, 200))[:-40], InvalidImage),
        (image_bytes("JPEG", size=(300, 200))[:-2], InvalidImage),
        (image_bytes("JPEG", size=(300, 200), progressive=True)[:-400], InvalidImage),
        (image_bytes("JPEG", size=(300, 200))[:200], InvalidImage),
        (image_bytes("PNG", size=(300, 200))[:-12], InvalidImage),
        (png_claiming_size(100_000, 100_000), ImageTooLarge),
        (image_bytes("ICO", size=(16, 16)), UnsupportedImage),
    ],
    ids=["empty", "jpeg-magic-garbage", "random", "svg", "php-polyglot", "truncated-jpeg", "truncated-png",
         "jpeg-without-end-marker", "truncated-progressive-jpeg", "jpeg-cut-in-its-headers", "png-without-iend",
         "bomb", "ico"],
)
def test_bad_files_are_refused(data, error):
    with pytest.raises(error) as caught:
        check_image(data, LIMITS)
    assert caught.value.message


@pytest.mark.parametrize(
    "data",
    [
        image_bytes("JPEG", size=(300, 200), progressive=True),
        image_bytes("JPEG", size=(300, 200), restart_marker_blocks=4),
        image_bytes("JPEG", size=(300, 200)) + b"\0" * 64 + b"SEFH trailer a phone appends",
        image_bytes("MPO", size=(300, 200), save_all=True, append_images=[Image.new("RGB", (300, 200))]),
    ],
    ids=["progressive", "restart-markers", "trailer-after-the-end", "mpo"],
)
def test_complete_jpegs_pass_however_they_are_laid_out(data):
    assert (check_image(data, LIMITS).width, decode_for_index(data, 16, LIMITS).pixels.size) == (300, (300, 200))


def test_byte_and_pixel_limits():
    data = image_bytes("PNG", size=(200, 100))
    with pytest.raises(ImageTooLarge, match="bytes"):
        check_image(data, LimitSettings(max_upload_bytes=len(data) - 1))
    with pytest.raises(ImageTooLarge, match="pixels"):
        check_image(data, LimitSettings(max_pixels=200 * 100 - 1))
    assert check_image(data, LimitSettings(max_pixels=200 * 100)).width == 200


def test_decoding_for_the_index_keeps_enough_pixels_for_model_and_thumbnail():
    image = decode_for_index(image_bytes("JPEG", size=(1600, 1200)), 224, LIMITS).pixels
    assert min(image.size) >= 224 and max(image.size) >= THUMBNAIL_SIZE
    assert image.size[0] < 1600  # drafted down: cheaper to decode
    panorama = decode_for_index(image_bytes("JPEG", size=(4000, 500)), 224, LIMITS).pixels
    assert min(panorama.size) >= 224
