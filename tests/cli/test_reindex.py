"""``findimage reindex``: it asks for a reindex (the serving process does it), shows how
far it is, refuses a second one, and can cancel it."""

from typer.testing import CliRunner

from cli.main import app


def run(*args) -> tuple[int, str]:
    """The exit code and the output with its line wrapping undone."""
    result = CliRunner().invoke(app, ["reindex", *args])
    return result.exit_code, " ".join(result.output.split())


def test_reindex_is_asked_for_shown_refused_twice_and_cancelled(cli_env, settings, other_model):
    code, started = run("--model", other_model, "--no-wait")
    assert code == 0, started
    assert f"Reindexing 0 images with CLIP {other_model} into vector space 2" in started

    _, status = run("--status")
    assert f"vector space 1: active CLIP {settings.clip.model}" in status
    assert f"vector space 2: building CLIP {other_model}" in status
    assert "0 of about 0 images" in status

    code, again = run("--model", other_model, "--no-wait")
    assert code == 2 and "already running" in again

    code, cancelled = run("--cancel")
    assert code == 0 and f"Cancelled the reindex into {other_model}" in cancelled
    assert "vector space 2: failed" in run("--status")[1]
    assert "No reindex is running" in run("--cancel")[1]
