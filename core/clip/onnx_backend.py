"""CLIP on ONNX Runtime: the towers exported from open_clip (see ``core.clip.export``),
int8 where it agrees with fp32, and a torch-free tokenizer. Importing or running this
never imports torch, so the API and the bot start fast and small.

Each tower gets its own session on first use: a process that only answers queries never
loads the image tower. A lone text (a search query) runs on a text session of its own with
``query_threads`` threads, a lone image on one with ``threads``.

A batch is cut in one part per thread, the parts run at once on the tower's one-thread
session (a session may run on several threads at a time; with one intra-op thread each run
stays on its caller's): one session with two threads meets them at every operator, and
one waits for the other whenever a decoding thread holds its core. On 2 cores (AMD Zen 5,
ViT-B-32 int8, batches of 32) that ran 61-65 images/s beside a busy decoding thread where
the parts ran 82-92, and 111-119 alone against 117-134. A lone input keeps a session with
every thread (an image: 14 ms against 18 on one), so a process that embeds both holds the
tower twice.
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from core.clip.base import Embedder
from core.clip.onnx_cache import AGREEMENT, TOWERS, Manifest, ensure_exported, onnx_file, trim
from core.clip.preprocess import Preprocess
from core.clip.tokenizer import VOCAB_FILE, ClipTokenizer
from core.config import ClipSettings

log = logging.getLogger(__name__)


class OnnxEmbedder(Embedder):
    def __init__(self, settings: ClipSettings, models_dir: Path):
        super().__init__()
        self.settings = settings
        self.models_dir = models_dir
        self._sessions: dict[tuple[str, int], object] = {}
        self._sessions_lock = threading.Lock()
        # The threads that run a batch's parts beside its caller's (started on first use).
        self._helpers = ThreadPoolExecutor(max(1, self._threads - 1), thread_name_prefix="onnx-part")

    @property
    def name(self) -> str:
        self.load()
        visual, text = self._precision["visual"], self._precision["text"]
        return f"onnx-{visual}" if visual == text else f"onnx-{visual}-visual-{text}-text"

    @property
    def dim(self) -> int:
        self.load()
        return self._manifest.dim

    @property
    def preprocess(self) -> Preprocess:
        self.load()
        return self._preprocess

    @property
    def manifest(self) -> Manifest:
        self.load()
        return self._manifest

    @property
    def folder(self) -> Path:
        """The export this runs."""
        self.load()
        return self._folder

    def precision_of(self, tower: str) -> str:
        self.load()
        return self._precision[tower]

    def _load(self) -> None:
        self._folder, self._manifest = ensure_exported(self.settings, self.models_dir)
        self._precision = {tower: self._choose_precision(tower) for tower in TOWERS}
        self._preprocess = Preprocess.from_dict(self._manifest.preprocess)
        self._tokenizer = ClipTokenizer(self._folder / VOCAB_FILE, self._manifest.context_length, self._manifest.clean)

    def _choose_precision(self, tower: str) -> str:
        wanted = self.settings.precision
        if wanted in ("auto", "int8") and self._manifest.accepts("int8", tower):
            return "int8"
        if wanted == "int8":
            log.warning(
                "The int8 %s tower of %s disagrees with fp32 (least cosine %.4f < %.3f); using fp32.",
                tower,
                self.settings.model,
                self._manifest.agreement["int8"][tower],
                AGREEMENT,
            )
        return "fp32"

    def _encode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self._run("visual", "pixels", pixels)

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self._tokenizer(texts)
        if self._manifest.trim_tokens:
            tokens = trim(tokens)
        if len(texts) == 1:
            return self._session("text", self.settings.query_threads or _cores()).run(None, {"tokens": tokens})[0]
        return self._run("text", "tokens", tokens)

    def _run(self, tower: str, name: str, batch: np.ndarray) -> np.ndarray:
        """The tower on ``batch``: a lone input on a session with every thread, a batch in one
        part per thread on a one-thread session, at once (the module's docstring says why)."""
        parts = min(len(batch), self._threads)
        if parts == 1:
            return self._session(tower, self._threads).run(None, {name: batch})[0]
        session, (first, *rest) = self._session(tower, 1), np.array_split(batch, parts)
        running = [self._helpers.submit(session.run, None, {name: part}) for part in rest]
        return np.concatenate([session.run(None, {name: first})[0], *(part.result()[0] for part in running)])

    @property
    def _threads(self) -> int:
        return self.settings.threads or _cores()

    def _session(self, tower: str, threads: int):
        key = (tower, threads)
        session = self._sessions.get(key)
        if session is None:
            with self._sessions_lock:
                session = self._sessions.get(key)
                if session is None:
                    session = self._sessions[key] = self._open_session(*key)
        return session

    def _open_session(self, tower: str, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Threads sleep instead of spinning between runs, so a busy neighbour process (or
        # our own decoding threads) does not stall a query.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = onnx_file(self._folder, tower, self._precision[tower])
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        log.info("Loaded %s (%d threads)", path, options.intra_op_num_threads)
        return session


def _cores() -> int:
    return os.cpu_count() or 1
