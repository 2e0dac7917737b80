"""The ONNX exports of CLIP models, as serving processes find them (torch-free): one
folder per model and weights under the models dir, holding both towers in fp32 and int8,
checked against torch fp32 on a fixed probe set.

    <data_dir>/models/<model>-<key>/
        manifest.json            what was exported, how it preprocesses, how well it agrees
        visual.fp32.onnx  visual.int8.onnx  text.fp32.onnx  text.int8.onnx
        bpe_simple_vocab_16e6.txt.gz

The key hashes the model name, the identity of its weights, open_clip's version and the
format version: change any and a new folder is exported. ``ensure_exported`` runs the
exporter (``core.clip.export``) in a child process, so torch stays out of the serving
process, under a file lock (two processes starting together export once).
"""

import fcntl
import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from core.config import TINY_TEST_MODEL, ClipSettings
from core.errors import ModelUnavailable, WeightsUnavailable

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
AGREEMENT = 0.998
"""Least cosine similarity to torch fp32, on every probe, for a precision to be used."""
PRECISIONS = ("fp32", "int8")
TOWERS = ("visual", "text")
@dataclass(frozen=True)
class Manifest:
    key: str
    model: str
    dim: int
    preprocess: dict
    context_length: int
    clean: str
    trim_tokens: bool
    """The text tower takes token rows cut after the longest text's end token."""
    agreement: dict[str, dict[str, float]]
    """Per precision and tower: the least cosine to torch fp32 over the probe set."""

    def accepts(self, precision: str, tower: str) -> bool:
        return self.agreement[precision][tower] >= AGREEMENT

    @classmethod
    def read(cls, folder: Path) -> "Manifest | None":
        try:
            return cls(**json.loads((folder / "manifest.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None


def trim(tokens: np.ndarray) -> np.ndarray:
    """Token rows cut after the last end-of-text token of the batch (the highest id)."""
    return tokens[:, : int(tokens.argmax(axis=1).max()) + 1]


def onnx_file(folder: Path, tower: str, precision: str) -> Path:
    return folder / f"{tower}.{precision}.onnx"


def export_folder(settings: ClipSettings, models_dir: Path) -> Path:
    identity = {
        "format": FORMAT_VERSION,
        "model": settings.model,
        "weights": _weights_identity(settings),
        "open_clip": _version("open_clip_torch"),
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in settings.model.split("/")[-1])[-40:]
    return models_dir / f"{slug}-{key}"


def ensure_exported(settings: ClipSettings, models_dir: Path) -> tuple[Path, Manifest]:
    """The export folder for these settings, exported first (in a child process) if needed."""
    folder = export_folder(settings, models_dir)
    manifest = Manifest.read(folder)
    if manifest is not None:
        return folder, manifest
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be exporting it right now
        if Manifest.read(folder) is None:
            log.warning("Exporting CLIP %s to ONNX in %s (once per model; takes a while)", settings.model, folder)
            command = [
                sys.executable,
                "-m",
                "core.clip.export",
                "--settings",
                settings.model_dump_json(),
                "--out",
                str(folder),
            ]
            returncode, said = _run_showing_progress(command)
            if returncode != 0:
                raise _child_error(said)
    manifest = Manifest.read(folder)
    if manifest is None:
        raise ModelUnavailable(f"The ONNX export in {folder} has no readable manifest.json.")
    return folder, manifest


def _weights_identity(settings: ClipSettings) -> object:
    if settings.model == TINY_TEST_MODEL:
        return "random-seed-0"
    if settings.model.startswith("local-dir:"):
        folder = Path(settings.model.removeprefix("local-dir:"))
        if not folder.is_dir():
            raise ModelUnavailable(f"There is no model folder at {folder} ({settings.model}).")
        return _files_identity(folder)
    if settings.model.startswith("hf-hub:"):
        return settings.model
    path = Path(settings.pretrained).expanduser()
    return _files_identity(path) if path.exists() else settings.pretrained


def _files_identity(path: Path) -> list:
    files = sorted(p for p in ([path] if path.is_file() else path.iterdir()) if p.is_file())
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "none"


def _run_showing_progress(command: list[str]) -> tuple[int, str]:
    """Run the export child with its stderr passed through as it comes (the weights'
    download progress bar, when open_clip downloads them); its exit code and what it
    printed on stdout (its error, if it failed)."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        while chunk := child.stderr.read1(4096):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
        said = child.stdout.read()
    return child.returncode, said.decode(errors="replace")


def _child_error(said: str) -> ModelUnavailable:
    last = ([line for line in said.strip().splitlines() if line.strip()][-1:] or ["no output"])[0]
    kind, _, message = last.partition(": ")
    if kind == WeightsUnavailable.__name__:  # no weights: the torch backend would fail the same way
        return WeightsUnavailable(message)
    return ModelUnavailable(f"Exporting the CLIP model to ONNX failed: {last}")


