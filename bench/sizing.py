"""Bytes per image, measured, for the README's sizing table.

    python bench/sizing.py [--points 100000] [--dim 512] [--smoke]

Builds an embedded Qdrant Edge store as findimage fills it (an image and a caption
vector per point, the payload search filters on, the same payload indexes), builds its
HNSW index, and measures:
  - disk: the store's folder, per image;
  - memory: the resident set (RSS) of a fresh process that opens the store and runs
    searches until it is warm, minus that process's RSS before opening it, per image.
Then prints both per million images, with what float32 vectors alone take (dim x 4
bytes x 2 vectors) for comparison, and what int8 scalar quantization (1 byte a
dimension, originals kept on disk for rescoring) would keep in RAM on a Qdrant server.

Vectors are clustered (topics), as real embeddings are, so the HNSW graph is realistic.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from shared import ROOT, parse

from core.access import EVERYONE
from core.vectors import AUDIENCE, IMAGE, TEXT, VectorPoint
from core.vectors.edge import EdgeStore

BATCH = 1000


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def fill(path: Path, points: int, dim: int) -> float:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(max(10, points // 1000), dim)))
    store = EdgeStore(path)
    store.ensure_collection(dim)
    started = time.perf_counter()
    for first in range(0, points, BATCH):
        ids = range(first + 1, min(points, first + BATCH) + 1)
        topics = rng.integers(0, len(centres), len(ids))
        images = unit(centres[topics] + 0.35 * rng.normal(size=(len(ids), dim)) / np.sqrt(dim) * 4)
        captions = unit(centres[topics] + 0.5 * rng.normal(size=(len(ids), dim)) / np.sqrt(dim) * 4)
        store.upsert(
            [
                VectorPoint(
                    i,
                    {IMAGE: image, TEXT: caption},
                    {
                        "image_id": i,
                        "source": "slack",
                        "uploader": f"slack:T0123456:U{i % 500:07d}",
                        "channel": f"C{i % 80:08d}",
                        AUDIENCE: [EVERYONE],
                        "caption": "photos from the team offsite in the mountains",
                        "created_at": 1.7e9 + i,
                    },
                )
                for i, image, caption in zip(ids, images, captions)
            ]
        )
    store.build_index()
    store.close()
    return time.perf_counter() - started


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


RSS_PROBE = """
import json, resource, sys
import numpy as np
sys.path.insert(0, {root!r})
from core.vectors import IMAGE, TEXT
from core.vectors.edge import EdgeStore

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

before = rss()
store = EdgeStore(__import__("pathlib").Path({path!r}))
store.ensure_collection({dim})
rng = np.random.default_rng(1)
for _ in range(300):
    for using in (IMAGE, TEXT):
        q = rng.normal(size={dim}).astype(np.float32)
        store.search(using, q / np.linalg.norm(q), limit=50)
print(json.dumps({{"before": before, "after": rss()}}))
"""


def resident_bytes(path: Path, dim: int) -> int:
    code = RSS_PROBE.format(root=str(ROOT), path=str(path), dim=dim)
    answer = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    return answer["after"] - answer["before"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    args = parse(parser, points=2000, dim=32)
    with tempfile.TemporaryDirectory(prefix="findimage-sizing-") as tmp:
        path = Path(tmp) / "images"
        print(f"Filling a Qdrant Edge store with {args.points:,} images ({args.dim}-d, 2 vectors each) ...", flush=True)
        seconds = fill(path, args.points, args.dim)
        disk, resident = folder_bytes(path), resident_bytes(path, args.dim)
    raw = args.dim * 4 * 2
    print(f"filled and indexed in {seconds:.0f} s")
    print(f"{'per image':28} {'bytes':>8} {'GiB per million':>16}")
    for name, value in (
        ("float32 vectors alone", raw),
        ("store on disk", disk / args.points),
        ("store resident (warm RSS)", resident / args.points),
        ("int8 quantized vectors", args.dim * 2),
    ):
        print(f"{name:28} {value:8.0f} {value * 1_000_000 / 2**30:16.2f}")


if __name__ == "__main__":
    main()
