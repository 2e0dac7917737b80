"""A Slack history indexed by a backfill, against a fake Slack with Slack's rate limits.

    python bench/slack_backfill.py [--images 5000] [--channels 20] [--model ViT-B-32]
                                   [--history-from messages|files] [--messages-per-image 5] [--smoke]

The fake Slack (tests/fake_slack.py; Slack lives outside our walls) holds ``--images``
SYNTHETIC JPEGs spread over ``--channels`` channels, each posted in a message with text,
and answers ``conversations.*`` and ``files.list`` at most 50 times a minute (Tier 3) and
``files.info`` 100 (Tier 4), with 429 + Retry-After beyond. findimage is asked to backfill
every channel, reading ``--history-from`` (``slack.history_from``), and runs its embedded
worker until every image is indexed. Printed: images/s end to end, Slack calls per image
(429s included), and what a backfill of N images would take under each of Slack's limits:
``files.list``, and ``conversations.history`` for an app the workspace made or one approved
for the Marketplace (Tier 3, 200 messages a call) and for any other (since 2025: 1 call a
minute, 15 messages), with ``--messages-per-image`` messages in a channel's history for
each image in it.
"""

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from shared import DEFAULT_WORK_DIR, model_for, models_dir, parse
from sqlalchemy import func
from sqlmodel import select

from core.config import ClipSettings, OcrSettings, Settings, SlackSettings, WorkerSettings
from core.models import Image as ImageRow
from core.models import ImageStatus, SlackBackfill
from core.runtime import Runtime
from core.valkey import EmbeddedValkey
from services.backfill import begin_backfill
from tests.fake_slack import FakeSlack
from worker.runner import EmbeddedWorker

LIMITS = {"files.list": 50, "files.info": 100, "conversations.history": 50, "conversations.replies": 50,
          "conversations.info": 50}
"""Calls a minute the fake allows (Slack's Tier 3 and Tier 4)."""


def small_jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, size=(30, 40, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).resize((320, 240), Image.Resampling.BILINEAR).save(out, "JPEG", quality=85)
    return out.getvalue()


def counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.session() as session:
        indexed = session.exec(select(func.count()).select_from(ImageRow).where(ImageRow.status == ImageStatus.indexed)).one()
        open_ = session.exec(select(func.count()).select_from(SlackBackfill).where(SlackBackfill.state == "running")).one()
    return indexed, open_


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--messages-per-image", type=float, default=5.0)
    parser.add_argument("--history-from", choices=["messages", "files"], default="messages")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = parse(parser, images=60, channels=3)

    slack = FakeSlack(per_minute=dict(LIMITS)).start()
    channels = [f"C{n:04d}" for n in range(args.channels)]
    for n in range(args.images):
        channel, ts = channels[n % len(channels)], f"{1_700_000_000 + n}.000100"
        slack.add_file(f"F{n}", small_jpeg(n), channel=channel, ts=ts)
        slack.post(channel, ts, f"screenshot {n} of the release checklist", files=(f"F{n}",))
    with tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp, EmbeddedValkey(Path(tmp) / "valkey") as redis_url:
        settings = Settings(
            data_dir=Path(tmp) / "data", models_dir=models_dir(args), redis_url=redis_url,
            clip=ClipSettings(model=model_for(args)), worker=WorkerSettings(index_when_idle_for=10**6),
            ocr=OcrSettings(mode="off"),
            slack=SlackSettings(bot_token=slack.bot_token, api_url=f"{slack.url}/api/", file_hosts=[f"127.0.0.1:{slack.port}"],
                                history_from=args.history_from),
        )
        runtime = Runtime.open(settings)
        worker = EmbeddedWorker(runtime).start()
        started = time.perf_counter()
        for channel in channels:
            begin_backfill(runtime, slack.team, channel)
        while counts(runtime) != (args.images, 0):
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        worker.stop()
        runtime.close()
    slack.stop()

    calls = {method: len(slack.called(method)) for method in (*LIMITS, "file")}
    print(f"{args.images:,} images in {args.channels} channels, backfilled from their {args.history_from} and indexed "
          f"in {seconds:.0f} s: {args.images / seconds:.1f} images/s "
          f"(random-weight {'tiny CLIP' if args.smoke else args.model})")
    print("Slack calls per image (429s included): "
          + ", ".join(f"{method} {n / args.images:.3f}" for method, n in calls.items()).replace("file ", "downloads "))
    per_image = args.messages_per_image
    print(f"\nA backfill of N images ({per_image:g} messages of history per image), Slack's side alone:")
    for n in (1_900, 10_000, 100_000):
        listing = n / 100 / 50  # minutes: 100 files a call, 50 calls a minute
        marketplace = n * per_image / 200 / 50
        other = n * per_image / 15 / 1
        print(f"  {n:>7,} images: files.list {_span(listing)}; conversations.history {_span(marketplace)} "
              f"(the workspace's own app, or a Marketplace app), {_span(other)} (any other app)")


def _span(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.0f} h"
    return f"{minutes / 60 / 24:.0f} days"


if __name__ == "__main__":
    main()
