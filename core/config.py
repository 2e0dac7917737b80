"""All of findimage's settings, read from the environment (prefix ``FINDIMAGE_``).

Nested groups use ``__``: ``FINDIMAGE_CLIP__MODEL=ViT-B-16``. This is the only module
that reads the environment; everything else receives a ``Settings``.
"""

from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TINY_TEST_MODEL = "findimage-tiny-test"


class ClipSettings(BaseModel):
    model: str = "ViT-B-32"
    """An open_clip model name, ``local-dir:/path``, or ``findimage-tiny-test`` (random
    weights, for tests and offline smoke runs only)."""
    pretrained: str = "laion2b_s34b_b79k"
    """An open_clip pretrained tag (downloaded once when online) or a local weights file."""
    backend: Literal["auto", "onnx", "torch"] = "auto"
    """``onnx``: ONNX Runtime on models exported from open_clip (no torch in the serving
    processes); ``torch``: open_clip itself. ``auto`` is ``onnx`` unless the model cannot
    be exported, then ``torch``."""
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    """``int8`` (onnx) and ``bf16`` (torch) are used only where they agree with fp32
    (cosine >= 0.998 on a fixed probe set); ``auto`` picks the fastest of those."""
    threads: int = Field(default=0, ge=0)
    """Intra-op threads for the model; 0 means one per core."""
    query_threads: int = Field(default=1, ge=0)
    """Intra-op threads for a lone text (a search query) on ONNX Runtime; 0 means one per
    core. One text does not split well across threads: on 2 cores, one thread cost a text
    search 2-4 ms less of the server's CPU and was no slower (bench/query.py)."""
    cache_dir: Path | None = None
    """Where open_clip keeps downloaded weights (default: its own cache)."""

    @model_validator(mode="after")
    def _precision_fits_backend(self) -> "ClipSettings":
        if (self.backend, self.precision) in (("onnx", "bf16"), ("torch", "int8")):
            raise ValueError(f"precision {self.precision} is not available on the {self.backend} backend")
        return self


class LimitSettings(BaseModel):
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_pixels: int = Field(default=50_000_000, gt=0)
    max_files_per_request: int = Field(default=100, gt=0)
    uploads_per_minute: int = Field(default=600, gt=0)
    """Files one user may upload a minute (web and API), across all API processes."""
    search_timeout: float = Field(default=10.0, gt=0)
    """Seconds a search by example image may take (embedding + vector search), then 504."""


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    """The bot's ``xoxb-`` token; without it the Slack bot is off."""
    signing_secret: SecretStr | None = None
    """Verifies every request Slack posts to ``/slack/events`` (HTTP mode)."""
    app_token: SecretStr | None = None
    """An ``xapp-`` token with ``connections:write``: run in Socket Mode (no public URL)."""
    api_url: str = "https://slack.com/api/"
    """Slack's Web API (tests point it at a local server)."""
    file_hosts: list[str] = ["files.slack.com"]
    """The only hosts Slack files are downloaded from (the bot token is sent only there)."""
    like_reactions: list[str] = []
    """Reaction names that count as a like (``heart``, ``+1``); empty means any."""
    membership_ttl: float = Field(default=300.0, ge=0)
    """Seconds a user's list of channels (which decides what they may see) is cached."""
    page_size: int = Field(default=5, ge=1, le=10)
    """Results per /findimage reply (each takes three blocks; Slack allows 50)."""
    history_from: Literal["auto", "messages", "files"] = "auto"
    """What a backfill reads: ``messages`` (``conversations.history`` and each thread's
    ``conversations.replies``: the messages' text becomes captions; 50 calls a minute for an
    app the workspace made itself), ``files`` (``files.list``: file names only, but the same
    rate for every app), or ``auto``: messages, turning to files for the rest of a
    conversation when Slack holds the app to 15 messages a call (apps distributed outside the
    Marketplace: 1 call a minute)."""
    repost_above: float = Field(default=0.95, gt=0, le=1)
    """``/findimage reposts on``: a new image this close (cosine) to one posted before is a repost."""

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None


class WorkerSettings(BaseModel):
    batch_size: int = Field(default=32, gt=0)
    """Most images embedded in one model call; the worker takes whatever is queued."""
    batches_per_job: int = Field(default=4, gt=0)
    """Batches one job takes along (decoding the next while the model embeds one)."""
    max_retries: int = Field(default=3, ge=0)
    retry_intervals: list[int] = [5, 30, 120]
    job_timeout: int = Field(default=600, gt=0)
    index_after_points: int = Field(default=20_000, gt=0)
    """Embedded store only: build the HNSW index once this many points are unindexed."""
    index_when_idle_for: float = Field(default=5.0, ge=0)
    """Embedded store only: seconds without ingest before building the index (it blocks
    the process while it runs)."""
    ocr_after_idle: float = Field(default=2.0, ge=0)
    """Seconds without an image for CLIP before a worker (embedded or ``findimage worker``)
    reads text (OCR) again, so that an import or a backfill keeps CLIP's rate and OCR takes
    what is left."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """A separate worker process serves its Prometheus metrics on this port (default none)."""


class OcrSettings(BaseModel):
    mode: Literal["auto", "all", "off"] = "auto"
    """``auto``: read the text of images a quick detection pass finds text in (photos cost
    about 12 ms, screenshots about a second); ``all``: read every image; ``off``: none."""
    timeout: float = Field(default=20.0, gt=0)
    """Seconds reading one image may take; then it counts as having no text."""
    gate_side: int = Field(default=320, ge=64, le=2000)
    """``auto``: the longest side, in pixels, of the image the detection pass looks at."""
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    """Lines read with less confidence are dropped."""
    max_side: int = Field(default=2000, ge=256)
    """Larger images are shrunk to this longest side before they are read."""
    queue_name: str = "findimage-ocr"
    """Its own queue: workers take it only when the ingest queue is empty."""


class TasteSettings(BaseModel):
    half_life_days: float = Field(default=30.0, gt=0)
    """A signal counts half as much after this many days."""
    like_weight: float = Field(default=1.0, ge=0)
    click_weight: float = Field(default=0.3, ge=0)
    search_weight: float = Field(default=0.5, ge=0)
    not_interested_weight: float = Field(default=1.0, ge=0)
    """How strongly "not interested" pulls the taste away from an image (a negative signal)."""
    max_interests: int = Field(default=4, ge=1, le=16)
    join_above: float = Field(default=0.5, ge=-1, le=1)
    """A signal at least this close (cosine) to an interest feeds it; a farther one starts
    a new interest (while there are fewer than ``max_interests``)."""

    @property
    def half_life(self) -> float:
        return self.half_life_days * 86400


class FeedSettings(BaseModel):
    diversity: float = Field(default=0.3, ge=0, le=1)
    """MMR trade-off: 0 ranks by relevance alone, 1 by novelty alone."""
    duplicate_above: float = Field(default=0.95, gt=0, le=1)
    """Images this close (cosine) to one already on the page count as near-duplicates."""
    forget_shown_after_days: float = Field(default=14.0, gt=0)
    """An image the feed showed is not shown again for this long."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FINDIMAGE_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite:///<data_dir>/findimage.db``."""
    database_timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for a locked SQLite database or to connect to PostgreSQL before
    giving up (503)."""
    redis_url: str | None = None
    """A Redis/Valkey server; default an embedded Valkey started with findimage."""
    qdrant_url: str | None = None
    """A Qdrant server (``http://host:6333``) or ``:memory:``; default an embedded
    Qdrant Edge shard under the data dir."""
    qdrant_api_key: str | None = None
    qdrant_shards: int = Field(default=1, ge=1)
    """Shards of the collection when findimage creates it on a Qdrant cluster (a few per node)."""
    qdrant_replicas: int = Field(default=1, ge=1)
    """Copies of each shard on a cluster (2: a node may fail without losing search)."""
    qdrant_int8: bool = False
    """Keep int8 scalar-quantized vectors in RAM and the float32 ones on disk (a Qdrant
    server and the embedded store alike); searches oversample 2x on int8 and rescore with
    the floats. Set before the collection is created."""
    models_dir: Path | None = None
    """ONNX exports of the CLIP model, one folder per model and weights; default
    ``<data_dir>/models``. Several deployments may share one."""
    login_required: bool = False
    """False: a request without a session or token acts as the local user (single-user
    installs), for requests from this machine only. True: such requests are refused with 401."""
    allow_remote_without_login: bool = False
    """With ``login_required`` false, also let other machines in as the local user. Off,
    ``findimage serve`` refuses to bind a non-loopback address without login."""
    cors_origins: list[str] = []
    """Other web origins allowed to call the API from a browser (default none: same origin)."""
    allowed_hosts: list[str] = []
    """Host names findimage answers to besides loopback names, the bound address and the host
    of ``public_base_url`` (a name behind a proxy, say); ``*`` turns the check off. Requests
    for any other ``Host`` are refused (400), so a page on a domain that resolves to this
    machine cannot read the API (DNS rebinding)."""
    secret_key: SecretStr | None = None
    """Signs session cookies; default a random key kept in ``<data_dir>/secret_key``."""
    public_base_url: str | None = None
    """Where people reach findimage (``https://findimage.example.com``), for the links it
    hands out; default ``http://<host>:<port>``."""
    collection: str = "images"
    """The vector collection of the first vector space; ``findimage reindex`` builds the
    next ones as ``<collection>-<n>``."""
    queue_name: str = "findimage-ingest"
    host: str = "127.0.0.1"
    port: int = 8000
    log_format: Literal["text", "json"] = "text"
    """``json``: one JSON object per log line (for log collectors), with its request id."""

    clip: ClipSettings = ClipSettings()
    limits: LimitSettings = LimitSettings()
    worker: WorkerSettings = WorkerSettings()
    ocr: OcrSettings = OcrSettings()
    taste: TasteSettings = TasteSettings()
    feed: FeedSettings = FeedSettings()
    slack: SlackSettings = SlackSettings()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'findimage.db'}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def served_hosts(self) -> frozenset[str]:
        """The host names (lower case, no port) requests may name in ``Host``."""
        names = {"localhost", "127.0.0.1", "::1", self.host, *self.allowed_hosts}
        if self.public_base_url:
            names.add(urlsplit(self.public_base_url).hostname or "")
        return frozenset(name.lower().strip("[]") for name in names if name not in ("", "0.0.0.0", "::"))

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def edge_dir(self, collection: str) -> Path:
        return self.data_dir / "vectors" / collection

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def valkey_dir(self) -> Path:
        return self.data_dir / "valkey"

    @property
    def embedded_vectors(self) -> bool:
        return self.qdrant_url is None


@cache
def get_settings() -> Settings:
    return Settings()
