"""Query latency through the HTTP API, next to its bare costs, measured in one run.

    python bench/query.py [--points 100000] [--model ViT-B-32] [--clients 2] [--requests 200]
                          [--stores DIR] [--smoke]

Loads ``--points`` SYNTHETIC vectors (clustered unit vectors, 1 in 5 with a caption
vector) straight into the embedded store, builds its index, then drives the API with
one client, then ``--clients`` concurrent client processes (``--stores DIR`` keeps the
loaded store there and reuses it in later runs: 1M points take minutes to load and index), and prints p50/p95/p99 and
QPS for text search (every query new: no cache helps), click (more like this), search
by example image and the feed (of a user who has searched, clicked and liked 30 images:
each request the next page, as scrolling asks), beside the bare costs measured one at a time: one text encoding, and
one search of each channel text search reads (image, caption, words) at its depth. The
latency ratio compares the one-client p50 with those bare costs; the concurrent runs show
throughput. ``FINDIMAGE_QDRANT_INT8=true`` measures a store of int8-quantized vectors (give
it a ``--stores`` dir of its own, or the float store reopens quantized).
"""

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from shared import (
    DEFAULT_WORK_DIR,
    add_image_rows,
    cpu_seconds,
    model_for,
    models_dir,
    parse,
    stage_seconds,
    synthetic_jpegs,
    touch_store,
)

from cli.serving import create_app
from core.accounts import create_user, issue_token
from core.config import ClipSettings, OcrSettings, Settings, WorkerSettings
from core.models import TokenKind
from core.runtime import Runtime
from core.valkey import EmbeddedValkey
from core.vectors import IMAGE, TEXT, VectorPoint
from core.vectors.base import WORDS as WORDS_CHANNEL
from core.words import Words
from core.words import query_vector as words_query
from services.search import MAX_RANKED

TEXT_STAGES = ("embed", "search", "fuse")
WORDS = "dog cat beach office team whiteboard sunset bicycle pizza mountain snow river chart robot garden".split()


def caption(i: int) -> str | None:
    return f"synthetic {i}" if i % 5 == 0 else None


def load_points(runtime: Runtime, count: int, clusters: int = 200, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    dim = runtime.embedder.dim
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    started = time.perf_counter()
    for start in range(0, count, 2000):
        ids = np.arange(start, min(count, start + 2000))
        vectors = centres[ids % clusters] + 0.3 * rng.normal(size=(len(ids), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        runtime.vectors.upsert(
            [
                VectorPoint(
                    id=int(i) + 1,
                    vectors={IMAGE: v, **({TEXT: v} if i % 5 == 0 else {}), **Words(caption(i)).vectors()},
                    payload={"source": "web", "caption": caption(i), "created_at": 1.7e9, **Words(caption(i)).payload()},
                )
                for i, v in zip(ids, vectors)
            ]
        )
    add_image_rows(runtime.engine, range(1, count + 1))  # clicks and likes refer to their images
    print(f"loaded {count:,} synthetic points in {time.perf_counter() - started:.0f} s; building the index ...", flush=True)
    started = time.perf_counter()
    runtime.vectors.build_index()
    print(f"index built in {time.perf_counter() - started:.0f} s", flush=True)


def drive(kind: str, base: str, jobs: list, cookies: dict) -> list[float]:
    """One client process: run its requests one after another, return their latencies."""
    times = []
    with httpx.Client(base_url=base, timeout=60, cookies=cookies) as client:
        for job in jobs:
            started = time.perf_counter()
            if kind == "health":
                response = client.get("/healthz")
            elif kind == "text":
                response = client.get("/api/search", params={"q": job})
            elif kind == "click":
                response = client.get(f"/api/images/{job}/similar")
            elif kind == "like":
                response = client.put(f"/api/images/{job}/like")
            elif kind == "feed":
                response = client.get("/api/feed")
            else:
                response = client.post("/api/images/search-similar", files={"image_file": ("q.jpg", job, "image/jpeg")})
            if response.is_error:  # (raise_for_status's error does not cross back from a client process)
                raise RuntimeError(f"{kind}: {response.status_code} {response.text[:300]}")
            times.append(time.perf_counter() - started)
    return times


def measure(kind: str, base: str, jobs: list, clients: int, cookies: dict) -> tuple[list[float], float, float]:
    """Latencies, QPS, and the server's CPU seconds a request (this process serves; the
    clients are processes of their own)."""
    shares = [jobs[i::clients] for i in range(clients)]
    with ProcessPoolExecutor(clients) as pool:
        pool.submit(int).result()  # the client processes started before the clock
        started, cpu = time.perf_counter(), cpu_seconds()
        times = [t for part in pool.map(drive, [kind] * clients, [base] * clients, shares, [cookies] * clients)
                 for t in part]
        return times, len(jobs) / (time.perf_counter() - started), (cpu_seconds() - cpu) / len(jobs)


def summary(times: list[float]) -> str:
    p = np.percentile(np.array(times) * 1000, [50, 95, 99])
    return f"p50 {p[0]:7.1f} ms  p95 {p[1]:7.1f} ms  p99 {p[2]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--stores", type=Path, help="keep the loaded store here and reuse it in later runs")
    args = parse(parser, points=2000, clients=2, requests=20)

    clip = ClipSettings(model=model_for(args))
    with tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp, EmbeddedValkey(Path(tmp) / "valkey") as redis_url:
        data_dir = args.stores / f"query-{args.points}" if args.stores else Path(tmp) / "data"
        settings = Settings(
            data_dir=data_dir,
            models_dir=models_dir(args),
            redis_url=redis_url,
            clip=clip,
            worker=WorkerSettings(index_when_idle_for=10**6),
            ocr=OcrSettings(mode="off"),  # the synthetic points have no files to read: no OCR backlog
        )
        runtime = Runtime.open(settings)
        if not (data_dir / "loaded").exists():
            load_points(runtime, args.points)
            (data_dir / "loaded").touch()
        rng = np.random.default_rng(1)
        texts = iter([" ".join(rng.choice(WORDS, 4)) + f" {i}" for i in range(args.requests * 3 + 150)])

        touch_store(data_dir / "vectors")
        runtime.embedder.embed_texts(["warm up"])
        for vector in runtime.embedder.embed_texts(_take(texts, 50)):
            for using in (IMAGE, TEXT):
                runtime.vectors.search(using, vector, MAX_RANKED, with_payload=False)
        queries = _take(texts, 100)
        encode = [_timed(lambda t=t: runtime.embedder.embed_texts([t])) for t in queries]
        # Each bare search gets its own query: repeating one would measure a warm cache.
        probes = runtime.embedder.embed_texts(queries)
        search = [_timed(lambda v=v: runtime.vectors.search(IMAGE, v, MAX_RANKED, with_payload=False)) for v in probes]
        caption_search = [_timed(lambda v=v: runtime.vectors.search(TEXT, v, MAX_RANKED, with_payload=False)) for v in probes]
        words_search = [_timed(lambda q=q: runtime.vectors.search(WORDS_CHANNEL, words_query(q), MAX_RANKED, with_payload=False))
                        for q in queries]
        click_depth = 2 * 7 * 20 + 1
        click_search = [_timed(lambda v=v: runtime.vectors.search(IMAGE, v, click_depth, with_payload=False)) for v in probes]
        channels = statistics.median(search) + statistics.median(caption_search) + statistics.median(words_search)
        bare_text = statistics.median(encode) + channels

        server = uvicorn.Server(uvicorn.Config(create_app(settings, runtime=runtime), port=0, log_level="warning"))
        serving = threading.Thread(target=server.run, daemon=True)
        serving.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        try:
            photos = synthetic_jpegs(8, size=(1280, 960), seed=5)
            clicks = [int(i) for i in rng.integers(1, args.points, args.requests)]
            cookies = _new_user(runtime, base)
            first_example = measure("image", base, photos[:1], 1, cookies)[0][0]  # (the query model warms up at start)
            runs = {("HTTP floor", 1): measure("health", base, list(range(args.requests)), 1, cookies)}
            for clients in sorted({1, args.clients}):
                before = stage_seconds(*TEXT_STAGES)
                runs[("text search", clients)] = measure("text", base, _take(texts, args.requests), clients, cookies)
                if clients == 1:
                    inside = {stage: (seconds - before[stage]) / args.requests
                              for stage, seconds in stage_seconds(*TEXT_STAGES).items()}
                runs[("click", clients)] = measure("click", base, clicks, clients, cookies)
                runs[("example image", clients)] = measure("image", base, [photos[i % 8] for i in range(args.requests // 4)],
                                                           clients, cookies)
            measure("like", base, [int(i) for i in rng.integers(1, args.points, 30)], 1, cookies)  # then the feed has a taste
            for clients in sorted({1, args.clients}):
                runs[("feed", clients)] = measure("feed", base, list(range(args.requests // 2)), clients, cookies)
        finally:
            server.should_exit = True
            serving.join()  # the app's embedded worker stops before the runtime closes
            runtime.close()

    print(f"\n{args.points:,} synthetic vectors (dim {runtime.embedder.dim}), embedded Qdrant Edge, {runtime.embedder.name}, "
          f"1 and {args.clients} client processes")
    print(f"bare: text encode p50 {1000 * statistics.median(encode):.1f} ms; searches (depth {MAX_RANKED}) p50: image "
          f"{1000 * statistics.median(search):.1f} ms, caption {1000 * statistics.median(caption_search):.1f} ms, words "
          f"{1000 * statistics.median(words_search):.1f} ms; click's search p50 {1000 * statistics.median(click_search):.1f} ms")
    for (name, clients), (times, qps, cpu) in runs.items():
        print(f"{name:14} {clients} client{'s' if clients > 1 else ' '}  {summary(times)}  {qps:6.1f} QPS  "
              f"server CPU {1000 * cpu:5.1f} ms")
    print("(HTTP floor: a request to /healthz through the same server and client)")
    print(f"the first search by example image after the start: {1000 * first_example:.1f} ms")
    text_p50 = statistics.median(runs[("text search", 1)][0])
    print(f"text search p50 / (encode + one search per channel) = {text_p50 / bare_text:.2f}   (target <= 1.5)")
    print(f"  inside the server, a text search's stages (one client, mean): encode {1000 * inside['embed']:.1f} ms "
          f"(bare {1000 * statistics.median(encode):.1f}), the engine's batch {1000 * inside['search']:.1f} "
          f"(bare channels {1000 * channels:.1f}), fusion {1000 * inside['fuse']:.1f}; the rest of the p50 "
          f"(HTTP, the caller, payloads, liked flags, the response) {1000 * (text_p50 - sum(inside.values())):.1f}")
    two_image = statistics.median(encode) + 2 * statistics.median(search)
    print(f"  (earlier sessions' measure, encode + 2 image searches: {text_p50 / two_image:.2f})")


def _new_user(runtime: Runtime, base: str) -> dict:
    """The session cookie of a new user, signed in by a login link. An admin, as the local
    user measured before was: the synthetic points have no audience. New, because a reused
    store's earlier runs left their user's history, likes and shown images behind (a feed
    that has shown thousands of images keeps them out of its searches)."""
    with runtime.session() as session:
        link = issue_token(session, create_user(session, f"bench-{time.time_ns()}", is_admin=True), TokenKind.login)
    signed_in = httpx.get(f"{base}/login/{link}")
    if not signed_in.cookies:
        raise SystemExit(f"The login link did not sign in: {signed_in.status_code} {signed_in.text[:200]}")
    return dict(signed_in.cookies)


def _take(items, count: int) -> list:
    return [next(items) for _ in range(count)]


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
