"""Load test: uploads and searches at once for a bounded time, then a check that nothing
was lost.

    python bench/load.py [--seconds 60] [--uploaders 2] [--searchers 2] [--model ViT-B-32]
                         [--uploads-per-minute N] [--reindex-after SECONDS] [--smoke]

findimage runs on the embedded defaults (Valkey, Qdrant Edge, SQLite, the ingest worker
thread) on a loopback port of a throwaway data dir. Client processes, for a fixed time:
  - upload photo-like JPEGs, a few at a time; one upload in ten repeats an earlier picture
    (a duplicate, answered with the stored image) and one in twenty is a broken file
    (refused with 400: by design);
  - search by text, open "more like this" on a result and read the feed.
Then it waits for the queue to drain and checks, with the server stopped, that every
accepted image is ``indexed``, that there is exactly one vector per image and no row that
was not accepted, and that no request failed other than by design (400 for the broken
files, 429 when the per-user upload limit is reached; all clients are the one local user,
so the limit is raised by default to load the server rather than the limiter). It prints requests per second and
latency percentiles per kind, and exits 1 if the check fails.

With ``--reindex-after``, a ``findimage reindex`` (into the same model: every image
re-embedded into a new vector space) is asked for that many seconds into the load. The
latencies are then also shown before, during and after it, and the check reads the space
search uses at the end.

The model has random weights (saved once in the work dir): speed is the same as with
trained ones, and nothing is downloaded.
"""

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from shared import DEFAULT_WORK_DIR, model_for, models_dir, parse, serve, synthetic_jpegs
from sqlmodel import select

from cli.serving import create_app
from core.config import ClipSettings, LimitSettings, Settings, WorkerSettings
from core.db import create_db_engine, session_scope
from core.models import Image, ImageStatus
from core.runtime import Runtime
from core.spaces.records import active_space, start_reindex
from core.valkey import EmbeddedValkey
from core.vectors import open_vector_store

WORDS = ["a red car", "mountains at dawn", "a cat on a sofa", "the team offsite", "a whiteboard", "a chart", "beach"]
BY_DESIGN = {("upload-broken", 400), ("upload", 429), ("upload-duplicate", 429), ("upload-broken", 429)}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    started: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """Wall-clock start of each request, beside its latency (to split them by phase)."""
    statuses: Counter = field(default_factory=Counter)
    accepted: set[int] = field(default_factory=set)
    """Ids of the images the server said it took (new or duplicate)."""

    def add(self, kind: str, response: httpx.Response, seconds: float) -> None:
        self.latencies[kind].append(seconds)
        self.started[kind].append(time.time() - seconds)
        self.statuses[(kind, response.status_code)] += 1

    def merge(self, other: "Tally") -> None:
        for kind, values in other.latencies.items():
            self.latencies[kind] += values
            self.started[kind] += other.started[kind]
        self.statuses.update(other.statuses)
        self.accepted |= other.accepted


def timed_request(client: httpx.Client, tally: Tally, kind: str, method: str, url: str, **kwargs) -> httpx.Response:
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    tally.add(kind, response, time.perf_counter() - started)
    return response


def uploader(base: str, seconds: float, seed: int) -> Tally:
    tally, rng, sent = Tally(), random.Random(seed), []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.monotonic() < deadline:
            roll = rng.random()
            if roll < 0.05:
                kind, data = "upload-broken", b"\xff\xd8\xff\xe0 not really a jpeg"
            elif roll < 0.15 and sent:
                kind, data = "upload-duplicate", rng.choice(sent)
            else:
                kind, data = "upload", synthetic_jpegs(1, size=(640, 480), seed=seed * 1_000_000 + len(sent))[0]
                sent.append(data)
            files = {"files": ("photo.jpg", data, "image/jpeg")}
            response = timed_request(client, tally, kind, "POST", "/api/images", files=files)
            if response.status_code == 202:
                tally.accepted |= {image["id"] for image in response.json()["images"]}
    return tally


def searcher(base: str, seconds: float, seed: int) -> Tally:
    tally, rng = Tally(), random.Random(seed)
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.monotonic() < deadline:
            found = timed_request(client, tally, "search", "GET", "/api/search", params={"q": rng.choice(WORDS)})
            results = found.json().get("results", []) if found.status_code == 200 else []
            if results:
                image_id = rng.choice(results)["id"]
                timed_request(client, tally, "similar", "GET", f"/api/images/{image_id}/similar")
            timed_request(client, tally, "feed", "GET", "/api/feed")
    return tally


def wait_for_drain(runtime: Runtime, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with runtime.session() as session:
            if session.exec(select(Image.id).where(Image.status == ImageStatus.queued).limit(1)).first() is None:
                break
        time.sleep(0.2)
    return time.monotonic() - started


def check(settings: Settings, dim: int, tally: Tally) -> list[str]:
    """What went wrong, read from the stores with the server stopped."""
    problems = []
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        rows = {image.id: image.status for image in session.exec(select(Image))}
        collection = active_space(session, settings).collection
    engine.dispose()
    vectors = open_vector_store(settings, collection)
    vectors.ensure_collection(dim)
    stored = {point.id for point in vectors.retrieve(list(rows))} if rows else set()
    count = vectors.count()
    vectors.close()

    not_indexed = {i: s.value for i, s in rows.items() if s != ImageStatus.indexed}
    if not_indexed:
        problems.append(f"{len(not_indexed)} accepted images are not indexed: {dict(list(not_indexed.items())[:5])}")
    if set(rows) != tally.accepted:
        problems.append(f"rows {len(rows)} != accepted {len(tally.accepted)}: extra {sorted(set(rows) - tally.accepted)[:5]}")
    if count != len(rows) or stored != set(rows):
        problems.append(f"{count} vectors for {len(rows)} images (missing {sorted(set(rows) - stored)[:5]})")
    unexpected = {
        f"{kind} {status}": n
        for (kind, status), n in tally.statuses.items()
        if status >= 400 and (kind, status) not in BY_DESIGN
    }
    if unexpected:
        problems.append(f"requests failed other than by design: {unexpected}")
    return problems


def report(tally: Tally, seconds: float, drain: float, model: str, clients: str) -> None:
    print(f"\nmodel {model}, {clients}, {seconds:.0f} s of load, queue drained {drain:.1f} s after")
    print(f"{'kind':18} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8}  statuses")
    for kind, values in sorted(tally.latencies.items()):
        ms = np.asarray(values) * 1000
        statuses = ", ".join(f"{status}: {n}" for (k, status), n in sorted(tally.statuses.items()) if k == kind)
        print(
            f"{kind:18} {len(values):8} {len(values) / seconds:7.1f} "
            f"{np.percentile(ms, 50):8.1f} {np.percentile(ms, 95):8.1f}  {statuses}"
        )
    print(f"images accepted: {len(tally.accepted)}")


@dataclass
class Reindex:
    """A reindex asked for ``after`` seconds into the load; when it started and switched."""

    after: float
    asked: float | None = None
    switched: float | None = None
    images: int = 0

    def run(self, runtime: Runtime, stop: threading.Event) -> None:
        if stop.wait(self.after):
            return
        with runtime.session() as session:
            clip = runtime.settings.clip
            space = start_reindex(session, runtime.settings, clip.model, clip.pretrained)
        self.asked, self.images = time.time(), space.total
        while not stop.wait(0.2):
            if runtime.space.id == space.id:
                self.switched = time.time()
                return

    def wait(self, timeout: float) -> None:
        """Until it has switched (the load is over by now), or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.asked is not None and self.switched is None and time.monotonic() < deadline:
            time.sleep(0.2)

    def report(self, tally: Tally, load_ended: float) -> None:
        if self.asked is None:
            return print("\nreindex: the load ended before it was asked for")
        end = self.switched or float("inf")
        took = (
            f"switched {self.switched - self.asked:.1f} s after it was asked for "
            f"({'during the load' if self.switched <= load_ended else f'{self.switched - load_ended:.1f} s after the load'})"
            if self.switched
            else "not switched"
        )
        print(f"\nreindex of {self.images} images asked for {self.after:.0f} s in; {took}")
        print(f"{'kind':10} {'phase':7} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8}  statuses >= 400")
        for kind in ("search", "similar", "feed"):
            started, seconds = np.asarray(tally.started[kind]), np.asarray(tally.latencies[kind]) * 1000
            phases = {"before": started < self.asked, "during": (started >= self.asked) & (started < end), "after": started >= end}
            for phase, chosen in phases.items():
                if chosen.any():
                    print(f"{kind:10} {phase:7} {chosen.sum():8} {np.percentile(seconds[chosen], 50):8.1f} "
                          f"{np.percentile(seconds[chosen], 95):8.1f}")
        failed = {f"{kind} {status}": n for (kind, status), n in tally.statuses.items() if kind in ("search", "similar", "feed") and status >= 400}
        print(f"search, similar and feed answers >= 400 over the whole run: {failed or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--searchers", type=int, default=2)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument(
        "--uploads-per-minute", type=int, default=1_000_000, help="the per-user limit (all clients are one user)"
    )
    parser.add_argument("--drain-timeout", type=float, default=600, help="most seconds to wait for indexing after")
    parser.add_argument("--reindex-after", type=float, help="ask for a reindex this many seconds into the load")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = parse(parser, seconds=4, uploaders=1, searchers=1, drain_timeout=120)

    clip = ClipSettings(model=model_for(args))
    with (
        tempfile.TemporaryDirectory(prefix="findimage-load-") as tmp,
        EmbeddedValkey(Path(tmp) / "valkey") as redis_url,
    ):
        settings = Settings(
            data_dir=Path(tmp) / "data",
            models_dir=models_dir(args),
            redis_url=redis_url,
            clip=clip,
            limits=LimitSettings(uploads_per_minute=args.uploads_per_minute),
            worker=WorkerSettings(index_when_idle_for=5),
        )
        runtime = Runtime.open(settings)
        dim = runtime.embedder.dim
        server, thread, base = serve(create_app(settings, runtime=runtime))
        tally, stop = Tally(), threading.Event()
        reindex = Reindex(args.reindex_after) if args.reindex_after is not None else None
        if reindex:
            threading.Thread(target=reindex.run, args=(runtime, stop), daemon=True).start()
        try:
            print(f"Load for {args.seconds:.0f} s on {base} ...", flush=True)
            started = time.monotonic()
            with ProcessPoolExecutor(args.uploaders + args.searchers) as pool:
                futures = [pool.submit(uploader, base, args.seconds, n + 1) for n in range(args.uploaders)]
                futures += [pool.submit(searcher, base, args.seconds, 100 + n) for n in range(args.searchers)]
                for future in futures:
                    tally.merge(future.result())
            seconds, load_ended = time.monotonic() - started, time.time()
            drain = wait_for_drain(runtime, args.drain_timeout)
            if reindex:
                reindex.wait(args.drain_timeout)
        finally:
            stop.set()
            server.should_exit = True
            thread.join()
            runtime.close()
        clients = f"{args.uploaders} upload + {args.searchers} search clients"
        report(tally, seconds, drain, f"{clip.model} on {runtime.embedder.name}", clients)
        if reindex:
            reindex.report(tally, load_ended)
        problems = check(settings, dim, tally)
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        return 1
    print("OK: every accepted image indexed exactly once; no request failed other than by design")
    return 0


if __name__ == "__main__":
    sys.exit(main())
