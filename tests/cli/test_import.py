"""``findimage import DIR`` on the embedded store: it imports, embeds and reports."""

from sqlmodel import select
from typer.testing import CliRunner

from cli.main import app
from core.models import Image, ImageSource, ImageStatus
from core.runtime import Runtime
from core.vectors import TEXT
from tests.factories import distinct_jpeg, image_bytes


def test_import_folder_indexes_good_files_skips_duplicates_and_reports_bad_ones(cli_env, tmp_path, settings, embedder):
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    (folder / "beach.jpg").write_bytes(distinct_jpeg(1))
    (folder / "beach.txt").write_text("sunset over the beach\n")
    (folder / "trip" / "city.png").write_bytes(image_bytes("PNG", color=(9, 9, 9)))
    (folder / "trip" / "copy-of-beach.jpg").write_bytes(distinct_jpeg(1))
    (folder / "notes.jpg").write_bytes(b"this is not a picture")
    (folder / ".DS_Store").write_bytes(b"\0\0")

    result = CliRunner().invoke(app, ["import", str(folder), "--uploader", "ana"])

    assert result.exit_code == 0, result.output
    assert "2 added, 1 already there, 1 rejected" in result.output
    assert "skipped notes.jpg: " in result.output  # named within the folder imported
    runtime = Runtime.open(settings, embedder=embedder)
    try:
        with runtime.session() as session:
            images = session.exec(select(Image).order_by(Image.id)).all()
        assert [(i.status, i.source, i.uploader) for i in images] == [(ImageStatus.indexed, ImageSource.folder, "ana")] * 2
        beach = next(i for i in images if i.caption)
        assert beach.caption == "sunset over the beach"
        assert TEXT in runtime.vectors.retrieve([beach.id])[0].vectors
        assert runtime.vectors.count() == 2
    finally:
        runtime.close()


def test_import_of_only_bad_files_fails(cli_env, tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    result = CliRunner().invoke(app, ["import", str(folder)])
    assert result.exit_code == 1
    assert "0 added, 0 already there, 1 rejected" in result.output


def test_a_separate_worker_refuses_the_embedded_store(cli_env):
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "findimage serve" in result.output
