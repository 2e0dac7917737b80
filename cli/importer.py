"""Bulk import of a folder, with progress bars."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from sqlmodel import col, func, select

from core.errors import InvalidImage
from core.models import Image, ImageSource, ImageStatus
from core.runtime import Runtime
from services.ingest import BATCH, submit_images
from services.queue import ingest_queue
from worker.runner import EmbeddedWorker


@dataclass
class ImportReport:
    added: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    """Path within the folder -> why it was not taken."""


def import_images(runtime: Runtime, folder: Path, uploader: str | None, console: Console) -> ImportReport:
    files = sorted(p for p in folder.rglob("*") if _is_candidate(p))
    report = ImportReport()
    queue = ingest_queue(runtime)
    # On the embedded store this process owns the index, so it embeds as it imports.
    worker = EmbeddedWorker(runtime).start() if runtime.settings.embedded_vectors else None
    try:
        with _progress(console) as progress:
            task = progress.add_task("Reading", total=len(files))
            for start in range(0, len(files), BATCH):
                chunk = files[start : start + BATCH]
                submitted = submit_images(
                    runtime, queue, [(path.read_bytes(), path.name[:255]) for path in chunk], source=ImageSource.folder,
                    uploader=uploader, captions=[_sidecar_caption(path) for path in chunk],
                )
                for path, result in zip(chunk, submitted):
                    if isinstance(result, InvalidImage):
                        report.rejected[str(path.relative_to(folder))] = result.message
                    else:
                        image, created = result
                        (report.added if created else report.duplicates).append(image.id)
                progress.advance(task, len(chunk))
                if worker is not None:
                    worker.wake()
            if worker is not None and report.added:
                _wait_for_indexing(runtime, report.added, progress)
    finally:
        if worker is not None:
            worker.stop()
    for path, reason in report.rejected.items():
        console.print(f"[yellow]skipped[/] {path}: {reason}")
    console.print(
        f"{len(report.added)} added, {len(report.duplicates)} already there, {len(report.rejected)} rejected"
        + ("" if worker else " (the workers index the added images)")
    )
    return report


def _wait_for_indexing(runtime: Runtime, ids: list[int], progress: Progress) -> None:
    task = progress.add_task("Indexing", total=len(ids))
    while True:
        with runtime.session() as session:
            waiting = session.exec(
                select(func.count()).where(col(Image.id) >= min(ids), Image.status == ImageStatus.queued)
            ).one()
        progress.update(task, completed=len(ids) - waiting)
        if waiting == 0:
            return
        time.sleep(0.2)  # the import ends about when the last image is indexed


def _is_candidate(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() != ".txt"


def _sidecar_caption(path: Path) -> str | None:
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        return sidecar.read_text(encoding="utf-8", errors="replace").strip()[:4000] or None
    return None


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )
