"""Reading the text in an image: RapidOCR (PP-OCRv6 small detection and recognition, the
models its wheel carries) on ONNX Runtime.

Reading costs about a second an image on two cores, so it is its own stage (``worker.ocr``)
and has a time limit: recognition runs a few lines at a time and stops once the image's
time is up. ``likely_text`` is the cheap gate of ``ocr.mode=auto``: the detection model alone
on the image shrunk to ``gate_side`` pixels (about 12 ms), read only where it finds a line.
"""

import logging
import threading
import time
from dataclasses import dataclass
from functools import cache

import numpy as np
from rapidocr import RapidOCR
from rapidocr.ch_ppocr_rec.typings import TextRecOutput

from core.config import OcrSettings

log = logging.getLogger(__name__)
REC_CHUNK = 12
"""Lines recognised between two looks at the clock."""


class ReadTimedOut(Exception):
    pass


@dataclass(frozen=True)
class Line:
    text: str
    box: tuple[int, int, int, int]
    """x0, y0, x1, y1 in the pixels read."""
    score: float


class _Bounded(RapidOCR):
    """RapidOCR whose recognition stops at a deadline (it has no time limit of its own)."""

    deadline = float("inf")

    def recognize_txt(self, img: list[np.ndarray]) -> TextRecOutput:
        parts = []
        for start in range(0, len(img), REC_CHUNK):
            if time.monotonic() > self.deadline:
                raise ReadTimedOut(f"stopped after {start} of {len(img)} lines")
            parts.append(super().recognize_txt(img[start : start + REC_CHUNK]))
        return TextRecOutput(
            imgs=[i for p in parts for i in (p.imgs or [])],
            txts=tuple(t for p in parts for t in p.txts),
            scores=[s for p in parts for s in p.scores],
            word_results=tuple(w for p in parts for w in p.word_results),
            elapse=sum(p.elapse or 0 for p in parts),
        )


class Reader:
    """An OCR engine (its ONNX sessions load on first use); reads one image at a time. Make
    it with ``reader_for``: one per process and configuration."""

    def __init__(self, settings: OcrSettings):
        self.settings = settings
        quiet = {"Global.log_level": "error", "Global.use_cls": False}  # screenshots are upright
        self._full = _Bounded(params={**quiet, "Global.text_score": settings.min_confidence})
        self._gate = RapidOCR(params={**quiet, "Det.limit_side_len": settings.gate_side, "Det.limit_type": "max",
                                      "Det.box_thresh": 0.4})
        self._lock = threading.Lock()

    def likely_text(self, pixels: np.ndarray) -> bool:
        """Whether the detection model finds a line of text in the image, shrunk."""
        with self._lock:
            found = self._gate(pixels, use_det=True, use_cls=False, use_rec=False)
        return getattr(found, "boxes", None) is not None and len(found.boxes) > 0

    def read(self, pixels: np.ndarray) -> list[Line]:
        """The lines of text in ``pixels`` (RGB, HxWx3) in reading order; raises ``ReadTimedOut``
        past ``settings.timeout`` seconds."""
        with self._lock:
            self._full.deadline = time.monotonic() + self.settings.timeout
            found = self._full(pixels)
        if getattr(found, "txts", None) is None:
            return []
        return [
            Line(text.strip(), _box(box), round(float(score), 3))
            for text, box, score in zip(found.txts, found.boxes, found.scores)
            if text.strip()
        ]


@cache
def _reader(settings_json: str) -> Reader:
    return Reader(OcrSettings.model_validate_json(settings_json))


def reader_for(settings: OcrSettings) -> Reader:
    return _reader(settings.model_dump_json())


def _box(points) -> tuple[int, int, int, int]:
    corners = np.asarray(points)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return int(x0), int(y0), int(x1), int(y1)


def as_text(lines: list[Line]) -> str:
    """The lines as one text, a line each."""
    return "\n".join(line.text for line in lines)
