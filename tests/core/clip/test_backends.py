"""Every backend gives unit vectors of the model's dimension, and the fast ones agree with
torch fp32 (tiny random-weight model, plus a slice of ViT-B-32 at its real widths)."""

import json
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from core.clip import open_embedder
from core.clip.export import PROBE_TEXTS, probe_images
from core.clip.onnx_backend import OnnxEmbedder
from core.clip.onnx_cache import AGREEMENT, export_folder
from core.clip.torch_backend import TorchEmbedder, save_random_model
from core.config import ClipSettings, Settings
from core.errors import ModelUnavailable

TEXTS = ["a red bicycle", "a cat on a sofa", "the whiteboard after the planning meeting"]


def images(n: int = 4) -> list[Image.Image]:
    return probe_images(64)[:n]


@pytest.fixture(scope="module")
def backends(tiny_model, models_dir, embedder, torch_embedder):
    onnx = {
        p: OnnxEmbedder(ClipSettings(model=tiny_model, backend="onnx", precision=p), models_dir)
        for p in ("fp32", "int8")
    }
    bf16 = TorchEmbedder(ClipSettings(model=tiny_model, backend="torch", precision="bf16"))
    return {
        "default": embedder,
        "torch-fp32": torch_embedder,
        "torch-bf16": bf16,
        "onnx-fp32": onnx["fp32"],
        "onnx-int8": onnx["int8"],
    }


@pytest.mark.parametrize("backend", ["default", "torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"])
def test_each_backend_gives_unit_vectors_of_the_model_dimension(backends, backend):
    embedder = backends[backend]
    vectors, texts = embedder.embed_images(images(3)), embedder.embed_texts(TEXTS)
    assert vectors.shape == (3, 32) and texts.shape == (3, 32) and embedder.dim == 32
    assert vectors.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1])
    # The default's image batches go where this machine's calibration says (test_calibration).
    assert embedder.name.partition(" ")[0] == ("onnx-int8" if backend == "default" else backend)


def test_empty_input_gives_no_rows_without_running_the_model(embedder):
    assert embedder.embed_images([]).shape == (0, 32)
    assert embedder.embed_texts([]).shape == (0, 32)


@pytest.mark.parametrize("backend, least", [("onnx-fp32", 0.99999), ("onnx-int8", AGREEMENT), ("torch-bf16", 0.99)])
def test_fast_backends_agree_with_torch_fp32(backends, backend, least):
    reference, fast = backends["torch-fp32"], backends[backend]
    many = probe_images(64) + [Image.new("RGB", (50, 80), (i * 60, 200, 30)) for i in range(4)]
    assert _least_cosine(reference.embed_images(many), fast.embed_images(many)) >= least
    assert _least_cosine(reference.embed_texts(PROBE_TEXTS + TEXTS), fast.embed_texts(PROBE_TEXTS + TEXTS)) >= least


def test_a_batch_gives_the_same_vectors_as_one_by_one(embedder):
    batch = images(3)
    together = embedder.embed_images(batch)
    alone = np.vstack([embedder.embed_images([image]) for image in batch])
    assert _least_cosine(together, alone) > 0.999


def test_a_lone_query_runs_on_its_own_threads_and_agrees_with_a_batch(tiny_model, models_dir, caplog):
    embedder = OnnxEmbedder(ClipSettings(model=tiny_model, backend="onnx", threads=2, query_threads=2), models_dir)
    with caplog.at_level(logging.INFO, logger="core.clip.onnx_backend"):
        together = embedder.embed_texts(TEXTS)
        alone = np.vstack([embedder.embed_texts([text]) for text in TEXTS])
    assert _least_cosine(together, alone) > 0.999
    assert _sessions_loaded(caplog, "text") == ["1 threads)", "2 threads)"]  # the batch's parts share one, the query


def test_a_batch_run_in_parts_keeps_each_image_its_own_vector(tiny_model, models_dir, caplog):
    """A batch is cut in one part per thread, run at once on a one-thread session: every
    image still gets its own vector, in order, whatever the parts' sizes."""
    embedder = OnnxEmbedder(ClipSettings(model=tiny_model, backend="onnx", threads=2), models_dir)
    batch = images(5)  # parts of 3 and 2
    with caplog.at_level(logging.INFO, logger="core.clip.onnx_backend"):
        together = embedder.embed_images(batch)
        alone = np.vstack([embedder.embed_images([image]) for image in batch])
    assert _least_cosine(together, alone) > 0.999
    assert (together @ together.T)[np.triu_indices(5, 1)].max() < 0.999  # five different vectors
    assert _sessions_loaded(caplog, "visual") == ["1 threads)", "2 threads)"]  # the parts', a lone image's


def _sessions_loaded(caplog, tower: str) -> list[str]:
    return sorted(r.getMessage().rpartition(" (")[2] for r in caplog.records if f"{tower}." in r.getMessage())


def test_the_export_is_reused_and_redone_when_the_weights_change(tmp_path):
    model = save_random_model("findimage-tiny-test", tmp_path / "model")
    settings = Settings(data_dir=tmp_path / "data", clip=ClipSettings(model=model))
    first = open_embedder(settings)
    folder = export_folder(settings.clip, settings.resolved_models_dir)
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert open_embedder(settings).embed_texts(["x"]).shape == (1, 32)
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp  # not exported again

    weights = tmp_path / "model" / "open_clip_model.safetensors"
    weights.write_bytes(weights.read_bytes())  # new weights file: the export must follow
    assert export_folder(settings.clip, settings.resolved_models_dir) != folder
    second = open_embedder(settings)
    assert first.name == second.name == "onnx-int8"
    assert len([p for p in settings.resolved_models_dir.iterdir() if p.is_dir()]) == 2


def test_int8_is_refused_where_the_export_found_it_disagrees(tmp_path, tiny_model, models_dir, embedder):
    clip = ClipSettings(model=tiny_model, precision="int8")
    source = export_folder(clip, models_dir)
    copy = export_folder(clip, tmp_path)
    shutil.copytree(source, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["agreement"]["int8"]["text"] = 0.97
    (copy / "manifest.json").write_text(json.dumps(manifest))

    embedder = OnnxEmbedder(clip, tmp_path)
    assert embedder.name == "onnx-int8-visual-fp32-text"
    text = embedder.embed_texts(TEXTS)
    fp32 = OnnxEmbedder(ClipSettings(model=tiny_model, precision="fp32"), models_dir).embed_texts(TEXTS)
    np.testing.assert_allclose(text, fp32, atol=1e-6)


def test_settings_refuse_a_precision_the_backend_lacks():
    with pytest.raises(ValueError, match="int8 is not available on the torch backend"):
        ClipSettings(backend="torch", precision="int8")
    with pytest.raises(ValueError, match="bf16 is not available on the onnx backend"):
        ClipSettings(backend="onnx", precision="bf16")


def test_missing_weights_say_how_to_provide_them_on_both_backends(tmp_path):
    missing = ClipSettings(model="ViT-B-32", pretrained=str(tmp_path / "nope.safetensors"))
    with pytest.raises(ModelUnavailable, match="FINDIMAGE_CLIP__PRETRAINED"):
        TorchEmbedder(missing).load()
    with pytest.raises(ModelUnavailable, match="FINDIMAGE_CLIP__PRETRAINED"):
        OnnxEmbedder(missing, tmp_path / "models").load()  # the export child reports it
    assert not any((tmp_path / "models").glob("*/manifest.json"))


def test_a_model_without_weights_is_refused_not_randomly_initialised():
    with pytest.raises(ModelUnavailable, match="No weights configured"):
        TorchEmbedder(ClipSettings(model="ViT-B-32", pretrained="")).load()


def test_int8_agrees_on_a_slice_of_vit_b_32_at_its_real_widths(tmp_path):
    """ViT-B-32's widths (768 image, 512 text, 512 embedding) with two layers per tower:
    quantisation error depends on the widths, and this exports in seconds."""
    slice_config = {
        "embed_dim": 512,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 768, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 2},
    }
    model = save_random_model(slice_config, tmp_path / "vit-b-32-slice")
    embedder = open_embedder(Settings(data_dir=tmp_path / "data", clip=ClipSettings(model=model)))
    agreement = embedder.manifest.agreement
    assert agreement["fp32"] == {"visual": pytest.approx(1, abs=1e-5), "text": pytest.approx(1, abs=1e-5)}
    assert min(agreement["int8"].values()) >= AGREEMENT
    assert embedder.name == "onnx-int8" and embedder.dim == 512 and embedder.image_size == 224


def _least_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))
