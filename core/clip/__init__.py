"""CLIP embeddings behind one interface, on two backends.

``open_embedder(settings)`` picks the backend the settings ask for. ``auto`` is ONNX
Runtime (int8 where it agrees with fp32) for texts and single images, which keeps torch
out of the serving processes, and for batches of images the path timed fastest on this
machine (``core.clip.calibrated``); torch if the model cannot be exported.
"""

import logging

from core.clip.base import Embedder, normalised
from core.clip.preprocess import Preprocess
from core.config import Settings
from core.errors import ModelUnavailable, WeightsUnavailable

__all__ = ["Embedder", "Preprocess", "normalised", "open_embedder"]
log = logging.getLogger(__name__)


def open_embedder(settings: Settings) -> Embedder:
    """The configured backend, loaded (an ONNX model is exported first if it is not yet)."""
    clip = settings.clip
    if clip.backend == "torch" or (clip.backend == "auto" and clip.precision == "bf16"):
        from core.clip.torch_backend import TorchEmbedder

        embedder = TorchEmbedder(clip)
    else:
        from core.clip.onnx_backend import OnnxEmbedder

        embedder = OnnxEmbedder(clip, settings.resolved_models_dir)
        try:
            embedder.load()
        except ModelUnavailable as exc:
            if clip.backend == "onnx" or isinstance(exc, WeightsUnavailable):
                raise
            log.warning("Using the torch backend: %s", exc.message)
            from core.clip.torch_backend import TorchEmbedder

            embedder = TorchEmbedder(clip)
        else:
            if clip.backend == clip.precision == "auto":  # image batches on the path timed fastest here
                from core.clip.calibrated import CalibratedEmbedder

                embedder = CalibratedEmbedder(embedder)
    embedder.load()
    return embedder
