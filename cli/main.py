"""``findimage``: serve, worker, import, reindex, model, user."""

import logging
import signal
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core import logs
from core.config import get_settings
from core.errors import FindImageError

app = typer.Typer(help="findimage: self-hosted image search for teams.", no_args_is_help=True)
console = Console(stderr=True)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logs.configure(logging.DEBUG if verbose else logging.INFO, get_settings().log_format)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default FINDIMAGE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default FINDIMAGE_PORT)")] = None,
) -> None:
    """Run the web app and API. On the embedded defaults this process also runs the
    queue (Valkey), the vector store (Qdrant Edge) and the ingest worker."""
    import uvicorn

    from cli.serving import create_app
    from core.access import is_loopback

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    if not (settings.login_required or settings.allow_remote_without_login or is_loopback(host)):
        _fail(
            f"Refusing to serve {host} without login: anyone who can reach it would be you. Set "
            "FINDIMAGE_LOGIN_REQUIRED=true (and hand out login links with `findimage user create NAME`), "
            "or FINDIMAGE_ALLOW_REMOTE_WITHOUT_LOGIN=true if the network is yours alone."
        )
    runtime = _open_runtime(settings)  # fail here, with a plain message, not in uvicorn
    try:
        parts = ", ".join(_describe_parts(settings, runtime.space.model))
        console.print(f"[bold]findimage[/] is starting on [link]http://{host}:{port}[/link]  ({parts})")
        # Our own handler and one line per request (with its id) instead of uvicorn's access log.
        server = uvicorn.Server(uvicorn.Config(create_app(settings, runtime=runtime), host=host, port=port,
                                               log_config=None, access_log=False))
        _shut_down_on_signals(server)
        server.run()
    finally:
        runtime.close()


def _shut_down_on_signals(server) -> None:
    """SIGTERM (systemd, docker, most supervisors) and SIGHUP (a closed terminal) stop
    findimage as Ctrl-C does: uvicorn finishes the requests under way, then the embedded
    parts close (Valkey syncs its queue to disk). uvicorn takes SIGINT and SIGTERM while
    it runs and raises them again once it has stopped: then they end the process through
    ``finally`` rather than killing it where it stands."""

    def exit_now(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)
    signal.signal(signal.SIGHUP, lambda *_: setattr(server, "should_exit", True))


@app.command()
def worker(burst: Annotated[bool, typer.Option(help="Stop when the queue is empty")] = False) -> None:
    """Run an ingest worker process (server mode: FINDIMAGE_QDRANT_URL and FINDIMAGE_REDIS_URL set)."""
    from worker.runner import run_worker

    settings = get_settings()
    if settings.embedded_vectors or settings.redis_url is None:
        _fail(
            "A separate worker needs a Qdrant server and a Redis server (FINDIMAGE_QDRANT_URL and "
            "FINDIMAGE_REDIS_URL). On the embedded defaults `findimage serve` runs the worker itself."
        )
    runtime = _open_runtime(settings)
    if settings.worker.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker.metrics_port)
    try:
        run_worker(runtime, burst=burst)
    finally:
        runtime.close()


@app.command("import")
def import_folder(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, readable=True)],
    uploader: Annotated[str | None, typer.Option(help="Who the images are recorded as from")] = None,
) -> None:
    """Import every image under FOLDER. A sidecar NAME.txt beside NAME.jpg is its caption.
    Duplicates are skipped and bad files reported, without stopping."""
    from cli.importer import import_images

    settings = get_settings()
    runtime = _open_runtime(settings)
    try:
        report = import_images(runtime, folder, uploader=uploader, console=console)
    finally:
        runtime.close()
    if report.rejected and not report.added and not report.duplicates:
        raise typer.Exit(code=1)


@app.command()
def reindex(
    model: Annotated[str | None, typer.Option(help="CLIP model of the new vectors (default FINDIMAGE_CLIP__MODEL)")] = None,
    pretrained: Annotated[str | None, typer.Option(help="Its weights (default FINDIMAGE_CLIP__PRETRAINED)")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress until the switch (Ctrl-C leaves it running)")] = True,
    status: Annotated[bool, typer.Option("--status", help="Only show the vector spaces and any reindex")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Stop the running reindex (search is unaffected)")] = False,
) -> None:
    """Re-embed every image into a new vector space (after changing the CLIP model, say)
    while search keeps using the current one, then switch to it: no downtime.
    `findimage serve` (or the workers) does the work; this command asks for it."""
    from core.spaces.records import active_space, cancel_reindex, start_reindex

    settings = get_settings()
    with _database() as session:
        if status:
            active_space(session, settings)
            return _print_spaces(session)
        if cancel:
            cancelled = cancel_reindex(session)
            return console.print(f"Cancelled the reindex into {cancelled.model}." if cancelled else "No reindex is running.")
        try:
            space = start_reindex(session, settings, model or settings.clip.model, pretrained or settings.clip.pretrained)
        except FindImageError as exc:
            _fail(exc.message)
    console.print(
        f"Reindexing {space.total} images with CLIP {space.model} into vector space {space.id}; "
        "search uses the current vectors until it switches."
    )
    if wait:
        _follow_reindex(space.id)


@app.command()
def ocr(
    status: Annotated[bool, typer.Option("--status", help="Show how far reading the text in images is (the default)")] = True,
) -> None:
    """How far OCR is: images whose text was read, skipped (no text likely), failed (counted as
    no text) and still waiting. `findimage serve` (or the workers) reads them when ingest is idle."""
    from core.texts import progress

    settings = get_settings()
    with _database() as session:
        counts = progress(session)
    console.print(f"OCR mode: {settings.ocr.mode}")
    console.print(
        f"{counts['read']:,} read, {counts['skipped']:,} skipped (no text likely), "
        f"{counts['failed']:,} failed or timed out, {counts['waiting']:,} waiting"
    )


def _print_spaces(session) -> None:
    from core.spaces.records import current_spaces

    for space in current_spaces(session):
        line = f"vector space {space.id}: {space.state.value:8} CLIP {space.model} ({space.pretrained}), collection {space.collection}"
        if space.state.value == "building":
            line += f", {space.done} of about {space.total} images"
        console.print(line + (f" ({space.error})" if space.error else ""))


def _follow_reindex(space_id: int) -> None:
    """A progress bar until the switch; exits 1 if the reindex fails."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from core.models import SpaceState, VectorSpace

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console) as progress, _database() as session:
            task = progress.add_task("Re-embedding", total=None)
            while True:
                session.expire_all()
                space = session.get(VectorSpace, space_id)
                if space is None or space.state in (SpaceState.failed, SpaceState.retired):
                    break
                progress.update(task, completed=space.done, total=max(space.total, space.done))
                if space.state == SpaceState.active:
                    break
                if space.updated_at is None:
                    progress.update(task, description="Waiting for findimage serve or a worker")
                else:
                    progress.update(task, description="Re-embedding")
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("It goes on in the background: `findimage reindex --status` shows how far it is.")
        raise typer.Exit(code=0) from None
    if space is None or space.state == SpaceState.failed:
        _fail(f"The reindex failed: {space.error if space else 'it was dropped'}. Search still uses the previous vectors.")
    console.print(f"Switched: search now uses CLIP {space.model} (vector space {space.id}).")


model_app = typer.Typer(help="The CLIP model.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("save-tiny")
def save_tiny(folder: Path) -> None:
    """Save the tiny random-weight test CLIP as an open_clip local-dir model in FOLDER
    (for offline smoke runs: its embeddings are meaningless)."""
    from core.clip.torch_backend import save_tiny_test_model

    name = save_tiny_test_model(folder)
    console.print(f"Saved. Use it with FINDIMAGE_CLIP__MODEL={name}")


@model_app.command("export")
def export_model(force: Annotated[bool, typer.Option(help="Export again even if an export exists")] = False) -> None:
    """Export the configured CLIP model to ONNX (fp32 and int8) under the data dir and check
    each against torch fp32. Serving does this on first use; run it ahead to start fast."""
    from core.clip.export import export
    from core.clip.onnx_cache import AGREEMENT, Manifest, export_folder

    settings = get_settings()
    folder = export_folder(settings.clip, settings.resolved_models_dir)
    manifest = None if force else Manifest.read(folder)
    if manifest is None:
        with console.status(f"Exporting {settings.clip.model} to {folder}"):
            try:
                manifest = export(settings.clip, folder)
            except FindImageError as exc:
                _fail(exc.message)
    console.print(f"{settings.clip.model}: {folder}")
    for precision, towers in manifest.agreement.items():
        for tower, cosine in towers.items():
            verdict = "[green]agrees[/]" if cosine >= AGREEMENT else f"[yellow]refused: below {AGREEMENT}[/]"
            console.print(f"  {tower:6} {precision}: least cosine to torch fp32 {cosine:.6f}  {verdict}")


slack_app = typer.Typer(help="The Slack workspace.", no_args_is_help=True)
app.add_typer(slack_app, name="slack")


@slack_app.command("backfill")
def slack_backfill(
    channel: Annotated[list[str] | None, typer.Option(help="A conversation id (repeat for more); default every one the bot is in")] = None,
    since: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Only images shared from this day on")] = None,
    status: Annotated[bool, typer.Option("--status", help="Only show how far each backfill is")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Show a progress bar per conversation until done")] = False,
) -> None:
    """Index the images posted before the bot joined (it does so by itself when it joins a
    channel). `findimage serve` (or the workers) does the reading; this asks for it."""
    from core.slack import bot_conversations
    from services.backfill import backfills, described, start_backfill

    settings = get_settings()
    with _database() as session:
        if not status:
            try:
                team, conversations = bot_conversations(settings)
            except FindImageError as exc:
                _fail(exc.message)
            for conversation in channel or conversations:
                start_backfill(session, team, conversation, since.replace(tzinfo=UTC) if since else None,
                               settings.slack.history_from)
        rows = backfills(session)
    if not rows:
        console.print("No backfill has been asked for.")
    elif follow:
        _follow_backfills()
    for row in rows if not follow else []:
        console.print(f"{row.team}/{row.channel}: {described(row)}")


def _follow_backfills() -> None:
    """A bar per conversation (images found of Slack's estimate) until none is running."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from services.backfill import backfills, described

    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as progress, \
                _database() as session:
            tasks: dict[tuple[str, str], int] = {}
            while True:
                session.expire_all()
                rows = backfills(session)
                for row in rows:
                    key = (row.team, row.channel)
                    if key not in tasks:
                        tasks[key] = progress.add_task(f"{row.team}/{row.channel}", total=None)
                    progress.update(tasks[key], completed=row.seen, total=max(row.total, row.seen) or None,
                                    description=f"{row.team}/{row.channel}: {described(row)}")
                if all(row.state != "running" for row in rows):
                    break
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("It goes on in the background: `findimage slack backfill --status` shows how far it is.")
        raise typer.Exit(code=0) from None


user_app = typer.Typer(help="People and their access.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
def create_user_command(
    name: str, admin: Annotated[bool, typer.Option(help="May delete anyone's images")] = False
) -> None:
    """Create a user and print a one-time login link for them (valid 24 hours)."""
    from core.accounts import create_user

    with _database() as session:
        user = create_user(session, name, is_admin=admin)
        _print_login_link(session, user)


@user_app.command("login")
def login_link_command(name: str) -> None:
    """Print a new one-time login link for a user."""
    from core.accounts import user_named

    with _database() as session:
        _print_login_link(session, user_named(session, name))


@user_app.command("token")
def api_token_command(name: str) -> None:
    """Print a new API token for a user (send it as ``Authorization: Bearer <token>``)."""
    from core.accounts import issue_token, user_named
    from core.models import TokenKind

    with _database() as session:
        token = issue_token(session, user_named(session, name), TokenKind.api)
    console.print("API token (shown once; keep it secret):")
    print(token)


def _print_login_link(session, user) -> None:
    from core.accounts import issue_token
    from core.models import TokenKind

    token = issue_token(session, user, TokenKind.login)
    console.print(f"One-time login link for {user.name} (valid 24 hours):")
    print(f"{get_settings().base_url}/login/{token}")


@contextmanager
def _database():
    """A database session for commands that need no model, queue or vector store."""
    from core.db import create_db_engine, session_scope

    try:
        engine = create_db_engine(get_settings())
        try:
            with session_scope(engine) as session:
                yield session
        finally:
            engine.dispose()
    except FindImageError as exc:
        _fail(exc.message)


def _open_runtime(settings):
    from core.runtime import Runtime

    try:
        return Runtime.open(settings)
    except FindImageError as exc:
        _fail(exc.message)


def _describe_parts(settings, model: str) -> list[str]:
    return [
        "queue: " + ("embedded Valkey" if settings.redis_url is None else settings.redis_url),
        "vectors: " + ("embedded Qdrant Edge" if settings.embedded_vectors else settings.qdrant_url),
        "database: " + settings.resolved_database_url.split("@")[-1],
        f"model: {model}",
    ]


def _fail(message: str):
    console.print(f"[red]error:[/] {message}")
    raise typer.Exit(code=2)
