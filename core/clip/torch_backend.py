"""CLIP through open_clip and torch: fp32, or weights cast to bf16 where the CPU computes
bf16 natively. Also what the ONNX export starts from, and how random-weight models for
tests and benchmarks are written.

torch and open_clip are imported on first use, never at module import.
"""

import json
import logging
import os
from pathlib import Path

import numpy as np

from core.clip.base import Embedder
from core.clip.preprocess import Preprocess
from core.clip.weights import require_weights
from core.config import TINY_TEST_MODEL, ClipSettings
from core.errors import ModelUnavailable

log = logging.getLogger(__name__)
MODEL_CONFIGS = Path(__file__).parent / "model_configs"


class TorchEmbedder(Embedder):
    def __init__(self, settings: ClipSettings, precision: str | None = None):
        super().__init__()
        self.settings = settings
        self._precision = precision or settings.precision
        self._model = self._tokenizer = self._dtype = self._preprocess = None

    @property
    def name(self) -> str:
        self.load()
        return f"torch-{'bf16' if self._dtype == _torch().bfloat16 else 'fp32'}"

    @property
    def dim(self) -> int:
        self.load()
        return int(self._model.text_projection.shape[1])

    @property
    def preprocess(self) -> Preprocess:
        self.load()
        return self._preprocess

    @property
    def model(self):
        """The open_clip model (for export)."""
        self.load()
        return self._model

    @property
    def tokenizer(self):
        """open_clip's own tokenizer (for export and for tests of ours)."""
        self.load()
        return self._tokenizer

    def _load(self) -> None:
        model, tokenizer = load_open_clip(self.settings)
        torch = _torch()
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        self._dtype = torch.bfloat16 if _use_bf16(self._precision) else torch.float32
        # Casting the weights (not autocast) keeps the fast bf16 kernels at every batch size.
        self._model = model.to(self._dtype).eval()
        self._tokenizer = tokenizer
        self._preprocess = Preprocess.from_open_clip(model.visual.preprocess_cfg)
        log.info("Loaded CLIP %s on torch (%s, %d threads)", self.settings.model, self._dtype, torch.get_num_threads())

    def _encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            return self._model.encode_image(torch.from_numpy(pixels).to(self._dtype)).float().numpy()

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            return self._model.encode_text(self._tokenizer(texts)).float().numpy()


def _torch():
    # A busy neighbour process must not make every OpenMP thread spin-wait for it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    return torch


def open_clip_module():
    """open_clip, importable with a CPU torch, and aware of findimage's model configs."""
    from core.clip import torchvision_compat

    _torch()
    torchvision_compat.install()
    import open_clip

    if TINY_TEST_MODEL not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIGS)
    # huggingface_hub prints its warnings itself as well: let findimage's handler print them once.
    logging.getLogger("huggingface_hub").handlers.clear()
    return open_clip


def load_open_clip(settings: ClipSettings):
    """The fp32 open_clip model (eval mode) and its tokenizer, or ``ModelUnavailable``."""
    open_clip = open_clip_module()
    if settings.model == TINY_TEST_MODEL:
        log.warning(
            "Using %s: a tiny CLIP with random weights. Its embeddings are meaningless; "
            "it exists for tests and offline smoke runs.",
            TINY_TEST_MODEL,
        )
        _torch().manual_seed(0)  # the same random weights in every process
        pretrained = None
    elif settings.model.startswith(("local-dir:", "hf-hub:")):
        pretrained = None
    elif not settings.pretrained:
        raise ModelUnavailable(
            f"No weights configured for {settings.model}: set FINDIMAGE_CLIP__PRETRAINED to an "
            "open_clip pretrained tag or to a local weights file."
        )
    else:
        require_weights(settings)
        pretrained = settings.pretrained
    try:
        model = open_clip.create_model(
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
    return model.eval(), open_clip.get_tokenizer(settings.model)


def _use_bf16(precision: str) -> bool:
    if precision != "auto":
        return precision == "bf16"
    return cpu_has_native_bf16()


def cpu_has_native_bf16() -> bool:
    torch = _torch()
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return bool(native or amx)


def save_random_model(architecture: str | dict, folder: Path) -> str:
    """Write an open_clip architecture (a name, or a model config) with random weights as a
    ``local-dir:`` model (config + safetensors) and return the model name to configure:
    ``local-dir:<folder>``.

    For tests (the tiny ``findimage-tiny-test``, exercising the real loading path) and for
    speed benchmarks (real architectures, offline). Its embeddings are meaningless."""
    from safetensors.torch import save_file

    open_clip = open_clip_module()
    _torch().manual_seed(0)
    if isinstance(architecture, dict):
        config, model = architecture, open_clip.CLIP(**architecture)
    else:
        config, model = open_clip.get_model_config(architecture), open_clip.create_model(architecture, pretrained=None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": {}}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return f"local-dir:{folder}"


def save_tiny_test_model(folder: Path) -> str:
    return save_random_model(TINY_TEST_MODEL, folder)
