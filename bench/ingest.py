"""Ingest throughput: the bare model against the whole pipeline, measured in one run.

    python bench/ingest.py [--images 256] [--model ViT-B-32] [--batch-size 32]

Prints images/s for
  - the model alone (decoded images -> embeddings, same batch size and threads), with
    fp32 weights and with bf16 weights, and their cosine agreement;
  - end to end: HTTP upload (several clients) -> validation, thumbnail, storage -> queue
    -> worker (decode, embed, upsert) -> indexed, on the embedded defaults;
and the ratio end-to-end / bare model (target >= 0.9).

The model has random weights (saved once as an open_clip local-dir model): speed is the
same as with trained weights, and nothing is downloaded.
"""

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.embedder import ClipEmbedder, save_random_model
from sqlmodel import func, select

from api.main import create_app
from core.config import ClipSettings, Settings, WorkerSettings
from core.models import Image as ImageRecord
from core.models import ImageStatus
from core.queue import EmbeddedValkey
from core.runtime import Runtime


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
            draw.ellipse([x, y, x + rng.integers(20, 300), y + rng.integers(20, 300)], fill=tuple(rng.integers(0, 255, 3).tolist()))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def bare_model_rate(embedder: ClipEmbedder, images: list[Image.Image], batch_size: int) -> tuple[float, np.ndarray]:
    embedder.embed_images(images[:batch_size])  # warm up
    started = time.perf_counter()
    vectors = [embedder.embed_images(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return len(images) / (time.perf_counter() - started), np.vstack(vectors)


def upload(url: str, data: bytes) -> None:
    with httpx.Client(timeout=60) as client:
        client.post(url, files={"files": ("photo.jpg", data, "image/jpeg")}).raise_for_status()


def end_to_end_rates(settings: Settings, embedder: ClipEmbedder, jpegs: list[bytes], clients: int) -> tuple[float, float]:
    """(uploads accepted per second, images indexed per second), from the first upload."""
    runtime = Runtime.open(settings, embedder=embedder)
    server = uvicorn.Server(uvicorn.Config(create_app(settings, runtime=runtime), port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/images"

    try:
        started = time.perf_counter()
        # Clients are processes of their own, as real ones are: not in the server's GIL.
        with ProcessPoolExecutor(clients) as pool:
            list(pool.map(partial(upload, url), jpegs))
        uploaded = time.perf_counter() - started
        while True:
            with runtime.session() as session:
                done = session.exec(
                    select(func.count()).where(ImageRecord.status == ImageStatus.indexed)
                ).one()
            if done == len(jpegs):
                break
            time.sleep(0.01)
        return len(jpegs) / uploaded, len(jpegs) / (time.perf_counter() - started)
    finally:
        server.should_exit = True
        thread.join()
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the findimage default)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp:
        tmp = Path(tmp)
        print(f"Saving a random-weight {args.model} and making {args.images} synthetic 1280x960 JPEGs ...")
        model = save_random_model(args.model, tmp / "model")
        jpegs = synthetic_jpegs(args.images)
        decoded = [Image.open(io.BytesIO(j)).convert("RGB") for j in jpegs]

        rates, vectors = {}, {}
        for precision in ("fp32", "bf16"):
            embedder = ClipEmbedder(ClipSettings(model=model, precision=precision, threads=args.threads))
            rates[precision], vectors[precision] = bare_model_rate(embedder, decoded, args.batch_size)
        cosine = np.sum(vectors["fp32"] * vectors["bf16"], axis=1)

        default = ClipEmbedder(ClipSettings(model=model, threads=args.threads))
        default.load()
        with EmbeddedValkey(tmp / "valkey") as redis_url:
            settings = Settings(
                data_dir=tmp / "data",
                redis_url=redis_url,
                clip=ClipSettings(model=model, threads=args.threads),
                worker=WorkerSettings(batch_size=args.batch_size, index_when_idle_for=60),
            )
            accepted, e2e = end_to_end_rates(settings, default, jpegs, args.clients)
        bare = rates[default.precision]

    print()
    print(f"model {args.model}, batch {args.batch_size}, {args.images} images, default precision {default.precision}")
    print(f"bare model fp32 weights      {rates['fp32']:8.1f} images/s")
    print(f"bare model bf16 weights      {rates['bf16']:8.1f} images/s   ({rates['bf16'] / rates['fp32']:.2f}x fp32; "
          f"cosine to fp32 min {cosine.min():.5f}, median {statistics.median(cosine.tolist()):.5f})")
    print(f"uploads accepted             {accepted:8.1f} images/s   ({args.clients} upload clients, model busy alongside)")
    print(f"end to end (upload->indexed) {e2e:8.1f} images/s")
    print(f"ratio end-to-end / bare model ({default.precision}): {e2e / bare:.2f}   (target >= 0.9)")


if __name__ == "__main__":
    main()
