"""How fast the bot acknowledges /findimage while searches pile up behind it.

    python bench/slack_ack.py [--requests 200] [--concurrency 8] [--model ViT-B-32] [--smoke]

Slack gives a slash command 3 s to be acknowledged, then tells the user it failed. The
app runs as ``findimage serve`` does (uvicorn, HTTP mode, signed requests) against a
local stand-in for Slack's Web API (tests/fake_slack.py); each command is a real text
search (random-weight CLIP, so the words do not matter) answered on its response URL
after the ack. Prints ack latency p50/p99 under concurrency (target p99 < 300 ms) and how
long the answers took to arrive.
"""

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx
from shared import DEFAULT_WORK_DIR, model_for, models_dir, parse, serve
from slack_sdk.signature import SignatureVerifier

from cli.serving import create_app
from core.config import ClipSettings, Settings, SlackSettings
from core.valkey import EmbeddedValkey
from tests.fake_slack import FakeSlack

SECRET = "bench-signing-secret"
WORDS = "red blue green dog cat beach snow city night forest boat bicycle mountain river".split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    args = parse(parser, requests=8, concurrency=2)

    slack = FakeSlack().start()
    with tempfile.TemporaryDirectory(prefix="findimage-bench-") as tmp, EmbeddedValkey(Path(tmp) / "valkey") as redis:
        settings = Settings(
            data_dir=Path(tmp) / "data", redis_url=redis, models_dir=models_dir(args), port=0,
            clip=ClipSettings(model=model_for(args)),
            slack=SlackSettings(bot_token=slack.bot_token, signing_secret=SECRET, api_url=f"{slack.url}/api/"),
        )
        server, thread, base = serve(create_app(settings))
        url = f"{base}/slack/events"
        _command(url, slack.url, 0)  # warm: loads the model, checks the token
        slack.wait_for_responses(1, timeout=120)
        slack.responses.clear()
        # The clients are other processes, as Slack is: they must not share this one's interpreter.
        with ProcessPoolExecutor(args.concurrency, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_command, [url] * args.concurrency, [slack.url] * args.concurrency, [None] * args.concurrency))
            slack.wait_for_responses(args.concurrency, timeout=120)
            slack.responses.clear()
            started = time.perf_counter()
            acks = list(pool.map(_command, [url] * args.requests, [slack.url] * args.requests, range(1, args.requests + 1)))
            slack.wait_for_responses(args.requests, timeout=600)
            answered = time.perf_counter() - started
        server.should_exit = True
        thread.join()
    slack.stop()

    acks.sort()
    p99 = acks[min(len(acks) - 1, int(0.99 * len(acks)))]
    print(f"\n/findimage <words> x {args.requests}, {args.concurrency} in flight, {settings.clip.model} (random weights), "
          "uvicorn + embedded parts on this machine")
    print(f"ack latency: p50 {1000 * statistics.median(acks):.0f} ms, p99 {1000 * p99:.0f} ms, "
          f"max {1000 * acks[-1]:.0f} ms   (target p99 < 300 ms)")
    print(f"all {args.requests} answers posted to their response URLs within {answered:.1f} s "
          f"({args.requests / answered:.1f} searches/s)")


def _command(url: str, slack_url: str, i: int | None) -> float:
    """One signed /findimage (``i`` None: help, to warm a client process up)."""
    text = "help" if i is None else " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7)) + f" {i}"
    body = urlencode({"team_id": "T1", "user_id": f"U{(i or 0) % 20}", "command": "/findimage", "text": text,
                      "response_url": f"{slack_url}/response/{i}", "channel_id": "C1", "trigger_id": str(i)})
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body),
    }
    began = time.perf_counter()
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed


if __name__ == "__main__":
    main()
