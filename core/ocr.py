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


@cache
def _engines() -> tuple[type, type]:
    """RapidOCR, and RapidOCR whose recognition stops at a deadline (it has no time limit of
    its own). Imported on first use: the import takes 0.8 s, which a process that never
    reads (OCR off, an API process, a CLI command) need not pay."""
    from rapidocr import RapidOCR
    from rapidocr.ch_ppocr_rec.typings import TextRecOutput

    class Bounded(RapidOCR):
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

    return RapidOCR, Bounded


class Reader:
    """An OCR engine (its ONNX sessions load on first use); reads one image at a time. Make
    it with ``reader_for``: one per process and configuration."""

    def __init__(self, settings: OcrSettings):
        self.settings = settings
        quiet = {"Global.log_level": "error", "Global.use_cls": False}  # screenshots are upright
        rapid_ocr, bounded = _engines()
        self._full = bounded(params={**quiet, "Global.text_score": settings.min_confidence})
        self._gate = rapid_ocr(params={**quiet, "Det.limit_side_len": settings.gate_side, "Det.limit_type": "max",
                                      "Det.box_thresh": 0.4})
        self._lock = threading.Lock()

    def likely_text(self, pixels: np.ndarray) -> bool:
        """Whether the image (shrunk) likely holds text: it looks like a screenshot (a flat
        background, which no photo has: about 1 ms), or the detection model finds a line of
        text in it: a region at least twice as wide as high and under a quarter of the
        image's height (on a photo it tends to outline the whole picture, which is no line).
        Small text in a large screenshot is lost at this size; the flat background keeps it."""
        if flat_background(pixels):
            return True
        with self._lock:
            found = self._gate(pixels, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(found, "boxes", None)
        return boxes is not None and any(_is_line(_box(box), pixels.shape[0], most=0.25, wide=2) for box in boxes)

    def read(self, pixels: np.ndarray) -> list[Line]:
        """The lines of text in ``pixels`` (RGB, HxWx3) in reading order; raises ``ReadTimedOut``
        past ``settings.timeout`` seconds."""
        with self._lock:
            self._full.deadline = time.monotonic() + self.settings.timeout
            found = self._full(pixels)
        if getattr(found, "txts", None) is None:
            return []
        lines = [Line(text.strip(), _box(box), round(float(score), 3)) for text, box, score in
                 zip(found.txts, found.boxes, found.scores)]
        return [line for line in lines if line.text and _is_line(line.box, pixels.shape[0], most=0.5)]


@cache
def _reader(settings_json: str) -> Reader:
    return Reader(OcrSettings.model_validate_json(settings_json))


def reader_for(settings: OcrSettings) -> Reader:
    return _reader(settings.model_dump_json())


FLAT_SHARE = 0.35
"""A screenshot's background: at least this share of its pixels in one colour (4 bits a channel)."""


def flat_background(pixels: np.ndarray) -> bool:
    coarse = (pixels[::2, ::2] >> 4).astype(np.int32)
    colours = np.bincount((coarse[..., 0] << 8 | coarse[..., 1] << 4 | coarse[..., 2]).ravel(), minlength=4096)
    return colours.max() >= FLAT_SHARE * colours.sum()


def _is_line(box: tuple[int, int, int, int], image_height: int, most: float, wide: float = 0) -> bool:
    """Whether a detected region is shaped like a line of text: at most ``most`` of the
    image's height, and at least ``wide`` times as wide as high. (On a photo the detector
    tends to outline the whole picture, and the recogniser reads a "9" in it.)"""
    x0, y0, x1, y1 = box
    height = max(1, y1 - y0)
    return height <= most * image_height and (x1 - x0) >= wide * height


def _box(points) -> tuple[int, int, int, int]:
    corners = np.asarray(points)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return int(x0), int(y0), int(x1), int(y1)


def as_text(lines: list[Line]) -> str:
    """The lines as one text, a line each."""
    return "\n".join(line.text for line in lines)
