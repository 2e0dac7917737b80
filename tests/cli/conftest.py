import pytest

from core.config import get_settings


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("FINDIMAGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("FINDIMAGE_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("FINDIMAGE_CLIP__MODEL", settings.clip.model)
    monkeypatch.setenv("FINDIMAGE_MODELS_DIR", str(settings.models_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
