"""The studio's HTTP API in this process (Starlette's TestClient): what each request gets, and every bad request's
plain-words 4xx. The real server on 127.0.0.1 (bursts, raw malformed requests) is in test_server.py, the page in a
real browser in test_studio_browser.py."""

import asyncio
import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

import stylebank
from helpers import smooth_image
from studio_server import multipart, png
from stylebank.fusion import kmeans_masks
from stylebank.tensors import to_tensor
from stylebank.web.app import ServerLimits, create_app
from stylebank.web.limits import Gate, Rejected
from bundled import SECOND, THIRD


@pytest.fixture(scope="module")
def model():
    return stylebank.load(device="cpu")


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model, ServerLimits(max_upload_bytes=300_000, max_pixels=1_000_000))) as client:
        yield client


PHOTO = smooth_image(5, 48, 64)


def pixels(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def test_styles_lists_the_models_styles_with_their_images(client, model):
    answer = client.get("/api/styles").json()
    assert [style["name"] for style in answer["styles"]] == model.styles
    assert answer["limits"]["max_upload_bytes"] == 300_000
    image = client.get(answer["styles"][2]["image"])
    assert image.headers["content-type"] == "image/png"
    expected = (model.style_image(2) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(pixels(image.content), expected)
    missing = client.get(f"/api/styles/{len(model.styles)}/image")
    assert missing.status_code == 404 and "no image for style" in missing.json()["error"]


def test_stylize_returns_the_models_picture_with_its_settings(client, model):
    answer = client.post("/api/stylize", files={"image": ("p.png", png(PHOTO))},
                         data={"style": f"{SECOND}:1,{THIRD}:3", "strength": "0.7", "preserve_color": "true"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    expected = model.stylize(PHOTO, f"{SECOND}:1,{THIRD}:3", strength=0.7, preserve_color=True)
    assert np.array_equal(pixels(answer.content), np.asarray(expected))
    settings = json.loads(Image.open(io.BytesIO(answer.content)).text["stylebank"])
    assert settings["style"] == f"{SECOND}:1,{THIRD}:3" and settings["strength"] == 0.7
    assert settings["preserve_color"] is True and settings["mask"] is False and settings["model"] == model.path.name


def test_stylize_paints_each_region_of_a_mask_in_its_style(client, model):
    labels = np.zeros((24, 32), np.uint8)  # half the photo's size: scaled up like a mask painted on a preview
    labels[:, 16:] = 7
    answer = client.post("/api/stylize", files={"image": ("p.png", png(PHOTO)), "mask": ("m.png", png(labels))},
                         data={"region_styles": "1;0:1,2:1"})
    assert answer.status_code == 200, answer.text
    expected = model.stylize(PHOTO, "1;0:1,2:1", mask=labels)
    assert np.array_equal(pixels(answer.content), np.asarray(expected))
    settings = json.loads(Image.open(io.BytesIO(answer.content)).text["stylebank"])
    assert settings["mask"] is True and settings["region_styles"] == "1;0:1,2:1"
    assert "style" not in settings  # the regions' styles were used, not the single style's default


def test_max_size_shrinks_and_zero_keeps_the_size(client):
    big = smooth_image(6, 90, 120)
    shrunk = client.post("/api/stylize", files={"image": ("p.png", png(big))}, data={"max_size": "60"})
    kept = client.post("/api/stylize", files={"image": ("p.png", png(big))}, data={"max_size": "0"})
    assert Image.open(io.BytesIO(shrunk.content)).size == (60, 45)
    assert Image.open(io.BytesIO(kept.content)).size == (120, 90)


def test_regions_are_the_kmeans_labels(client):
    answer = client.post("/api/regions", files={"image": ("p.png", png(PHOTO))}, data={"regions": "3"})
    assert answer.status_code == 200
    labels = np.asarray(Image.open(io.BytesIO(answer.content)))
    expected = kmeans_masks(to_tensor(PHOTO), 3).argmax(0)
    assert labels.shape == (48, 64) and np.array_equal(labels, expected)


def truncated_png() -> bytes:
    data = png(smooth_image(7, 200, 200))
    return data[: len(data) // 2]


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A small file that declares 900 megapixels (one zlib stream of zeros, cut short)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(100_000))) + \
        chunk(b"IEND", b"")


BAD_REQUESTS = [
    ("no image", {}, {"style": "1"}, "missing the 'image' file field"),
    ("image as text", {}, {"image": "photo.jpg"}, "'image' must be a file upload"),
    ("unknown style", {"image": png(PHOTO)}, {"style": "cubism"}, "unknown style 'cubism'"),
    ("style out of range", {"image": png(PHOTO)}, {"style": "9"}, "style 9 out of range"),
    ("bad blend", {"image": png(PHOTO)}, {"style": "0:x"}, "bad weight 'x'"),
    ("strength", {"image": png(PHOTO)}, {"strength": "1.5"}, "strength must be between 0 and 1"),
    ("strength nan", {"image": png(PHOTO)}, {"strength": "nan"}, "strength must be between 0 and 1"),
    ("max size", {"image": png(PHOTO)}, {"max_size": "big"}, "max_size must be a whole number"),
    ("flag", {"image": png(PHOTO)}, {"preserve_color": "maybe"}, "preserve_color must be true or false"),
    ("mask alone", {"image": png(PHOTO), "mask": png(np.zeros((4, 4), np.uint8))}, {}, "need region_styles"),
    ("region styles alone", {"image": png(PHOTO)}, {"region_styles": "0,1"}, "region_styles needs a mask"),
    ("mask and regions", {"image": png(PHOTO), "mask": png(np.zeros((4, 4), np.uint8))},
     {"regions": "kmeans:2", "region_styles": "0,1"}, "a mask or regions, not both"),
    ("region count", {"image": png(PHOTO), "mask": png(np.eye(8, dtype=np.uint8))}, {"region_styles": "0,1,2"},
     "the mask has 2 regions but 3 region styles"),
    ("bad regions", {"image": png(PHOTO)}, {"regions": "voronoi:3", "region_styles": "0,1"}, "bad --regions"),
    ("not an image", {"image": b"GIF89a but not really"}, {}, "the uploaded image: not an image"),
    ("empty", {"image": b""}, {}, "the uploaded image: empty file"),
    ("truncated", {"image": truncated_png()}, {}, "the uploaded image: truncated or corrupt"),
    ("bomb", {"image": bomb_png()}, {}, "900 megapixels, above the limit of 1"),
    ("mask bomb", {"image": png(PHOTO), "mask": bomb_png()}, {"region_styles": "0,1"},
     "the uploaded mask: 30000x30000"),
    ("tiny", {"image": png(smooth_image(1, 4, 4))}, {}, "StyleBank needs at least 8x8"),
]


@pytest.mark.parametrize("files, fields, message", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_request_gets_a_400_that_says_why(client, files, fields, message):
    body, content_type = multipart(fields, files)
    answer = client.post("/api/stylize", content=body, headers={"content-type": content_type})
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


def test_requests_that_are_not_forms_get_400s_and_unknown_routes_404s(client):
    assert "multipart/form-data" in client.post("/api/stylize", json={"image": "x"}).json()["error"]
    garbled = client.post("/api/stylize", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"})
    assert garbled.status_code == 400 and "error" in garbled.json()
    for path in ("/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2F..%2Fapp.py",
                 "/api/nothing"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json()["error"], path
    assert client.get("/api/stylize").status_code == 405
    bad_k = client.post("/api/regions", files={"image": ("p.png", png(PHOTO))}, data={"regions": "99"})
    assert bad_k.status_code == 400 and "regions must be between 1 and 8" in bad_k.json()["error"]


def test_a_body_over_the_limit_is_refused_while_it_arrives(client):
    declared = client.post("/api/stylize", content=b"x" * 10, headers={"content-length": "300001",
                                                                       "content-type": "multipart/form-data"})
    assert declared.status_code == 413 and "limit of 0.3 MB" in declared.json()["error"]

    def chunks():  # no Content-Length: counted as it comes (that it stops reading early: test_server.py)
        for _ in range(100):
            yield b"y" * 10_000

    streamed = client.post("/api/stylize", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=z"})
    assert streamed.status_code == 413
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)  # a 480 kB PNG
    assert client.post("/api/stylize", files={"image": ("p.png", png(noise))}).status_code == 413


def test_the_page_and_its_files_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "StyleBank studio" in page.text
    assert page.headers["content-type"].startswith("text/html")
    answers = [client.get(f"/static/{name}") for name in ("studio.js", "studio.css")]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert "javascript" in answers[0].headers["content-type"] and "css" in answers[1].headers["content-type"]
    files = [page.text] + [answer.text for answer in answers]
    for text in files:  # offline: nothing the page loads comes from another host
        assert "//" not in text.replace("// ", "").replace("http://127.0.0.1", ""), text[:80]
        assert "@import" not in text and "url(" not in text


def test_the_gate_runs_one_job_at_a_time_and_refuses_beyond_its_queue():
    import threading
    import time

    running, most = [0], [0]
    lock = threading.Lock()

    def work(seconds):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(seconds)
        with lock:
            running[0] -= 1
        return seconds

    async def request(gate):
        async with gate.admission():
            return await gate.run(work, 0.05)

    async def burst():
        gate = Gate(queue=2, retry_after=3)
        return await asyncio.gather(*(request(gate) for _ in range(6)), return_exceptions=True)

    results = asyncio.run(burst())
    served = [result for result in results if result == 0.05]
    refused = [result for result in results if isinstance(result, Rejected)]
    assert len(served) == 3 and len(refused) == 3 and most[0] == 1
    assert refused[0].status == 503 and refused[0].headers == {"Retry-After": "3"}


def test_kmeans_regions_on_stylize_paint_the_kmeans_labels(client, model):
    answer = client.post("/api/stylize", files={"image": ("p.png", png(PHOTO))},
                         data={"regions": "kmeans:2", "region_styles": "0;3"})
    assert answer.status_code == 200, answer.text
    expected = model.stylize(PHOTO, "0;3", mask="kmeans:2")
    assert np.array_equal(pixels(answer.content), np.asarray(expected))
    one_style = model.stylize(PHOTO, "0")
    assert not np.array_equal(pixels(answer.content), np.asarray(one_style))  # both styles are in it


def test_the_pixel_limit_guards_the_regions_route_too(model):
    with TestClient(create_app(model, ServerLimits(max_pixels=40 * 40))) as small:
        refused = small.post("/api/regions", files={"image": ("p.png", png(PHOTO))}, data={"regions": "2"})
        assert refused.status_code == 400 and "above the limit" in refused.json()["error"]
        fits = small.post("/api/regions", files={"image": ("p.png", png(smooth_image(5, 30, 40)))},
                          data={"regions": "2"})
        assert fits.status_code == 200


def test_an_unexpected_error_is_a_json_500_without_its_traceback(model, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(model, "stylize_with", broken)
    with TestClient(create_app(model), raise_server_exceptions=False) as fresh:
        answer = fresh.post("/api/stylize", files={"image": ("p.png", png(PHOTO))})
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error (RuntimeError); see the server's log"}
    assert "secret internals" in caplog.text  # the log has it, the client does not
