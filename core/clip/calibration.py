"""Which image path embeds a batch fastest on this machine, measured once.

The image tower can run on ONNX Runtime (int8 or fp32) or on torch (fp32, or bf16 where
the CPU computes bf16 natively). Which is fastest depends on the CPU: on one with AMX,
torch bf16 beat onnx int8 by 40%; on one with only AVX512-BF16, onnx int8 won. So the
first batch a process embeds asks for this machine's calibration, kept beside the
export (one file per CPU, so a models dir shared by different machines holds one each):

    <export folder>/calibration-<machine key>.json

A child process makes it (torch stays out of the caller unless torch wins), under a file
lock: it times batches on every path that agrees with torch fp32 (cosine >= 0.998 on the
probe set, as the export checks), the paths taking turns, and names the fastest. The ONNX
path queries run on is kept unless another is at least ``MARGIN`` faster: a small win does
not pay for loading torch or a second copy of the model, and a near tie should not flip
between runs.
"""

import argparse
import fcntl
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.clip.onnx_cache import AGREEMENT
from core.config import ClipSettings

if TYPE_CHECKING:
    from core.clip.base import Embedder

log = logging.getLogger(__name__)

BATCH = 32
"""The worker's batch (``FINDIMAGE_WORKER__BATCH_SIZE``'s default)."""
MARGIN = 1.1
ROUNDS = 3
"""Batches timed on each path, taking turns (the best counts)."""
PATHS = ("onnx-int8", "onnx-fp32", "torch-bf16", "torch-fp32")


@dataclass(frozen=True)
class Calibration:
    machine: str
    images_per_s: dict[str, float]
    """At batch ``BATCH``, per path that agrees with torch fp32."""
    agreement: dict[str, float]
    """Per path measured: the least cosine to torch fp32 over the probe set."""
    batch_path: str

    @classmethod
    def read(cls, path: Path) -> "Calibration | None":
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None


def machine() -> str:
    """The CPU, as the speed of a path depends on it."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            name = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} CPUs"


def calibration_file(folder: Path, settings: ClipSettings) -> Path:
    key = hashlib.sha256(f"{machine()}|threads={settings.threads}".encode()).hexdigest()[:12]
    return folder / f"calibration-{key}.json"


def ensure_calibrated(settings: ClipSettings, models_dir: Path, folder: Path) -> Calibration | None:
    """This machine's calibration for the export in ``folder``, measured first (in a child
    process) if it is not yet; None if it could not be (the caller keeps ONNX)."""
    path = calibration_file(folder, settings)
    found = Calibration.read(path)
    if found is not None:
        return found
    try:
        return _calibrate_once(settings, models_dir, folder, path)
    except (OSError, _NotTimed) as exc:  # (OSError: a models dir this process may not write to, say)
        log.warning("Could not time the image backends (%s): image batches stay on ONNX", exc)
        return None


class _NotTimed(Exception):
    """The calibration's child process failed (what it said last is the message)."""


def _calibrate_once(settings: ClipSettings, models_dir: Path, folder: Path, path: Path) -> Calibration:
    with open(folder / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be calibrating right now
        found = Calibration.read(path)
        if found is None:
            log.warning("Timing the image backends of %s on this machine (once per machine; takes a few seconds)",
                        settings.model)
            command = [sys.executable, "-m", "core.clip.calibration", "--settings", settings.model_dump_json(),
                       "--models-dir", str(models_dir), "--out", str(path)]
            done = subprocess.run(command, capture_output=True, text=True)
            found = Calibration.read(path)
            if found is None:
                raise _NotTimed((done.stderr.strip().splitlines() or ["no output"])[-1])
    return found


def embedder_for(path: str, settings: ClipSettings, models_dir: Path) -> "Embedder":
    """The (unloaded) embedder of one of ``PATHS``; torch is imported only for a torch path."""
    backend, precision = path.split("-")
    if backend == "onnx":
        from core.clip.onnx_backend import OnnxEmbedder

        return OnnxEmbedder(settings.model_copy(update={"precision": precision}), models_dir)
    from core.clip.torch_backend import TorchEmbedder

    return TorchEmbedder(settings, precision=precision)


def calibrate(settings: ClipSettings, models_dir: Path) -> Calibration:
    """Time a batch on every image path that agrees with torch fp32 (needs torch)."""
    from core.clip.export import probe_images
    from core.clip.torch_backend import cpu_has_native_bf16

    reference = embedder_for("torch-fp32", settings, models_dir)
    probes = reference.preprocess.batch(probe_images(reference.image_size))
    expected = reference.embed_pixels(probes)
    pixels = np.concatenate([probes] * (BATCH // len(probes) + 1))[:BATCH]
    agreement, agreeing = {}, {}
    for path in PATHS:
        if path == "torch-bf16" and not cpu_has_native_bf16():
            continue  # emulated bf16 is several times slower than fp32
        embedder = reference if path == "torch-fp32" else embedder_for(path, settings, models_dir)
        if path.startswith("onnx"):
            precision = path.removeprefix("onnx-")
            if not embedder.manifest.accepts(precision, "visual"):
                agreement[path] = embedder.manifest.agreement[precision]["visual"]
                continue
        agreement[path] = round(float(np.min(np.sum(expected * embedder.embed_pixels(probes), axis=1))), 6)
        if agreement[path] >= AGREEMENT:
            agreeing[path] = embedder
    speed = {path: round(BATCH / seconds, 1) for path, seconds in _best_of(agreeing, pixels).items()}
    fastest = max(speed, key=speed.get)
    default = "onnx-int8" if "onnx-int8" in speed else "onnx-fp32"  # what the API's queries run
    chosen = fastest if speed[fastest] >= MARGIN * speed[default] else default
    return Calibration(machine(), speed, agreement, chosen)


def _best_of(embedders: dict[str, "Embedder"], pixels: np.ndarray, rounds: int = ROUNDS) -> dict[str, float]:
    """Seconds for one batch on each path: the best of ``rounds`` after a warm-up, the
    paths taking turns within each round, so that a slow spell of a shared machine slows
    them alike instead of deciding the choice. (Timed one path after another, a
    calibration on an Intel machine with AMX measured torch bf16 only 9% faster than onnx
    int8, under ``MARGIN``, where nine more measured it 17-50% faster: the worker ran int8.
    Taking turns, five gave 23-31%.)"""
    for embedder in embedders.values():
        embedder.embed_pixels(pixels)
    best = dict.fromkeys(embedders, float("inf"))
    for _ in range(rounds):
        for path, embedder in embedders.items():
            started = time.perf_counter()
            embedder.embed_pixels(pixels)
            best[path] = min(best[path], time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time findimage's image backends (used by ensure_calibrated).")
    parser.add_argument("--settings", required=True, help="ClipSettings as JSON")
    parser.add_argument("--models-dir", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    calibration = calibrate(ClipSettings.model_validate_json(args.settings), args.models_dir)
    written = args.out.with_suffix(".tmp")
    written.write_text(json.dumps(asdict(calibration), indent=2))
    written.replace(args.out)


if __name__ == "__main__":
    main()
