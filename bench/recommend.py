"""How good and how fast the personal feed is, against baselines measured in the same run.

    python bench/recommend.py [--items 20000] [--users 40] [--rounds 8] [--latency-points 100000 1000000]
                              [--stores DIR] [--smoke]

A SYNTHETIC world: items in topic clusters of a 512-d space (CLIP's width), topics in
families of 10 (sibling topics are alike: "dogs on beaches" and "dogs in snow"; how alike
is ``--sibling-spread``, and the run prints the cosines it makes); users with hidden tastes of three topics (from different families) weighted
0.5/0.3/0.2, who start with one like per topic. Each round, every
method shows each user 20 items they have not been shown; the user likes those of their
topics (80% of the time) and, now and then, something else (3%: stray likes, as people
do). Printed per method, over all rounds:

  hit-rate@20  the share of the 20 shown items that match the user's hidden taste
  nDCG@20      the same, graded by the topic's weight in the taste, and by rank

Methods: ours (the real feed: ``services.signals.like`` and ``services.feed``, on
the embedded Qdrant Edge store and SQLite); ours again with users who mark a third of
the strays they are shown "not interested" (``services.signals.not_interested``);
random, most-liked (across all users), the
mean of the user's liked vectors, and Qdrant's recommend with best_score over the liked
items. Then how long the exact rebuild of a taste takes (``recommender.taste.build_taste``,
what an unlike or a forget runs) for a person with ``--rebuild-signals`` signals, and the
feed's latency (``feed_page``, in process) for a user with 30 likes over
``--latency-points`` items.
"""

import argparse
import math
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import qdrant_edge as qe
import redis
from shared import add_image_rows, parse, touch_store

from core.access import EVERYONE, Viewer
from core.accounts import create_user
from core.config import Settings, TasteSettings, WorkerSettings
from core.db import create_db_engine, session_scope
from core.models import LikeSource
from core.runtime import Runtime
from core.spaces.live import LiveSpaces, OpenSpace
from core.spaces.records import active_space
from core.storage import FileStore
from core.valkey import EmbeddedValkey, connect_redis
from core.vectors import AUDIENCE, IMAGE, SearchFilter, VectorPoint, open_vector_store
from core.vectors.base import as_list
from recommender.taste import Signal, build_taste
from services.feed import feed_page
from services.signals import like, not_interested

DIM = 512
PAGE = 20
TASTE_WEIGHTS = (0.5, 0.3, 0.2)
HIDE_SHARE = 1 / 3


class World:
    def __init__(self, items: int, topics: int, seed: int = 0, sibling_spread: float = 0.35):
        rng = np.random.default_rng(seed)
        self.rng = rng
        families = _unit(rng.normal(size=(math.ceil(topics / 10), DIM)))
        centres = _unit(families[np.arange(topics) // 10] + sibling_spread * _unit(rng.normal(size=(topics, DIM))))
        self.family = np.arange(topics) // 10
        self.topic = np.arange(items) % topics
        # noise of norm ~1 around each centre: cosine ~0.5 within a topic, ~0 across
        self.vectors = _unit(centres[self.topic] + rng.normal(size=(items, DIM)) / math.sqrt(DIM))
        self.ids = np.arange(1, items + 1)

    def describe(self) -> str:
        """Mean cosine between two items of one topic, of sibling topics, of other families."""
        topics = self.topic.max() + 1
        a, same, sibling = self.vectors[:topics], self.vectors[topics : 2 * topics], np.roll(self.vectors[:topics], 1, 0)
        other = self.vectors[(np.arange(topics) + 10 * (topics // 20) + 5) % topics]
        same_family = self.family[np.roll(np.arange(topics), 1)] == self.family
        cos = lambda x, y: float(np.mean(np.sum(x * y, axis=1)))  # noqa: E731
        return (f"item-to-item cosine: same topic {cos(a, same):.2f}, sibling topic "
                f"{cos(a[same_family], sibling[same_family]):.2f}, other family {cos(a, other):.2f}")

    def tastes(self, users: int) -> list[dict[int, float]]:
        families = self.family.max() + 1
        tastes = []
        for _ in range(users):
            picked = self.rng.choice(families, 3, replace=False)
            topics = [int(f * 10 + self.rng.integers(0, 10)) for f in picked]
            tastes.append(dict(zip(topics, TASTE_WEIGHTS)))
        return tastes

    def topic_of(self, image_id: int) -> int:
        return int(self.topic[image_id - 1])

    def seed_likes(self, taste: dict[int, float]) -> list[int]:
        return [int(self.rng.choice(self.ids[self.topic == t])) for t in taste]

    def reactions(self, taste: dict[int, float], shown: list[int]) -> list[int]:
        return [i for i in shown
                if self.rng.random() < (0.8 if self.topic_of(i) in taste else 0.03)]

    def strays_hidden(self, taste: dict[int, float], shown: list[int]) -> list[int]:
        """The shown items not to the user's taste that they mark "not interested" (a third),
        thrown with dice of their own: the likes stay the same for every method."""
        return [i for i in shown if self.topic_of(i) not in taste and self.hide_rng.random() < HIDE_SHARE]


def open_parts(work: Path, world: World, cache: redis.Redis) -> Runtime:
    """The world loaded into a store under ``work`` (and indexed), or the one loaded there before."""
    settings = Settings(data_dir=work, worker=WorkerSettings(index_after_points=10_000))
    engine = create_db_engine(settings)
    with session_scope(engine) as session:
        space = active_space(session, settings)
    vectors = open_vector_store(settings, space.collection)
    vectors.ensure_collection(DIM)
    loaded = work / "loaded"
    if not loaded.exists():
        _load(engine, vectors, world)
        loaded.touch()
    # The feed needs no model or queue: the parts it uses (the cache keeps its candidates), and
    # nothing faked in their place (a synthetic space has no model: nothing here embeds a text
    # or rebuilds a taste across spaces).
    runtime = Runtime(settings, engine, FileStore(settings.files_dir), redis=cache)
    runtime.live = LiveSpaces(settings, runtime.session, active=OpenSpace(space.id, "synthetic", space.collection, None, vectors))
    return runtime


def _load(engine, vectors, world: World) -> None:
    add_image_rows(engine, world.ids)
    for start in range(0, len(world.ids), 5000):
        vectors.upsert([VectorPoint(int(i), {IMAGE: v}, {"source": "web", AUDIENCE: [EVERYONE]})
                        for i, v in zip(world.ids[start:start + 5000], world.vectors[start:start + 5000])])
    vectors.build_index()


class Ours:
    def __init__(self, runtime: Runtime, users: int, hides: bool = False):
        self.runtime, self.hides = runtime, hides
        self.name = "ours + not interested" if hides else "ours (multi-interest feed)"
        with runtime.session() as session:
            self.user_ids = [create_user(session, f"sim-{u}-{time.monotonic_ns()}").id for u in range(users)]

    def like(self, user: int, image_id: int) -> None:
        with self.runtime.session() as session:
            like(self.runtime, session, self.user_ids[user], image_id, LikeSource.web)

    def hide(self, user: int, image_id: int) -> None:
        if self.hides:
            with self.runtime.session() as session:
                not_interested(self.runtime, session, self.user_ids[user], image_id)

    def show(self, user: int, seen: set[int]) -> list[int]:
        with self.runtime.session() as session:
            return [item.id for item in feed_page(self.runtime, session, self.user_ids[user], Viewer(), PAGE).items]


class Baseline:
    def __init__(self, name: str, runtime: Runtime, world: World, users: int):
        self.name, self.runtime, self.world = name, runtime, world
        self.likes: list[list[int]] = [[] for _ in range(users)]
        self.popularity: Counter = Counter()

    def like(self, user: int, image_id: int) -> None:
        self.likes[user].append(image_id)
        self.popularity[image_id] += 1

    def show(self, user: int, seen: set[int]) -> list[int]:
        excluded = seen | set(self.likes[user])
        liked = self.world.vectors[np.array(self.likes[user]) - 1]
        if self.name == "random":
            pool = np.setdiff1d(self.world.ids, list(excluded))
            return self.world.rng.choice(pool, PAGE, replace=False).tolist()
        if self.name == "most-liked":
            ranked = [i for i, _ in self.popularity.most_common() if i not in excluded][:PAGE]
            pool = np.setdiff1d(self.world.ids, list(excluded | set(ranked)))
            return ranked + self.world.rng.choice(pool, PAGE - len(ranked), replace=False).tolist()
        if self.name == "mean of liked vectors":
            hits = self.runtime.vectors.search(IMAGE, _unit(liked.mean(axis=0)), PAGE,
                                               where=SearchFilter(exclude=frozenset(excluded)), with_payload=False)
            return [h.id for h in hits]
        request = qe.QueryRequest(  # Qdrant's recommend, best_score strategy, over every liked item
            limit=PAGE,
            query=qe.Query.RecommendBestScore(qe.RecommendQuery([as_list(v) for v in liked], []), using=IMAGE),
            filter=qe.Filter(must_not=[qe.HasIdCondition(set(excluded))]),
        )
        return [p.id for p in self.runtime.vectors.shard.query(request)]


def simulate(method, world: World, tastes: list[dict[int, float]], rounds: int) -> tuple[float, float]:
    hits, ndcgs = [], []
    seen: list[set[int]] = [set() for _ in tastes]
    for user, taste in enumerate(tastes):
        for image_id in world.seed_likes(taste):
            method.like(user, image_id)
    ideal = _dcg(sorted([max(TASTE_WEIGHTS)] * PAGE, reverse=True))
    for _ in range(rounds):
        for user, taste in enumerate(tastes):
            shown = method.show(user, seen[user])
            seen[user] |= set(shown)
            gains = [taste.get(world.topic_of(i), 0.0) for i in shown]
            hits.append(sum(g > 0 for g in gains) / PAGE)
            ndcgs.append(_dcg(gains) / ideal)
            for image_id in world.reactions(taste, shown):
                method.like(user, image_id)
            for image_id in world.strays_hidden(taste, shown):
                if hasattr(method, "hide"):
                    method.hide(user, image_id)
    return statistics.mean(hits), statistics.mean(ndcgs)


def feed_latency(points: int, work: Path, cache: redis.Redis, samples: int = 60) -> float:
    world = World(points, topics=max(200, points // 500), seed=1)
    started = time.perf_counter()
    runtime = open_parts(work, world, cache)
    print(f"  {points:,} items loaded and indexed in {time.perf_counter() - started:.0f} s", flush=True)
    touch_store(work / "vectors")
    ours = Ours(runtime, 1)
    taste = world.tastes(1)[0]
    for t, n in zip(taste, (15, 10, 5)):  # 30 likes over three topics
        for image_id in world.rng.choice(world.ids[world.topic == t], n, replace=False):
            ours.like(0, int(image_id))
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        ours.show(0, set())
        times.append(time.perf_counter() - began)
    runtime.vectors.close()
    runtime.engine.dispose()
    return statistics.median(times[5:])


def rebuild_time(world: World, signals: int, samples: int = 5) -> float:
    """Median seconds of one exact rebuild of a person's taste from ``signals`` signals over
    90 days: likes, clicks and searches (weights 1.0, 0.3, 0.5) near three topics, a stray
    in ten, a "not interested" in fifty (the settings' half-life and interests)."""
    rng = np.random.default_rng(7)
    topics = list(world.tastes(1)[0])
    chosen = [int(rng.choice(world.ids[world.topic == rng.choice(topics)])) if rng.random() > 0.1
              else int(rng.choice(world.ids)) for _ in range(signals)]
    weights = rng.choice([1.0, 0.3, 0.5, -1.0], signals, p=[0.2, 0.5, 0.28, 0.02])
    times = np.sort(rng.uniform(0, 90 * 86400, signals))
    made = [Signal(n, world.vectors[i - 1], float(w), float(t)) for n, (i, w, t) in enumerate(zip(chosen, weights, times))]
    params = TasteSettings()
    took = []
    for _ in range(samples):
        started = time.perf_counter()
        build_taste(made, DIM, 90 * 86400, params.half_life, params.max_interests, params.join_above)
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sibling-spread", type=float, default=0.35,
                        help="how far sibling topics' centres stray from their family's (smaller: more alike)")
    parser.add_argument("--latency-points", type=int, nargs="*", default=[100_000])
    parser.add_argument("--stores", type=Path, help="keep the latency stores here and reuse them in later runs "
                        "(indexing 1M points takes tens of minutes on 2 cores)")
    parser.add_argument("--latency-only", action="store_true", help="skip the quality simulation")
    parser.add_argument("--rebuild-signals", type=int, default=5000)
    args = parse(parser, items=2000, topics=40, users=4, rounds=2, latency_points=[5000], rebuild_signals=500)

    with tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp, EmbeddedValkey(Path(tmp) / "valkey") as url:
        cache = connect_redis(url)
        if not args.latency_only:
            quality(args, Path(tmp) / "quality", cache)
        world = World(args.items, args.topics, sibling_spread=args.sibling_spread)
        print(f"\nexact taste rebuild (an unlike, a forget), {args.rebuild_signals:,} signals: "
              f"p50 {1000 * rebuild_time(world, args.rebuild_signals):.0f} ms (the math only)")
        print("\nfeed latency (feed_page in process, user with 30 likes, embedded Qdrant Edge + SQLite):")
        for points in args.latency_points:
            p50 = feed_latency(points, (args.stores or Path(tmp)) / f"latency-{points}", cache)
            print(f"  {points:>9,} items: p50 {1000 * p50:.1f} ms   (target <= 15 ms at 1M)", flush=True)


def quality(args: argparse.Namespace, work: Path, cache: redis.Redis) -> None:
    world = World(args.items, args.topics, sibling_spread=args.sibling_spread)
    runtime = open_parts(work, world, cache)
    tastes = world.tastes(args.users)
    methods = [Ours(runtime, args.users), Ours(runtime, args.users, hides=True)] + [
        Baseline(name, runtime, world, args.users)
        for name in ("random", "most-liked", "mean of liked vectors", "Qdrant recommend best_score")
    ]
    print(f"\nSYNTHETIC: {args.items:,} items in {args.topics} topics (dim {DIM}), {args.users} users "
          f"x {args.rounds} rounds of {PAGE}; {world.describe()}")
    scores = {}
    for method in methods:
        world.rng = np.random.default_rng(42)  # every method meets the same users and dice
        world.hide_rng = np.random.default_rng(43)
        started = time.perf_counter()
        scores[method.name] = simulate(method, world, tastes, args.rounds)
        hit, ndcg = scores[method.name]
        print(f"{method.name:30} hit-rate@20 {hit:.3f}  nDCG@20 {ndcg:.3f}   ({time.perf_counter() - started:.0f} s)",
              flush=True)
    best = max((s for name, s in scores.items() if not name.startswith("ours")), key=lambda s: s[0])
    ours, hiding = scores[methods[0].name], scores[methods[1].name]
    print(f"ours / best baseline: hit-rate {ours[0] / best[0]:.2f}x, nDCG {ours[1] / best[1]:.2f}x   (target >= 1.2x)")
    print(f"with / without not interested (a third of the strays shown marked): hit-rate {hiding[0] / ours[0]:.2f}x, "
          f"nDCG {hiding[1] / ours[1]:.2f}x")
    runtime.vectors.close()
    runtime.engine.dispose()


def _dcg(gains: list[float]) -> float:
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


if __name__ == "__main__":
    main()
