"""CLIP through open_clip, on the tiny random-weight model (real loading and preprocessing)."""

import numpy as np
import pytest
from PIL import Image

from core.config import ClipSettings
from core.embedder import ClipEmbedder
from core.errors import ModelUnavailable


def test_image_and_text_embeddings_are_unit_vectors_of_the_model_dimension(embedder):
    images = [Image.new("RGB", (90, 60), (i * 60, 100, 200 - i * 50)) for i in range(3)]
    vectors = embedder.embed_images(images)
    texts = embedder.embed_texts(["a red bicycle", "a cat on a sofa"])
    assert vectors.shape == (3, embedder.dim) and texts.shape == (2, embedder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1])


def test_a_batch_gives_the_same_vectors_as_one_by_one(embedder):
    images = [Image.new("RGB", (40, 40), (i * 80, 20, 20)) for i in range(3)]
    batched = embedder.embed_images(images)
    single = np.vstack([embedder.embed_images([image]) for image in images])
    assert np.min(np.sum(batched * single, axis=1)) > 0.999


def test_bf16_weights_agree_with_fp32(tiny_model):
    images = [Image.new("RGB", (50, 50), (i * 70, 200, 30)) for i in range(4)]
    fp32 = ClipEmbedder(ClipSettings(model=tiny_model, precision="fp32"))
    bf16 = ClipEmbedder(ClipSettings(model=tiny_model, precision="bf16"))
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    cosine = np.sum(fp32.embed_images(images) * bf16.embed_images(images), axis=1)
    assert cosine.min() > 0.99


def test_missing_weights_say_how_to_provide_them(tmp_path):
    embedder = ClipEmbedder(ClipSettings(model="ViT-B-32", pretrained=str(tmp_path / "nope.safetensors")))
    with pytest.raises(ModelUnavailable, match="FINDIMAGE_CLIP__PRETRAINED"):
        embedder.load()


def test_a_model_without_weights_is_refused_not_randomly_initialised():
    with pytest.raises(ModelUnavailable, match="No weights configured"):
        ClipEmbedder(ClipSettings(model="ViT-B-32", pretrained="")).load()
