"""The CLI's tests use ``cli_env`` (tests/conftest.py): the test settings as environment variables."""
