"""Finding images by the words in them: OCR, the words channel and the hybrid ranking,
measured in one run.

    python bench/text_search.py [--screenshots 300] [--photos 100] [--collection 10000]
                                [--queries 100] [--latency-points 100000 1000000]
                                [--stores DIR] [--model ViT-B-32] [--smoke]

1. Renders ``--screenshots`` screenshot-like images (terminal, chat, slide and document
   layouts; light and dark; DejaVu Sans, Mono and Serif when installed, else Pillow's own
   font; 15-40 px; one in five slightly blurred) and ``--photos`` photo-like JPEGs without
   text, and takes them in through the real pipeline twice, once with OCR off and once
   with ``ocr.mode=auto``: the CLIP indexing rate of both, OCR's images/s, how many photos
   the gate skipped and what the gate cost a photo.
2. Fills the collection to ``--collection`` images with DISTRACTORS: clearly synthetic
   points (clustered dense vectors, generated text) loaded straight into the store, and
   asks ``--queries`` searches of two or three words that occur together in exactly one
   screenshot (and nowhere else), printing recall@1, recall@10 and MRR of CLIP alone,
   words alone and the hybrid ranking. (The CLIP here has random weights: its column only
   says that it cannot read; a trained CLIP reads little more.)
3. Hybrid search latency (``services.search.search_text``: encode, one batch of the three
   channels, fusion, payloads, snippets) at each ``--latency-points``: synthetic dense
   vectors and real BM25 over generated text. ``--stores`` keeps those stores for later
   runs (1M points take a while to load and index on 2 cores).
"""

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from shared import DEFAULT_WORK_DIR, add_image_rows, model_for, models_dir, parse, synthetic_jpegs
from sqlalchemy import func
from sqlmodel import select

from core.config import ClipSettings, OcrSettings, Settings, WorkerSettings
from core.models import Image as ImageRow
from core.models import ImageSource, ImageStatus, ImageText
from core.runtime import Runtime
from core.valkey import EmbeddedValkey
from core.vectors import IMAGE, TEXT, VectorPoint
from core.vectors.base import HybridQuery
from core.words import Words
from core.words import query_vector as words_query
from services.ingest import submit_image
from services.queue import ingest_queue
from services.search import MAX_RANKED, fused, search_text
from worker.runner import EmbeddedWorker

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ["DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf"]
COMMON = ("the a of to and in for on with is at by from this that error build deploy release team meeting "
          "update review report server failed passed status total revenue user customer design").split()
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
DISTRACTOR_BASE = 10_000_000
"""Ids of the synthetic distractors start here (the real images have small ids)."""


def vocabulary(size: int, rng) -> list[str]:
    """Pronounceable made-up words (``kalomi``): a query of two of them has one right answer."""
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES, rng.integers(2, 4))))
    return sorted(words)


def font(name: str | None, size: int):
    path = FONT_DIR / name if name else None
    return ImageFont.truetype(str(path), size) if path and path.exists() else ImageFont.load_default(size=size)


def render(layout: str, lines: list[str], rng) -> bytes:
    """One screenshot-like PNG of ``lines`` in a ``layout``."""
    dark = bool(rng.random() < 0.5)
    size = int(rng.integers(15, 41)) if layout != "slide" else int(rng.integers(28, 41))
    name = {"terminal": FONTS[1], "document": FONTS[2]}.get(layout, str(rng.choice(FONTS)))
    background, ink = ((28, 30, 34), (220, 224, 228)) if dark else ((252, 252, 250), (30, 30, 30))
    image = Image.new("RGB", (1280, 800), background)
    draw = ImageDraw.Draw(image)
    face, y = font(name, size), 40
    if layout == "slide":
        draw.text((80, y), lines[0], fill=ink, font=font(name, size + 16))
        y += size * 3
        lines = ["• " + line for line in lines[1:]]
    for i, line in enumerate(lines):
        x = 40
        if layout == "chat":
            draw.rounded_rectangle((30, y - 6, 1100, y + size + 8), radius=10,
                                   fill=(52, 56, 64) if dark else (232, 238, 247))
            draw.text((x + 10, y), f"{['ana', 'ben', 'cho'][i % 3]}: {line}", fill=ink, font=face)
        else:
            draw.text((x, y), ("$ " if layout == "terminal" and i % 3 == 0 else "") + line, fill=ink, font=face)
        y += int(size * 1.9)
        if y > 760:
            break
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(0.8))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def screenshots(count: int, vocab: list[str], rng) -> tuple[list[bytes], list[str]]:
    images, texts = [], []
    for i in range(count):
        layout = ["terminal", "chat", "slide", "document"][i % 4]
        lines = [" ".join(rng.choice(COMMON, 2).tolist() + rng.choice(vocab, int(rng.integers(3, 6))).tolist())
                 for _ in range(int(rng.integers(4, 9)))]
        images.append(render(layout, lines, rng))
        texts.append("\n".join(lines))
    return images, texts


def open_runtime(folder: Path, redis_url: str, args, ocr: str) -> Runtime:
    settings = Settings(
        data_dir=folder,
        models_dir=models_dir(args),
        redis_url=redis_url,
        clip=ClipSettings(model=model_for(args)),
        worker=WorkerSettings(index_when_idle_for=10**6),
        ocr=OcrSettings(mode=ocr),
    )
    return Runtime.open(settings)


def ingest(runtime: Runtime, images: list[bytes]) -> tuple[list[int], float, float]:
    """Take the images in with the embedded worker: their ids, the seconds until CLIP had
    indexed all of them, and until OCR had read them too."""
    queue = ingest_queue(runtime)
    ids = [submit_image(runtime, queue, data, source=ImageSource.web, filename=f"img{i}.png")[0].id
           for i, data in enumerate(images)]
    worker = EmbeddedWorker(runtime).start()
    started, indexed = time.perf_counter(), None
    while True:
        with runtime.session() as session:
            done = session.exec(select(func.count()).select_from(ImageRow).where(ImageRow.status == ImageStatus.indexed)).one()
            read = session.exec(select(func.count()).select_from(ImageText)).one()
        now = time.perf_counter() - started
        if indexed is None and done == len(ids):
            indexed = now
        if indexed is not None and (runtime.settings.ocr.mode == "off" or read == len(ids)):
            worker.stop()
            return ids, indexed, now
        time.sleep(0.05)


def pipeline(args, tmp: Path, redis_url: str, images: list[bytes], photos: int) -> tuple[Runtime, list[int]]:
    print(f"\ningest through the pipeline: {len(images) - photos} screenshots + {photos} photos", flush=True)
    off = open_runtime(tmp / "ocr-off", redis_url, args, "off")
    _, clip_off, _ = ingest(off, images)
    off.close()
    on = open_runtime(tmp / "ocr-on", redis_url, args, "auto")
    ids, clip_on, all_read = ingest(on, images)
    with on.session() as session:
        rows = {row.image_id: row for row in session.exec(select(ImageText))}
    shots, pics = ids[: len(images) - photos], ids[len(images) - photos :]
    read = [rows[i].seconds for i in shots if rows[i].status == "read"]
    skipped = [i for i in pics if rows[i].status == "skipped"]
    gate = [rows[i].seconds for i in skipped]
    missed = [i for i in shots if rows[i].status != "read"]
    print(f"  CLIP indexing, OCR off:  {len(images) / clip_off:6.1f} images/s")
    print(f"  CLIP indexing, OCR auto: {len(images) / clip_on:6.1f} images/s   "
          f"ratio {clip_off / clip_on:.2f} (target >= 0.9)")
    print(f"  OCR: {len(read)} screenshots read at {len(read) / sum(read):.2f} images/s "
          f"({1000 * statistics.median(read):.0f} ms each, p50); all read {all_read - clip_on:.0f} s after CLIP was done")
    print(f"  gate: skipped {len(skipped)} of {len(pics)} photos ({100 * len(skipped) / max(1, len(pics)):.0f}%), "
          f"{1000 * statistics.median(gate) if gate else float('nan'):.1f} ms each (p50, decode included; target <= 20 ms); "
          f"screenshots it wrongly skipped: {len(missed)}")
    return on, ids


def distractors(runtime: Runtime, count: int, vocab: list[str], rng, start: int = DISTRACTOR_BASE) -> list[str]:
    """SYNTHETIC points straight into the store: clustered dense vectors and generated words."""
    dim, texts = runtime.embedder.dim, []
    centres = rng.normal(size=(64, dim)).astype(np.float32)
    for offset in range(0, count, 2000):
        ids = np.arange(offset, min(count, offset + 2000))
        dense = centres[ids % 64] + 0.3 * rng.normal(size=(len(ids), dim)).astype(np.float32)
        dense /= np.linalg.norm(dense, axis=1, keepdims=True)
        batch = [" ".join(rng.choice(COMMON, 6).tolist() + rng.choice(vocab, 8).tolist()) for _ in ids]
        texts += batch
        points = []
        for i, vector, text in zip(ids, dense, batch):
            words = Words(caption=text if i % 3 == 0 else None, ocr=None if i % 3 == 0 else text)
            points.append(VectorPoint(id=int(start + i), vectors={IMAGE: vector, **({TEXT: vector} if i % 3 == 0 else {}),
                                                                **words.vectors()},
                                      payload={"source": "web", "created_at": 1.7e9, **words.payload()}))
        runtime.vectors.upsert(points)
    add_image_rows(runtime.engine, [start + i for i in range(count)])
    return texts


def unique_queries(texts: list[str], others: list[str], count: int, rng) -> list[tuple[int, str]]:
    """(screenshot index, two or three of its words found together nowhere else)."""
    bags = [set(t.split()) for t in texts]
    elsewhere = [set(t.split()) for t in others]
    queries = []
    for index in rng.permutation(len(texts)):
        own = [w for w in sorted(bags[index]) if w not in COMMON]
        if len(own) < 3:
            continue
        words = rng.choice(own, int(rng.integers(2, 4)), replace=False).tolist()
        if sum(set(words) <= bag for bag in bags) == 1 and not any(set(words) <= bag for bag in elsewhere):
            queries.append((int(index), " ".join(words)))
        if len(queries) == count:
            break
    return queries


def quality(runtime: Runtime, ids: list[int], queries: list[tuple[int, str]]) -> None:
    space = runtime.space

    def ranks(run) -> list[int | None]:
        found = []
        for index, text in queries:
            ranking = run(text)
            found.append(ranking.index(ids[index]) + 1 if ids[index] in ranking else None)
        return found

    def fused_only(query: HybridQuery) -> list[int]:
        return fused(query, space.vectors.hybrid(query, MAX_RANKED), MAX_RANKED).tolist()

    def clip_only(text):
        return fused_only(HybridQuery(space.embedder.embed_texts([text])[0], None))

    def words_only(text):
        return fused_only(HybridQuery(None, words_query(text)))

    def hybrid(text):
        return [m.id for m in search_text(runtime, text, limit=10).results]

    print(f"\nrecall among {runtime.vectors.count():,} images, {len(queries)} queries of 2-3 words found together in one "
          "screenshot only (target: hybrid recall@10 >= 0.95):")
    for name, run in (("CLIP only", clip_only), ("words only", words_only), ("hybrid", hybrid)):
        found = ranks(run)
        hits = [r for r in found if r is not None]
        recall = {k: sum(r <= k for r in hits) / len(found) for k in (1, 10)}
        mrr = sum(1 / r for r in hits) / len(found)
        print(f"  {name:10}  recall@1 {recall[1]:.2f}   recall@10 {recall[10]:.2f}   MRR {mrr:.3f}")


def latency(args, points: int, folder: Path, redis_url: str, vocab: list[str]) -> None:
    runtime = open_runtime(folder, redis_url, args, "off")
    rng = np.random.default_rng(7)
    if runtime.vectors.count() < points:
        started = time.perf_counter()
        distractors(runtime, points, vocab, rng, start=1)
        print(f"  {points:,} points loaded in {time.perf_counter() - started:.0f} s; building the index ...", flush=True)
        started = time.perf_counter()
        runtime.vectors.build_index()
        print(f"  index built in {time.perf_counter() - started:.0f} s", flush=True)
    texts = [" ".join(rng.choice(vocab, 2)) + f" {i}" for i in range(60)]  # every query new: no cache helps
    search_text(runtime, "warm up")
    service, engine, dense_one, words_one = [], [], [], []
    for text in texts:
        began = time.perf_counter()
        search_text(runtime, text)
        service.append(time.perf_counter() - began)
        dense, words = runtime.embedder.embed_texts([text])[0], words_query(text)
        for into, call, arguments in (
            (engine, runtime.vectors.hybrid, (HybridQuery(dense, words, all_words=text), MAX_RANKED)),
            (dense_one, runtime.vectors.search, (IMAGE, dense, MAX_RANKED, None, None, False)),
            (words_one, runtime.vectors.search, ("words", words, MAX_RANKED, None, None, False)),
        ):
            began = time.perf_counter()
            call(*arguments)
            into.append(time.perf_counter() - began)
    ms = lambda times: 1000 * statistics.median(times)  # noqa: E731
    print(f"  {points:>9,} points: hybrid text search p50 {ms(service):.1f} ms (target <= 35 ms at 1M); "
          f"the engine's batch (one search a list) alone {ms(engine):.1f} ms, against one dense search {ms(dense_one):.1f} ms "
          f"and one words search {ms(words_one):.1f} ms", flush=True)
    runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", type=int, default=300)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--collection", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--latency-points", type=int, nargs="*", default=[100_000])
    parser.add_argument("--stores", type=Path, help="keep the latency stores here and reuse them in later runs")
    parser.add_argument("--latency-only", action="store_true", help="skip the pipeline and recall parts")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = parse(parser, screenshots=6, photos=3, collection=60, queries=4, latency_points=[2000])

    rng = np.random.default_rng(0)
    vocab = vocabulary(3000, rng)
    if not args.latency_only:
        shot_images, shot_texts = screenshots(args.screenshots, vocab, rng)
        photo_images = synthetic_jpegs(args.photos, size=(1024, 768), seed=1)
    with tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp, EmbeddedValkey(Path(tmp) / "valkey") as redis_url:
        if not args.latency_only:
            runtime, ids = pipeline(args, Path(tmp), redis_url, shot_images + photo_images, len(photo_images))
            filler = distractors(runtime, max(0, args.collection - len(ids)), vocab, rng)
            runtime.vectors.build_index()
            quality(runtime, ids, unique_queries(shot_texts, filler, args.queries, rng))
            runtime.close()
        print("\nhybrid search latency, in process (embedded Qdrant Edge + SQLite, one client):")
        for points in args.latency_points:
            latency(args, points, (args.stores or Path(tmp)) / f"latency-{points}", redis_url, vocab)


if __name__ == "__main__":
    main()
