"""What the benchmarks share: a random-weight model saved (and exported) once per work
dir, photo-like synthetic JPEGs, image rows for synthetic points, the app served on a
loopback port, and the ``--smoke`` size every bench has. Random weights run exactly as
fast as trained ones."""

import io
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_WORK_DIR = Path("/tmp/findimage-bench")
SMOKE_HELP = ("a tiny size on the tiny random CLIP, done in seconds: what the test suite runs, so that a change "
              "that breaks a bench fails CI (its figures mean nothing)")


def parse(parser, **smoke_sizes):
    """The bench's arguments, with ``--smoke``: then ``smoke_sizes`` replace the sizes given."""
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        for name, value in smoke_sizes.items():
            setattr(args, name, value)
    return args


def models_dir(args) -> Path:
    """Where the work dir keeps the ONNX exports: one per model, for every bench."""
    return args.work_dir / "exports"


def model_for(args) -> str:
    """The model a bench runs: ``args.model`` itself when it is a saved one (``local-dir:``,
    at any size: trained weights you have, or the test session's tiny model), else a
    random-weight ``args.model``, or the tiny one at smoke size."""
    from core.config import TINY_TEST_MODEL

    if args.model.startswith("local-dir:"):
        return args.model
    return TINY_TEST_MODEL if args.smoke else random_model(args.model, args.work_dir)


def random_model(architecture: str, work_dir: Path) -> str:
    """``local-dir:`` name of a random-weight ``architecture``, saved on first use."""
    from core.clip.torch_backend import save_random_model

    folder = work_dir / "models-src" / architecture
    if not (folder / "open_clip_model.safetensors").exists():
        print(f"Saving a random-weight {architecture} to {folder} ...", flush=True)
        save_random_model(architecture, folder)
    return f"local-dir:{folder}"


def synthetic_jpegs(n: int, size=(1280, 960), seed=0) -> list[bytes]:
    """Photo-sized JPEGs with shapes and noise, so decoding costs what a photo costs."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        base = rng.integers(0, 255, size=(size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize(size, Image.Resampling.BILINEAR)
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.integers(0, size[0]), rng.integers(0, size[1])
            w, h = rng.integers(20, max(21, size[0] // 4)), rng.integers(20, max(21, size[1] // 4))
            draw.ellipse([x, y, x + w, y + h], fill=tuple(rng.integers(0, 255, 3).tolist()))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def touch_store(folder: Path) -> None:
    """Read every file of a store once before measuring it. The store's pages are in the
    page cache, but on a virtual machine whose host reclaims memory a guest leaves idle (the
    machines these figures come from) the first touch of each page costs the host's fault:
    measured at 1M points, a click's first search 27 ms against 1.8 once its pages were
    touched. Without this a bench measures the host, not the search path."""
    started, size, buffer = time.perf_counter(), 0, bytearray(8 << 20)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb", buffering=0) as file:
            while read := file.readinto(buffer):
                size += read
    print(f"read the store's {size / 1e9:.1f} GB once in {time.perf_counter() - started:.1f} s (touch_store)", flush=True)


def cpu_seconds() -> float:
    """This process's CPU time so far (user + system, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stage_seconds(*stages: str) -> dict[str, float]:
    """Seconds this process has spent so far in each of ``stages``, from the histogram the
    pipeline and the searches time themselves in (``findimage_stage_seconds``)."""
    from prometheus_client import REGISTRY

    return {stage: REGISTRY.get_sample_value("findimage_stage_seconds_sum", {"stage": stage}) or 0.0
            for stage in stages}


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:7.1f}"


def serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Run the ASGI ``app`` with uvicorn on a free loopback port, in a thread: the server
    (set ``should_exit`` to stop it), its thread and its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def add_image_rows(engine, ids) -> None:
    """Indexed web images with these ids in the database, as the worker leaves them, for
    points loaded straight into the vector store (likes and clicks refer to them)."""
    from sqlalchemy import insert

    from core.models import Image as ImageRow
    from core.models import ImageStatus, utcnow

    ids = [int(i) for i in ids]
    now = utcnow()
    with engine.begin() as connection:
        for start in range(0, len(ids), 20_000):
            connection.execute(insert(ImageRow), [
                {"id": i, "sha256": f"{i:064x}", "mime": "image/jpeg", "width": 1, "height": 1, "size_bytes": 1,
                 "status": ImageStatus.indexed, "indexed_at": now, "created_at": now, "source": "web"}
                for i in ids[start:start + 20_000]
            ])
