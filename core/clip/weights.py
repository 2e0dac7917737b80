"""Whether a model's pretrained weights can be had before open_clip tries to download them.

open_clip downloads a named tag's weights (from the Hugging Face Hub, or a URL) on first
use; offline, huggingface_hub retries each file for over a minute before it gives up. So
when the weights are not in the local cache and their host cannot be reached, findimage
says at once what to do instead.
"""

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from core.config import TINY_TEST_MODEL, ClipSettings
from core.errors import WeightsUnavailable

CONNECT_TIMEOUT = 3.0


def require_weights(settings: ClipSettings) -> None:
    """Raise ``WeightsUnavailable`` if the weights are neither cached nor downloadable."""
    from open_clip import pretrained

    if settings.model == TINY_TEST_MODEL or settings.model.startswith(("local-dir:", "hf-hub:")):
        return
    if Path(settings.pretrained).expanduser().is_file():
        return
    cfg = pretrained.get_pretrained_cfg(settings.model, settings.pretrained)
    if not cfg or "file" in cfg:
        return  # not a tag open_clip downloads: it says itself what is wrong
    cache_dir = str(settings.cache_dir) if settings.cache_dir else None
    if cfg.get("hf_hub"):
        from huggingface_hub import constants

        source = urlsplit(constants.ENDPOINT)
        if _in_hub_cache(cfg["hf_hub"], cache_dir):
            return
    else:
        source = urlsplit(cfg["url"])
        folder = Path(cache_dir or Path.home() / ".cache" / "clip")
        if (folder / os.path.basename(source.path)).is_file():
            return
    host = source.hostname
    try:
        socket.create_connection((host, source.port or 443), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise WeightsUnavailable(
            f"The weights of CLIP {settings.model} ({settings.pretrained}) are not downloaded yet, and {host} "
            f"cannot be reached from here ({exc.strerror or exc}). Either download them on a machine with "
            "internet access and set FINDIMAGE_CLIP__PRETRAINED=/path/to/open_clip_pytorch_model.bin, or point "
            "FINDIMAGE_CLIP__MODEL=local-dir:/path/to/model-folder at an open_clip model folder; or, just to look "
            f"around (random weights: meaningless results), set FINDIMAGE_CLIP__MODEL={TINY_TEST_MODEL}."
        ) from exc


def _in_hub_cache(hub: str, cache_dir: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache
    from open_clip.pretrained import HF_WEIGHTS_NAME, _get_safe_alternatives

    model_id, filename = os.path.split(hub)
    filename = filename or HF_WEIGHTS_NAME
    names = [*_get_safe_alternatives(filename), filename]
    return any(isinstance(try_to_load_from_cache(model_id, name, cache_dir=cache_dir), str) for name in names)
