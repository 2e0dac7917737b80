"""Ingest throughput: the bare model against the whole pipeline, measured in one run.

    python bench/ingest.py [--images 256] [--model ViT-B-32] [--batch-size 32] [--clients 4] [--smoke]

Prints images/s for
  - the model alone on each backend this machine offers (decoded images -> embeddings,
    same batch size and threads): ONNX int8 and, where the CPU has native bf16, torch bf16,
    before the pipeline runs and again after (the ratios use the mean: machines drift);
  - end to end through ``findimage import`` (a folder -> validation, storage -> queue ->
    the embedded worker -> indexed), with no HTTP clients on the cores, with the CPU time
    it took an image and its stages' times;
  - end to end through HTTP: upload (several client processes) -> validation, storage ->
    queue -> worker (decode, thumbnail, embed, upsert) -> indexed, on the embedded defaults;
and the ratios end-to-end / the fastest bare backend, and bare CPU an image / the import's.

The model has random weights, saved (and exported) once in the work dir: speed is the
same as with trained weights, and nothing is downloaded.
"""

import argparse
import io
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import httpx
from PIL import Image
from rich.console import Console
from shared import (
    DEFAULT_WORK_DIR,
    cpu_seconds,
    model_for,
    models_dir,
    parse,
    serve,
    stage_seconds,
    synthetic_jpegs,
)
from sqlmodel import func, select

from cli.importer import import_images
from cli.serving import create_app
from core.clip import Embedder, open_embedder
from core.clip.calibration import embedder_for
from core.clip.torch_backend import cpu_has_native_bf16
from core.config import ClipSettings, Settings, WorkerSettings
from core.models import Image as ImageRecord
from core.models import ImageStatus
from core.runtime import Runtime
from core.valkey import EmbeddedValkey


def bare_model_rate(embedder: Embedder, images: list[Image.Image], batch_size: int) -> tuple[float, float]:
    """Images/s, and CPU seconds an image (all threads)."""
    pixels = embedder.preprocess.batch(images)
    embedder.embed_pixels(pixels[:batch_size])  # warm up
    started, cpu = time.perf_counter(), cpu_seconds()
    for i in range(0, len(pixels), batch_size):
        embedder.embed_pixels(pixels[i : i + batch_size])
    return len(pixels) / (time.perf_counter() - started), (cpu_seconds() - cpu) / len(pixels)


STAGES = ("validate", "store", "decode", "embed", "upsert")
_client: httpx.Client | None = None


def upload(url: str, photo: Path) -> None:
    """One upload of a file the client reads itself, on this client process's kept-alive
    connection (as a browser does). (Handing the client the bytes would cost the serving
    process a pickle and a pipe write of each photo, on the cores it shares.)"""
    global _client
    _client = _client or httpx.Client(timeout=60)
    _client.post(url, files={"files": ("photo.jpg", photo.read_bytes(), "image/jpeg")}).raise_for_status()


def end_to_end_rates(settings: Settings, embedder: Embedder, photos: list[Path], clients: int) -> tuple[float, float]:
    """(uploads accepted per second, images indexed per second), from the first upload."""
    runtime = Runtime.open(settings, embedder=embedder)
    server, thread, base = serve(create_app(settings, runtime=runtime))
    url = f"{base}/api/images"

    try:
        # Clients are processes of their own, as real ones are: not in the server's GIL.
        with ProcessPoolExecutor(clients) as pool:
            list(pool.map(int, range(clients)))  # the client processes started before the clock
            started = time.perf_counter()
            list(pool.map(partial(upload, url), photos))
            uploaded = time.perf_counter() - started
        while True:
            with runtime.session() as session:
                done = session.exec(select(func.count()).where(ImageRecord.status == ImageStatus.indexed)).one()
            if done == len(photos):
                break
            time.sleep(0.01)
        return len(photos) / uploaded, len(photos) / (time.perf_counter() - started)
    finally:
        server.should_exit = True
        thread.join()
        runtime.close()


def write_photos(jpegs: list[bytes], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    photos = [folder / f"photo-{n:05d}.jpg" for n in range(len(jpegs))]
    for photo, data in zip(photos, jpegs):
        photo.write_bytes(data)
    return photos


def import_rate(settings: Settings, embedder: Embedder, photos: list[Path]) -> float:
    """Images indexed per second by ``findimage import`` of the folder holding ``photos``."""
    folder = photos[0].parent
    runtime = Runtime.open(settings, embedder=embedder)
    try:
        started = time.perf_counter()
        report = import_images(runtime, folder, "bench", Console(quiet=True))
        seconds = time.perf_counter() - started
    finally:
        runtime.close()
    assert len(report.added) == len(photos), report.rejected
    return len(photos) / seconds


def bare_paths(settings: Settings, embedder: Embedder) -> dict[str, Embedder]:
    """The worker's image path first (for batches: with ``auto``, what this machine's
    calibration chose), then onnx int8 and, where the CPU has native bf16, torch bf16 if
    they are not that path, by name."""
    batches = getattr(embedder, "batch_embedder", embedder)  # (calibrated now, if it was not)
    paths = {batches.name: batches}
    for path in ("onnx-int8", "torch-bf16"):
        if path not in paths and (path != "torch-bf16" or cpu_has_native_bf16()):
            other = embedder_for(path, settings.clip, settings.resolved_models_dir)
            paths.setdefault(other.name, other)  # (an int8 export that disagrees runs fp32)
    return paths


def bare_rates(paths: dict[str, Embedder], images: list[Image.Image], batch_size: int) -> dict[str, tuple[float, float]]:
    """(Images/s, CPU s an image) of each path."""
    return {name: bare_model_rate(embedder, images, batch_size) for name, embedder in paths.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="model threads (0: the findimage default)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = parse(parser, images=16, batch_size=8, clients=2)

    clip = ClipSettings(model=model_for(args), threads=args.threads)
    print(f"Making {args.images} synthetic 1280x960 JPEGs ...", flush=True)
    jpegs = synthetic_jpegs(args.images)
    with (
        tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp,
        EmbeddedValkey(Path(tmp) / "valkey") as redis_url,
    ):
        settings = Settings(
            data_dir=Path(tmp) / "data",
            models_dir=models_dir(args),
            redis_url=redis_url,
            clip=clip,
            worker=WorkerSettings(batch_size=args.batch_size, index_when_idle_for=60),
        )
        embedder = open_embedder(settings)
        decoded = [Image.open(io.BytesIO(j)).convert("RGB") for j in jpegs]
        paths = bare_paths(settings, embedder)
        first = bare_rates(paths, decoded, args.batch_size)
        photos = write_photos(jpegs, Path(tmp) / "folder")  # (the import's folder, and the upload clients' files)
        before, cpu = stage_seconds(*STAGES), cpu_seconds()
        imported = import_rate(settings.model_copy(update={"data_dir": Path(tmp) / "imported"}), embedder, photos)
        stages = {stage: seconds - before[stage] for stage, seconds in stage_seconds(*STAGES).items()}
        import_cpu = cpu_seconds() - cpu
        accepted, e2e = end_to_end_rates(settings, embedder, photos, args.clients)
        # Measured again after the pipeline ran, as these machines drift within minutes: the
        # ratios compare with the mean of the two.
        again = bare_rates(paths, decoded, args.batch_size)

    bare = {name: tuple((a + b) / 2 for a, b in zip(rates, again[name])) for name, rates in first.items()}
    fastest = max(rate for rate, _ in bare.values())
    print()
    print(f"model {clip.model}, batch {args.batch_size}, {args.images} images; the worker runs {embedder.name}")
    for name, (rate, cpu) in bare.items():
        print(f"bare model, {name:14} {rate:8.1f} images/s   CPU {1000 * cpu:.1f} ms an image   "
              f"(mean of {first[name][0]:.1f} before the pipeline and {again[name][0]:.1f} after)")
    print(f"findimage import             {imported:8.1f} images/s   (folder -> indexed, no HTTP)")
    print(f"  CPU {1000 * import_cpu / args.images:.1f} ms an image (user + system, all threads: steadier than the "
          "rate on a machine shared with others)")
    print("  its stages, ms an image (wall time, threads overlapping): "
          + ", ".join(f"{stage} {1000 * seconds / args.images:.1f}" for stage, seconds in stages.items() if seconds))
    print(
        f"uploads accepted             {accepted:8.1f} images/s   ({args.clients} upload clients, worker busy alongside)"
    )
    print(f"end to end (upload->indexed) {e2e:8.1f} images/s")
    print(f"ratio import / fastest bare model: {imported / fastest:.2f}   (target >= 0.8)")
    print(f"ratio end-to-end / fastest bare model: {e2e / fastest:.2f}   (target >= 0.6)")
    worker_path = next(iter(paths))  # what the worker's batches run on
    print(f"ratio of CPU an image, bare {worker_path} / import: {bare[worker_path][1] * args.images / import_cpu:.2f}"
          "   (as a ratio of rates with every core busy; steadier on a shared machine)")


if __name__ == "__main__":
    main()
