"""CLIP through open_clip: images and texts in, L2-normalised float32 vectors out.

The model loads lazily, once per process, behind a lock, so importing this module costs
nothing and a process that never embeds never pays for torch.
"""

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.config import TINY_TEST_MODEL, ClipSettings
from core.errors import ModelUnavailable

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)
MODEL_CONFIGS = Path(__file__).parent / "model_configs"


class ClipEmbedder:
    def __init__(self, settings: ClipSettings):
        self.settings = settings
        self._lock = threading.Lock()
        self._loaded = None  # (model, preprocess, tokenizer, dtype) once loaded

    @property
    def dim(self) -> int:
        return self._model()[0].text_projection.shape[1]

    @property
    def image_size(self) -> int:
        size = self._model()[0].visual.image_size
        return min(size) if isinstance(size, tuple) else size

    @property
    def precision(self) -> str:
        import torch

        return "bf16" if self._model()[3] == torch.bfloat16 else "fp32"

    def load(self) -> None:
        self._model()

    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        """One row per image; the model runs once for the whole batch."""
        import torch

        model, preprocess, _, dtype = self._model()
        if not images:
            return np.empty((0, self.dim), dtype=np.float32)
        pixels = torch.stack([preprocess(image) for image in images]).to(dtype)
        with torch.inference_mode():
            return _normalised(model.encode_image(pixels))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model, _, tokenizer, _ = self._model()
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        with torch.inference_mode():
            return _normalised(model.encode_text(tokenizer(list(texts))))

    def _model(self):
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = _load(self.settings)
        return self._loaded


def _normalised(features) -> np.ndarray:
    """The one place embeddings are L2-normalised."""
    vectors = features.float().numpy()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _open_clip():
    """open_clip, importable with a CPU torch, and aware of findimage's model configs."""
    from core import torchvision_compat

    torchvision_compat.install()
    import open_clip

    if TINY_TEST_MODEL not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIGS)
    return open_clip


def _load(settings: ClipSettings):
    open_clip = _open_clip()
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)

    if settings.model == TINY_TEST_MODEL:
        log.warning(
            "Using %s: a tiny CLIP with random weights. Its embeddings are meaningless; "
            "it exists for tests and offline smoke runs.",
            TINY_TEST_MODEL,
        )
        torch.manual_seed(0)  # the same random weights in every process
        pretrained = None
    elif settings.model.startswith(("local-dir:", "hf-hub:")):
        pretrained = None
    elif not settings.pretrained:
        raise ModelUnavailable(
            f"No weights configured for {settings.model}: set FINDIMAGE_CLIP__PRETRAINED to an "
            "open_clip pretrained tag or to a local weights file."
        )
    else:
        pretrained = settings.pretrained
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            settings.model,
            pretrained=pretrained,
            cache_dir=str(settings.cache_dir) if settings.cache_dir else None,
        )
    except (RuntimeError, OSError, ValueError) as exc:
        raise ModelUnavailable(
            f"Could not load CLIP {settings.model} with weights {settings.pretrained!r}: {exc}. "
            "Run findimage once with internet access so open_clip can download the weights, or "
            "download them elsewhere and set FINDIMAGE_CLIP__PRETRAINED=/path/to/weights "
            "(or FINDIMAGE_CLIP__MODEL=local-dir:/path/to/model-folder)."
        ) from exc
    tokenizer = open_clip.get_tokenizer(settings.model)
    dtype = torch.bfloat16 if _use_bf16(settings.precision) else torch.float32
    # Casting the weights (not autocast) keeps the fast bf16 kernels at every batch size.
    model = model.to(dtype).eval()
    log.info("Loaded CLIP %s (%s) with %d threads", settings.model, dtype, torch.get_num_threads())
    return model, preprocess, tokenizer, dtype


def _use_bf16(precision: str) -> bool:
    if precision != "auto":
        return precision == "bf16"
    import torch

    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return bool(native or amx)


def save_random_model(architecture: str, folder: Path) -> str:
    """Write an open_clip architecture with random weights as a ``local-dir:`` model
    (config + safetensors) and return the model name to configure: ``local-dir:<folder>``.

    For tests (the tiny ``findimage-tiny-test``, exercising the real loading path) and for
    speed benchmarks (real architectures, offline). Its embeddings are meaningless."""
    import json

    import torch
    from safetensors.torch import save_file

    open_clip = _open_clip()
    torch.manual_seed(0)
    model = open_clip.create_model(architecture, pretrained=None)
    folder.mkdir(parents=True, exist_ok=True)
    config = open_clip.get_model_config(architecture)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": {}}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder}"


def save_tiny_test_model(folder: Path) -> str:
    return save_random_model(TINY_TEST_MODEL, folder)
