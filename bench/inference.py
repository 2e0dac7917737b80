"""CLIP inference per backend on this machine, side by side in one run.

    python bench/inference.py [--model ViT-B-32] [--threads 0] [--work-dir /tmp/findimage-bench] [--smoke]

Prints, for torch fp32, torch bf16 (where the CPU has native bf16), ONNX Runtime fp32 and
ONNX Runtime int8 (the default backend: ``auto``):
  - images/s at batch 1, 8 and 32, and the text query time (one query, median);
  - the least cosine to torch fp32 over the run's images and queries;
  - what the default backend's calibration picks for image batches on this machine;
then the cold start of the query path (process start to first text embedding, and peak
RSS) for ONNX and torch, and of the API process; then image decoding: full-size decode +
open_clip's exact preprocessing against reduced-size decode + box pre-shrink; then the
worker's decoding with Pillow against libvips (when pyvips is installed).

The model has random weights, saved once in the work dir (its ONNX export too): the speed
is that of trained weights, and nothing is downloaded.
"""

import argparse
import io
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image
from shared import DEFAULT_WORK_DIR, ROOT, model_for, models_dir, parse, synthetic_jpegs

from core.clip.calibration import BATCH, calibrate
from core.clip.export import probe_images
from core.clip.onnx_backend import OnnxEmbedder
from core.clip.preprocess import Preprocess
from core.clip.torch_backend import TorchEmbedder, cpu_has_native_bf16
from core.config import ClipSettings, LimitSettings
from core.decoding import THUMBNAIL_SIZE, decode_for_index, make_thumbnail

BATCHES = (1, 8, 32)
PHOTOS = {(1280, 960): 8, (4000, 3000): 8}
"""Photo sizes the decoding is timed at, and how many photos of each (median)."""
SMOKE_PHOTOS = {(1280, 960): 2}
QUERIES = [
    f"a photo of {thing} in the {place}"
    for thing in ("a dog", "two cats", "the team", "a whiteboard")
    for place in ("office", "park", "rain", "snow", "kitchen")
]

COLD_START = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    def peak_rss_kb():  # VmHWM: this process's own peak (ru_maxrss would report the parent's)
        return next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM"))

    kind, clip, models_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    from core.config import ClipSettings, Settings
    if kind == "api":
        from fastapi.testclient import TestClient
        from cli.serving import create_app
        settings = Settings(data_dir=sys.argv[4], models_dir=models_dir, clip=ClipSettings.model_validate_json(clip),
                            allowed_hosts=["testserver"])
        with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
            client.app.state.runtime.embedder.embed_texts(["a photo of a dog"])
            print(peak_rss_kb(), "torch" in sys.modules, flush=True)
    else:
        if kind == "onnx":
            from core.clip.onnx_backend import OnnxEmbedder
            embedder = OnnxEmbedder(ClipSettings.model_validate_json(clip), models_dir)
        else:
            from core.clip.torch_backend import TorchEmbedder
            embedder = TorchEmbedder(ClipSettings.model_validate_json(clip))
        embedder.embed_texts(["a photo of a dog"])
        print(peak_rss_kb(), "torch" in sys.modules, flush=True)
    """
)


def images_per_second(embedder, pixels: np.ndarray, batch: int) -> float:
    count = max(4 * batch, 16)
    data = np.concatenate([pixels] * (count // len(pixels) + 1))[:count]
    embedder.embed_pixels(data[:batch])  # warm up
    started = time.perf_counter()
    for i in range(0, count, batch):
        embedder.embed_pixels(data[i : i + batch])
    return count / (time.perf_counter() - started)


def query_ms(embedder) -> float:
    embedder.embed_texts(["warm up"])
    times = []
    for query in QUERIES:
        started = time.perf_counter()
        embedder.embed_texts([query])
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def cold_start(kind: str, clip: ClipSettings, models_dir: Path, data_dir: Path) -> tuple[float, float, bool]:
    """(seconds from process start to the first text embedding, peak RSS in MB, torch imported)"""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", COLD_START, kind, clip.model_dump_json(), str(models_dir), str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    line = child.stdout.readline()
    elapsed = time.perf_counter() - started
    child.wait()
    rss_kb, torch_loaded = line.split()
    return elapsed, int(rss_kb) / 1024, torch_loaded == "True"


def decoding(reference: TorchEmbedder, photos: dict) -> list[str]:
    """Full-size decode + open_clip's exact preprocessing, against the worker's path
    (reduced-size decode, box pre-shrink), whose thumbnail is timed apart."""
    exact = Preprocess.from_dict({**reference.preprocess.to_dict(), "reducing_gap": None})
    lines = []
    for size, count in photos.items():
        timings = {"full": [], "worker": [], "thumbnail": []}
        full, fast = [], []
        for data in synthetic_jpegs(count, size=size, seed=1):
            started = time.perf_counter()
            full.append(exact(Image.open(io.BytesIO(data)).convert("RGB")))
            timings["full"].append(time.perf_counter() - started)
            started = time.perf_counter()
            decoded = decode_for_index(data, reference.image_size, LimitSettings())
            fast.append(reference.preprocess(decoded.pixels))
            timings["worker"].append(time.perf_counter() - started)
            started = time.perf_counter()
            make_thumbnail(decoded.pixels)
            timings["thumbnail"].append(time.perf_counter() - started)
        ms = {k: 1000 * statistics.median(v) for k, v in timings.items()}
        model_ms = ms["worker"] - ms["thumbnail"]
        cosine = np.sum(reference.embed_pixels(np.stack(full)) * reference.embed_pixels(np.stack(fast)), axis=1)
        lines.append(
            f"{size[0]}x{size[1]:<5} full decode + exact preprocess {ms['full']:6.1f} ms | reduced decode + "
            f"pre-shrink {model_ms:5.1f} ms ({ms['full'] / model_ms:.1f}x), plus the thumbnail {ms['thumbnail']:4.1f} ms "
            f"| least cosine {cosine.min():.5f}"
        )
    return lines


def libvips_against_pillow(reference: TorchEmbedder, photos: dict) -> list[str]:
    """Decode with shrink-on-load + a 384 px JPEG thumbnail + the model's 224 px input, with
    libvips (pyvips, what immich's thumbnails use) against Pillow with draft, per photo."""
    try:
        import pyvips
    except (ImportError, OSError) as exc:
        return [f"libvips: not measured (pip install pyvips pyvips-binary): {exc}"]
    side = reference.image_size
    lines = []
    for size, count in photos.items():
        timings = {"pillow": [], "libvips": []}
        for data in synthetic_jpegs(count, size=size, seed=2):
            started = time.perf_counter()
            decoded = decode_for_index(data, side, LimitSettings())
            reference.preprocess(decoded.pixels)
            timings["pillow"].append(time.perf_counter() - started)
            started = time.perf_counter()
            shrink = max(1, min(8, min(size) // side))  # JPEG shrink-on-load: 1, 2, 4 or 8
            shrink = 1 << (shrink.bit_length() - 1)
            image = pyvips.Image.new_from_buffer(data, "", shrink=shrink).copy_memory()
            image.thumbnail_image(THUMBNAIL_SIZE).jpegsave_buffer(Q=85)
            scale = side / min(image.width, image.height)
            model = image.resize(scale, kernel="cubic")
            left, top = (model.width - side) // 2, (model.height - side) // 2
            np.ndarray(buffer=model.crop(left, top, side, side).write_to_memory(), dtype=np.uint8, shape=(side, side, 3))
            timings["libvips"].append(time.perf_counter() - started)
        ms = {k: 1000 * statistics.median(v) for k, v in timings.items()}
        lines.append(f"{size[0]}x{size[1]:<5} Pillow (draft, thumbnail, model input) {ms['pillow']:6.1f} ms | libvips "
                     f"{pyvips.version(0)}.{pyvips.version(1)} {ms['libvips']:6.1f} ms ({ms['pillow'] / ms['libvips']:.2f}x)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: one per core)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = parse(parser)

    model = model_for(args)
    exports = models_dir(args)
    settings = {
        p: ClipSettings(model=model, backend=b, precision=p, threads=args.threads)
        for b, p in (("torch", "fp32"), ("torch", "bf16"), ("onnx", "fp32"), ("onnx", "int8"))
    }
    backends = {"torch fp32": TorchEmbedder(settings["fp32"])}
    if cpu_has_native_bf16():
        backends["torch bf16 weights"] = TorchEmbedder(settings["bf16"])
    print("Exporting to ONNX (once per work dir) ...", flush=True)
    backends["onnx fp32"] = OnnxEmbedder(settings["fp32"], exports)
    backends["onnx int8 (default)"] = OnnxEmbedder(settings["int8"], exports)
    backends["onnx fp32"].load()

    reference = backends["torch fp32"]
    pixels = reference.preprocess.batch(probe_images(reference.image_size) * 4)
    expected_images, expected_texts = reference.embed_pixels(pixels), reference.embed_texts(QUERIES)

    print(f"\n{model if args.smoke else args.model}, {args.threads or 'all'} threads; images/s by batch size, one text query (median)\n")
    print(
        f"{'backend':22} "
        + " ".join(f"{'b=' + str(b):>7}" for b in BATCHES)
        + "   query ms   least cosine to torch fp32 (image / text)"
    )
    for name, embedder in backends.items():
        rates = [images_per_second(embedder, pixels, b) for b in BATCHES]
        ms = query_ms(embedder)
        image_cos = np.min(np.sum(expected_images * embedder.embed_pixels(pixels), axis=1))
        text_cos = np.min(np.sum(expected_texts * embedder.embed_texts(QUERIES), axis=1))
        print(
            f"{name:22} " + " ".join(f"{r:7.1f}" for r in rates) + f"   {ms:8.1f}   {image_cos:.5f} / {text_cos:.5f}",
            flush=True,
        )

    calibration = calibrate(ClipSettings(model=model, threads=args.threads), exports)
    timed = ", ".join(f"{path} {rate:.1f}" for path, rate in calibration.images_per_s.items())
    print(f"\ncalibration (what the default backend embeds image batches on here): {calibration.batch_path}; "
          f"images/s at batch {BATCH}: {timed}")

    print("\ncold start: process start -> first text embedding")
    data_dir = args.work_dir / "cold-start-data"
    starts = [
        ("onnx", "query path, onnx int8", settings["int8"]),
        ("torch", "query path, torch", settings["fp32"]),
        ("api", "API process (default)", ClipSettings(model=model, threads=args.threads)),
    ]
    for kind, label, clip in (s for s in starts if not (args.smoke and s[0] == "torch")):  # (torch's takes 9 s)
        seconds, rss, torch_loaded = cold_start(kind, clip, exports, data_dir)
        print(f"  {label:24} {seconds:5.2f} s   peak RSS {rss:6.0f} MB   torch imported: {torch_loaded}", flush=True)

    photos = SMOKE_PHOTOS if args.smoke else PHOTOS
    print(f"\nimage decoding for the model (median of {max(photos.values())} photos)")
    for line in decoding(reference, photos):
        print("  " + line)
    print(f"\nPillow against libvips: decode, thumbnail and model input (median of {max(photos.values())} photos)")
    for line in libvips_against_pillow(reference, photos):
        print("  " + line)


if __name__ == "__main__":
    main()
