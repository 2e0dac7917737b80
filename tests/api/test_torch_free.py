"""With the ONNX backend, a serving process never imports torch, and with OCR off not RapidOCR
either: it starts fast and small."""

import subprocess
import sys
import textwrap

from tests.factories import distinct_jpeg

SERVE_AND_QUERY = textwrap.dedent(
    """
    import sys, time
    from fastapi.testclient import TestClient
    from cli.serving import create_app
    from core.config import ClipSettings, OcrSettings, Settings

    settings = Settings(data_dir=sys.argv[1], models_dir=sys.argv[2], redis_url=sys.argv[3],
                        clip=ClipSettings(model=sys.argv[4]), ocr=OcrSettings(mode="off"), allowed_hosts=["testserver"])
    with TestClient(create_app(settings), client=("127.0.0.1", 50000)) as client:
        with open(sys.argv[5], "rb") as photo:
            image = client.post("/api/images", files={"files": ("a.jpg", photo)}, data={"caption": "a duck"}).json()["images"][0]
        deadline = time.monotonic() + 30
        while client.get(f"/api/images/{image['id']}").json()["status"] != "indexed":
            assert time.monotonic() < deadline, "not indexed in time"
            time.sleep(0.05)
        found = client.get("/api/search", params={"q": "a duck on a pond"}).json()["results"]
        assert [r["id"] for r in found] == [image["id"]]
    print(sorted(name for name in ("torch", "open_clip", "torchvision", "rapidocr") if name in sys.modules))
    """
)


def test_an_api_process_on_the_onnx_backend_never_imports_torch_nor_with_ocr_off_rapidocr(tmp_path, settings, embedder, tiny_model):
    photo = tmp_path / "duck.jpg"
    photo.write_bytes(distinct_jpeg(99, size=(640, 480)))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_AND_QUERY,
            str(tmp_path / "data"),
            str(settings.models_dir),
            settings.redis_url,
            tiny_model,
            str(photo),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
