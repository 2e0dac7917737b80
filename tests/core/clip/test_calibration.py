"""The default backend embeds batches of images on the path timed fastest on this machine,
and texts and single images (queries) on ONNX Runtime."""

import json
import shutil

import numpy as np
import pytest

from core.clip import open_embedder
from core.clip.calibration import MARGIN, Calibration, calibration_file, machine
from core.clip.export import probe_images
from core.clip.onnx_backend import OnnxEmbedder
from core.clip.onnx_cache import AGREEMENT, export_folder
from core.clip.torch_backend import TorchEmbedder
from core.config import ClipSettings, Settings


@pytest.fixture
def own_export(tmp_path, tiny_model, models_dir, embedder) -> Settings:
    """Settings whose models dir holds a copy of the session's export and no calibration."""
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", clip=ClipSettings(model=tiny_model))
    source = export_folder(settings.clip, models_dir)
    shutil.copytree(source, export_folder(settings.clip, settings.models_dir),
                    ignore=shutil.ignore_patterns("calibration-*", ".*"))
    return settings


def pixels(embedder, n: int) -> np.ndarray:
    return embedder.preprocess.batch(probe_images(64)[:n])


def test_the_first_batch_times_every_agreeing_path_and_keeps_the_fastest(own_export):
    embedder = open_embedder(own_export)
    folder = export_folder(own_export.clip, own_export.models_dir)
    embedder.embed_texts(["a query"])
    embedder.embed_pixels(pixels(embedder, 1))
    assert not list(folder.glob("calibration-*"))  # queries alone never calibrate (nor load torch)

    embedder.embed_pixels(pixels(embedder, 4))
    calibration = Calibration.read(calibration_file(folder, own_export.clip))
    assert calibration.machine == machine()
    assert {"onnx-int8", "onnx-fp32", "torch-fp32"} <= calibration.images_per_s.keys()
    assert all(calibration.agreement[path] >= AGREEMENT for path in calibration.images_per_s)
    speed = calibration.images_per_s
    fastest = max(speed, key=speed.get)
    assert calibration.batch_path == (fastest if speed[fastest] >= MARGIN * speed["onnx-int8"] else "onnx-int8")
    assert embedder.batch_embedder.name == calibration.batch_path

    stamp = calibration_file(folder, own_export.clip).stat().st_mtime_ns
    open_embedder(own_export).embed_pixels(pixels(embedder, 4))
    assert calibration_file(folder, own_export.clip).stat().st_mtime_ns == stamp  # once per machine


def test_batches_go_where_the_calibration_says_and_queries_stay_on_onnx(own_export, tiny_model, models_dir):
    folder = export_folder(own_export.clip, own_export.models_dir)
    forged = Calibration(machine(), {"onnx-int8": 100.0, "torch-fp32": 500.0}, {"onnx-int8": 0.9999, "torch-fp32": 1.0},
                         "torch-fp32")
    calibration_file(folder, own_export.clip).write_text(json.dumps(forged.__dict__))
    embedder = open_embedder(own_export)
    batch, one = pixels(embedder, 4), pixels(embedder, 1)

    torch = TorchEmbedder(ClipSettings(model=tiny_model, backend="torch", precision="fp32"))
    onnx = OnnxEmbedder(ClipSettings(model=tiny_model, backend="onnx"), models_dir)
    np.testing.assert_allclose(embedder.embed_pixels(batch), torch.embed_pixels(batch), atol=1e-6)
    np.testing.assert_allclose(embedder.embed_pixels(one), onnx.embed_pixels(one), atol=1e-6)
    np.testing.assert_allclose(embedder.embed_texts(["a dog"]), onnx.embed_texts(["a dog"]), atol=1e-6)
    assert embedder.name == "onnx-int8 (image batches: torch-fp32)"


def test_an_explicit_backend_or_precision_is_not_second_guessed(own_export):
    for clip in (ClipSettings(model=own_export.clip.model, backend="onnx"),
                 ClipSettings(model=own_export.clip.model, precision="int8")):
        embedder = open_embedder(own_export.model_copy(update={"clip": clip}))
        embedder.embed_pixels(pixels(embedder, 4))
        assert embedder.name == "onnx-int8"
    assert not list(export_folder(own_export.clip, own_export.models_dir).glob("calibration-*"))


def test_batches_stay_on_onnx_when_the_machine_cannot_be_timed(tmp_path, tiny_model, models_dir, embedder, caplog):
    """The weights the export came from are gone (the ONNX export still serves): timing
    the torch paths fails, and image batches run on ONNX, with a warning."""
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model.removeprefix("local-dir:"), model_dir)
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models",
                        clip=ClipSettings(model=f"local-dir:{model_dir}"))
    shutil.copytree(export_folder(ClipSettings(model=tiny_model), models_dir),  # the same model: its export
                    export_folder(settings.clip, settings.models_dir), ignore=shutil.ignore_patterns("calibration-*", ".*"))
    served = open_embedder(settings)
    onnx = OnnxEmbedder(ClipSettings(model=settings.clip.model, backend="onnx"), settings.resolved_models_dir)
    onnx.load()
    folder = served.folder
    shutil.rmtree(model_dir)

    batch = pixels(served, 4)
    np.testing.assert_allclose(served.embed_pixels(batch), onnx.embed_pixels(batch), atol=1e-6)
    assert served.name == "onnx-int8" and "image batches stay on ONNX" in caplog.text
    assert not list(folder.glob("calibration-*"))
