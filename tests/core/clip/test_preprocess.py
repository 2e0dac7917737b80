"""Our torch-free preprocessing reproduces open_clip's, and the fast path (reduced-size JPEG
decoding, box-filter pre-shrink) stays within cosine 0.999 of the full-size path."""

import io

import numpy as np
import pytest
from PIL import Image

from core.clip.export import probe_images
from core.clip.preprocess import Preprocess
from core.config import LimitSettings
from core.decoding import decode_for_index


@pytest.fixture(scope="module")
def open_clip_transform(torch_embedder):
    from core.clip.torch_backend import open_clip_module

    open_clip = open_clip_module()
    return open_clip.image_transform(torch_embedder.model.visual.preprocess_cfg["size"], is_train=False)


@pytest.mark.parametrize("size", [(64, 48), (48, 64), (33, 200), (32, 32), (500, 31), (7, 9)])
def test_exact_mode_matches_open_clip_transform(torch_embedder, open_clip_transform, size):
    exact = Preprocess.from_dict({**torch_embedder.preprocess.to_dict(), "reducing_gap": None})
    image = probe_images(64)[0].resize(size)
    np.testing.assert_allclose(exact(image), open_clip_transform(image).numpy(), atol=1e-5)


@pytest.mark.parametrize("size", [(1280, 960), (3000, 4000), (640, 640)])
def test_the_fast_path_stays_within_cosine_0_999_of_the_full_size_path(torch_embedder, open_clip_transform, size):
    photos = []
    for image in probe_images(96):
        buffer = io.BytesIO()
        image.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    fast = np.stack(
        [
            torch_embedder.preprocess(decode_for_index(data, torch_embedder.image_size, LimitSettings()).pixels)
            for data in photos
        ]
    )
    full = np.stack([open_clip_transform(Image.open(io.BytesIO(data)).convert("RGB")).numpy() for data in photos])
    cosine = np.sum(torch_embedder.embed_pixels(fast) * torch_embedder.embed_pixels(full), axis=1)
    assert cosine.min() >= 0.999
