"""Let ``import open_clip`` work with a CPU torch and PyPI's CUDA torchvision.

PyPI's torchvision wheel is built against CUDA. With the CPU torch wheel its native
library (``torchvision/_C.so``) cannot load, and ``import torchvision`` then fails with
"operator torchvision::nms does not exist" (pytorch/vision#9085): its Python side
registers fake kernels for ops whose schemas only the native library defines.

``install()`` defines those schemas when, and only when, the native library is absent.
open_clip's inference path never calls the detection ops, so nothing else changes; a
call to one would still fail loudly (no kernel is registered). This is the only place
in findimage that knows about it: ``core.clip.torch_backend.open_clip_module`` calls ``install()`` before it
imports open_clip.
"""

import importlib.util
import threading
from pathlib import Path

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_lock = threading.Lock()
_library = None  # the torch.library.Library must stay alive, or its schemas vanish


def _native_library_loads() -> bool:
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # no torchvision at all: nothing to patch
    native = next(Path(spec.origin).parent.glob("_C*.so"), None)
    if native is None:
        return False
    try:
        torch.ops.load_library(str(native))
    except (OSError, RuntimeError):
        return False
    return True


def install() -> None:
    """Register torchvision's missing op schemas if its native library cannot load."""
    global _library
    with _lock:
        if _library is not None or _native_library_loads():
            return
        import torch

        library = torch.library.Library("torchvision", "DEF")
        for name, schema in _SCHEMAS.items():
            if not hasattr(torch.ops.torchvision, name):
                library.define(schema)
        _library = library
