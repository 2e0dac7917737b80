"""Prometheus metrics shared by every part: how long each stage of ingest and search
takes. The API serves them at /metrics (with its HTTP timings and the queue's depth);
a separate worker process serves its own (``FINDIMAGE_WORKER__METRICS_PORT``)."""

from prometheus_client import Histogram

STAGES = ("validate", "store", "decode", "embed", "upsert", "search", "fuse", "ocr_gate", "ocr")

STAGE_SECONDS = Histogram(
    "findimage_stage_seconds",
    "Seconds spent in one stage of ingest or search: validate, store, decode, embed, upsert, search, fuse, ocr_gate, ocr.",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def timed(stage: str):
    """``with timed("embed"): ...`` records how long the block took."""
    return STAGE_SECONDS.labels(stage).time()
