"""The exporter: the configured open_clip model to ONNX, both towers in fp32 and int8,
checked against torch fp32 on a fixed probe set, into its folder of the ONNX cache
(``core.clip.onnx_cache``). Serving processes run it as a child process
(``ensure_exported``); ``findimage model export`` runs it in the foreground.
"""

import argparse
import contextlib
import io
import json
import logging
import shutil
import sys
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np

from core.clip.base import normalised
from core.clip.onnx_cache import TOWERS, Manifest, onnx_file, trim
from core.clip.tokenizer import VOCAB_FILE, VOCAB_SIZE
from core.config import ClipSettings
from core.errors import ModelUnavailable

log = logging.getLogger(__name__)

QUANTIZATION_RECIPES = (
    # 7-bit weights per channel: no overflow in the u8*s8 kernels of CPUs without VNNI.
    {"per_channel": True, "reduce_range": True},
    {"per_channel": False},
)
PROBE_TEXTS = [
    "a photo of a dog",
    "a red bicycle leaning against a brick wall",
    "team offsite 2026, everyone on the beach at sunset",
    "screenshot of the quarterly revenue dashboard",
    "Ünïcödé café menu 🍰",
    "diagram of the deployment architecture with three services and a queue",
    "cat",
    "a blurry night photo of the city skyline from the office window",
]


def export(settings: ClipSettings, folder: Path) -> Manifest:
    """Export, quantise and check the model into ``folder`` (replaced atomically). Needs
    torch and open_clip; raises ``ModelUnavailable`` for a model this cannot serve."""
    from core.clip.torch_backend import TorchEmbedder, open_clip_module

    reference = TorchEmbedder(settings, precision="fp32")
    tokenizer = reference.tokenizer
    clean = _tokenizer_clean(tokenizer)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    work.chmod(0o755)
    try:
        pixels = reference.preprocess.batch(probe_images(reference.image_size))
        tokens = tokenizer(PROBE_TEXTS).numpy()
        trim_tokens = _export_towers(reference.model, pixels, tokens, work)
        expected = {"visual": reference.embed_pixels(pixels), "text": reference.embed_texts(PROBE_TEXTS)}
        inputs = {"visual": pixels, "text": tokens}
        agreement = {"fp32": {}, "int8": {}}
        for tower in TOWERS:
            agreement["fp32"][tower] = _agreement(onnx_file(work, tower, "fp32"), inputs[tower], expected[tower])
            if tower == "text" and trim_tokens:  # the trimmed rows must give the same vectors
                trimmed = trim(tokens)
                agreement["fp32"][tower] = min(
                    agreement["fp32"][tower], _agreement(onnx_file(work, tower, "fp32"), trimmed, expected[tower])
                )
            agreement["int8"][tower] = _quantize(work, tower, inputs[tower], expected[tower])
        open_clip = open_clip_module()
        shutil.copy(Path(open_clip.__file__).parent / VOCAB_FILE, work / VOCAB_FILE)
        manifest = Manifest(
            key=folder.name,
            model=settings.model,
            dim=reference.dim,
            preprocess=reference.preprocess.to_dict(),
            context_length=int(tokenizer.context_length),
            clean=clean,
            trim_tokens=trim_tokens,
            agreement=agreement,
        )
        if not all(manifest.accepts("fp32", tower) for tower in TOWERS):
            raise ModelUnavailable(f"The ONNX export of {settings.model} disagrees with torch: {agreement}.")
        (work / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("Exported %s to %s; agreement with torch fp32: %s", settings.model, folder, agreement)
    return manifest


def probe_images(size: int) -> list:
    """A fixed, varied set of images: gradients, shapes, noise, text-like stripes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(2026)
    images = []
    for i in range(8):
        base = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((4 * size, 3 * size), Image.Resampling.BICUBIC)
        draw = ImageDraw.Draw(image)
        for _ in range(2 + i):
            x, y = (int(v) for v in rng.integers(0, 3 * size, 2))
            box = [x, y, x + int(rng.integers(size // 4, 2 * size)), y + int(rng.integers(size // 4, 2 * size))]
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if i % 2 else draw.rectangle)(box, fill=colour)
        images.append(image)
    return images


def _export_towers(model, pixels: np.ndarray, tokens: np.ndarray, folder: Path) -> bool:
    """Write both fp32 towers; return whether the text tower takes trimmed token rows."""
    import torch

    class Tower(torch.nn.Module):
        def __init__(self, encode):
            super().__init__()
            self.model, self.encode = model, encode

        def forward(self, x):
            return self.encode(x)

    # Not under inference_mode: it selects fused attention kernels ONNX cannot express.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporters' deprecation notices and progress
        # The TorchScript exporter: fast, and fine for a fixed-size input.
        torch.onnx.export(
            Tower(model.encode_image),
            (torch.from_numpy(pixels[:2]),),
            str(onnx_file(folder, "visual", "fp32")),
            input_names=["pixels"],
            output_names=["embedding"],
            dynamic_axes={"pixels": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        if not _trimmable(model):
            torch.onnx.export(
                Tower(model.encode_text),
                (torch.from_numpy(tokens[:2]),),
                str(onnx_file(folder, "text", "fp32")),
                input_names=["tokens"],
                output_names=["embedding"],
                dynamic_axes={"tokens": {0: "batch"}, "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
            return False
        # A variable number of tokens needs torch.export: the TorchScript tracer bakes the
        # sequence length into the attention's reshapes.
        dims = {
            0: torch.export.Dim("batch", min=1, max=65536),
            1: torch.export.Dim("tokens", min=2, max=tokens.shape[1]),
        }
        torch.onnx.export(
            Tower(_trimmed_encode_text(model)),
            (torch.from_numpy(tokens[:2]),),
            str(onnx_file(folder, "text", "fp32")),
            input_names=["tokens"],
            output_names=["text_embedding"],  # "embedding" collides with a weight's name
            dynamic_shapes=(dims,),
            opset_version=18,
            dynamo=True,
        )
    return True


def _trimmable(model) -> bool:
    """CLIP's text tower is causal and pools at the end-of-text token, so positions after
    the longest text in a batch cannot change the result: a query of 8 tokens need not
    run 77. The export check (against open_clip's full-length ``encode_text``) proves it."""
    from open_clip.model import CLIP

    return type(model) is CLIP and model.text_pool_type == "argmax" and model.attn_mask is not None


def _trimmed_encode_text(model):
    """open_clip's ``CLIP.encode_text``, on as many positions as the tokens given."""
    import torch
    from open_clip.transformer import text_global_pool

    def encode_text(tokens):
        length = tokens.shape[1]
        x = model.token_embedding(tokens) + model.positional_embedding[:length]
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
        x = text_global_pool(x, tokens, model.text_pool_type)
        return (
            model.text_projection(x)
            if isinstance(model.text_projection, torch.nn.Linear)
            else x @ model.text_projection
        )

    return encode_text


def _quantize(folder: Path, tower: str, inputs: np.ndarray, expected: np.ndarray) -> float:
    """Write the int8 tower with the quantisation recipe that agrees best with fp32; return
    its agreement. Weights only, of matrix products and lookups (the token embedding is
    most of the text tower's size); not convolutions: quantised ones (the patch embedding,
    ResNet towers) run several times slower than fp32 ones on CPU."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    best, target = -1.0, onnx_file(folder, tower, "int8")
    candidate = folder / f"{tower}.candidate.onnx"
    for recipe in QUANTIZATION_RECIPES:
        logging.disable(logging.WARNING)  # "consider pre-processing": shape inference adds nothing here
        try:
            quantize_dynamic(
                onnx_file(folder, tower, "fp32"),
                candidate,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Gemm", "Gather"],
                **recipe,
            )
        finally:
            logging.disable(logging.NOTSET)
        agreement = _agreement(candidate, inputs, expected)
        if agreement > best:
            best = agreement
            candidate.replace(target)
    candidate.unlink(missing_ok=True)
    return best


def _agreement(path: Path, inputs: np.ndarray, expected: np.ndarray) -> float:
    """The least cosine similarity between ``expected`` and what the model at ``path`` gives."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = normalised(session.run(None, {session.get_inputs()[0].name: inputs})[0])
    return round(float(np.min(np.sum(expected * actual, axis=1))), 6)


def _tokenizer_clean(tokenizer) -> str:
    """How the tokenizer cleans text, if ours can reproduce it; else ``ModelUnavailable``."""
    from open_clip import tokenizer as oc

    cleaners = {oc._clean_lower: "lower", oc._clean_whitespace: "whitespace", oc._clean_canonicalize: "canonicalize"}
    if (
        type(tokenizer) is not oc.SimpleTokenizer
        or tokenizer.reduction_fn is not None
        or len(tokenizer.encoder) != VOCAB_SIZE
        or tokenizer.clean_fn not in cleaners
    ):
        raise ModelUnavailable(
            f"The onnx backend serves models with CLIP's own tokenizer; this model uses {type(tokenizer).__name__}. "
            "Set FINDIMAGE_CLIP__BACKEND=torch."
        )
    return cleaners[tokenizer.clean_fn]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export findimage's CLIP model to ONNX (used by ensure_exported).")
    parser.add_argument("--settings", required=True, help="ClipSettings as JSON")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        export(ClipSettings.model_validate_json(args.settings), args.out)
    except ModelUnavailable as exc:
        print(f"{type(exc).__name__}: {exc.message}")  # for ensure_exported, which reads stdout
        sys.exit(1)


if __name__ == "__main__":
    main()
