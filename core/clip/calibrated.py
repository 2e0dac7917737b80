"""The default backend (``auto``): ONNX Runtime for texts and single images, which is
what queries embed, and for batches of images (what the worker embeds) the path this
machine's calibration found fastest (``core.clip.calibration``). A process that never
embeds a batch (an API process) never asks for the calibration, nor loads torch."""

import threading
from pathlib import Path

import numpy as np

from core.clip.base import Embedder
from core.clip.calibration import embedder_for, ensure_calibrated
from core.clip.onnx_backend import OnnxEmbedder
from core.clip.onnx_cache import Manifest
from core.clip.preprocess import Preprocess


class CalibratedEmbedder(Embedder):
    def __init__(self, onnx: OnnxEmbedder):
        super().__init__()
        self._onnx = onnx
        self._batches: Embedder | None = None
        self._batches_lock = threading.Lock()

    @property
    def name(self) -> str:
        batches = self._batches
        if batches is None or batches is self._onnx:
            return self._onnx.name
        return f"{self._onnx.name} (image batches: {batches.name})"

    @property
    def dim(self) -> int:
        return self._onnx.dim

    @property
    def preprocess(self) -> Preprocess:
        return self._onnx.preprocess

    @property
    def manifest(self) -> Manifest:
        return self._onnx.manifest

    @property
    def folder(self) -> Path:
        return self._onnx.folder

    @property
    def batch_embedder(self) -> Embedder:
        """What embeds batches of images here, chosen on first use."""
        if self._batches is None:
            with self._batches_lock:
                if self._batches is None:
                    self._batches = self._calibrated()
        return self._batches

    def _calibrated(self) -> Embedder:
        onnx = self._onnx
        calibration = ensure_calibrated(onnx.settings, onnx.models_dir, onnx.folder)
        ours = f"onnx-{onnx.precision_of('visual')}"
        path = calibration.batch_path if calibration else ours
        if path == ours:
            return onnx
        chosen = embedder_for(path, onnx.settings, onnx.models_dir)
        chosen.load()
        return chosen

    def _load(self) -> None:
        self._onnx.load()

    def _encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        embedder = self._onnx if len(pixels) == 1 else self.batch_embedder
        return embedder.embed_pixels(pixels)

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        return self._onnx.embed_texts(texts)
