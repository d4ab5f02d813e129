"""The studio in a real browser (Playwright driving Debian's chromium-headless-shell, which .ci/run installs):
upload a photo, pick a style, paint two regions with the mouse, give them styles, see the preview change, and
download a full-size PNG that has each style where it was painted. Skipped, saying why, where there is no
browser."""

import base64
import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import stylebank
from helpers import make_tiny_data
from stylebank.images import load_image
from studio_server import running_studio

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
BROWSER = os.environ.get("STYLEBANK_BROWSER") or shutil.which("chromium-headless-shell") or shutil.which("chromium")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(BROWSER is None, reason="no Chromium: apt-get install chromium-headless-shell "
                                                         "(or set STYLEBANK_BROWSER to a Chromium executable)")]
PHOTO_SIZE = (320, 224)  # under the page's 512-pixel preview, so its brush paints at the photo's own pixels
MAX_PIXELS = 100_000  # the server's limit in these tests: PHOTO_SIZE is under it


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    with running_studio(tmp_path_factory.mktemp("studio"), "--max-pixels", str(MAX_PIXELS)) as studio:
        yield studio


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos") / "coffee.png"
    load_image("builtin:coffee").resize(PHOTO_SIZE).save(path)
    return path


@pytest.fixture
def blank_page():
    """A browser tab that has not opened the studio yet."""
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda error: errors.append(error))
        yield page
        browser.close()
        assert not errors, errors  # no script error on the page


@pytest.fixture
def page(blank_page, studio):
    blank_page.goto(studio.url)
    return blank_page


def preview_version(page) -> int:
    return int(page.locator("#result").get_attribute("data-version") or 0)


def wait_for_preview_after(page, version: int) -> None:
    page.wait_for_function(f"Number(document.getElementById('result').dataset.version) > {version}", timeout=30000)
    page.wait_for_function("document.getElementById('busy').hidden", timeout=30000)  # no newer one on its way


def page_bytes(page, blob_expression: str) -> bytes:
    """The bytes of a Blob that a JavaScript expression on the page gives."""
    encoded = page.evaluate(f"""async () => {{
        const bytes = new Uint8Array(await (await {blob_expression}).arrayBuffer());
        let text = ''; bytes.forEach((b) => {{ text += String.fromCharCode(b); }}); return btoa(text); }}""")
    return base64.b64decode(encoded)


def shown_result(page) -> np.ndarray:
    """The preview image the page shows, as the browser holds it."""
    data = page_bytes(page, "fetch(document.getElementById('result').src).then((r) => r.blob())")
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=int)


def paint(page, layer: int, x: int, top: int, bottom: int) -> None:
    """Choose brush ``layer`` and drag it down the photo's column ``x`` (photo pixels) from ``top`` to ``bottom``."""
    page.click(f".layer[data-layer='{layer}']")
    box = page.locator("#paint-canvas").bounding_box()
    scale = box["width"] / PHOTO_SIZE[0]
    page.mouse.move(box["x"] + x * scale, box["y"] + top * scale)
    page.mouse.down()
    for y in range(top, bottom + 1, 10):
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
    page.mouse.up()


def choose_style(page, index: int) -> None:
    page.click(f".style[data-style='{index}'] .pictures")


def patch_distance(result: np.ndarray, reference: np.ndarray, columns: slice) -> float:
    return float(np.abs(result[40:180, columns] - reference[40:180, columns]).mean())


def test_paint_two_regions_and_download_them_in_their_styles(page, photo, tmp_path):
    assert page.locator("#drop-zone").is_visible() and not page.locator("#workspace").is_visible()  # a photo first
    page.set_input_files("#photo-input", str(photo))
    wait_for_preview_after(page, 0)
    assert not page.locator("#drop-zone").is_visible() and page.locator("#controls").is_visible()
    choose_style(page, 0)  # everywhere else: style 0
    page.locator("#brush-size").fill("70")
    unpainted = shown_result(page)
    version = preview_version(page)
    paint(page, 1, 60, 20, 200)    # red down the left
    choose_style(page, 1)          # red: style 1
    paint(page, 2, 260, 20, 200)   # green down the right
    choose_style(page, 2)          # green: style 2
    page.wait_for_timeout(300)  # past the page's debounce of slider changes
    wait_for_preview_after(page, version)
    painted = shown_result(page)
    assert np.abs(painted - unpainted)[:, :100].mean() > 10  # the preview changed where it was painted
    with page.expect_download() as download:
        page.click("#download")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "coffee_stylebank.png"
    result = Image.open(path)
    assert result.size == PHOTO_SIZE
    settings = json.loads(result.text["stylebank"])
    assert settings["region_styles"] == "0;1;2" and settings["mask"] is True
    # the regions as painted, in the label image the page sends: 1 down the left, 2 down the right
    labels = np.asarray(Image.open(io.BytesIO(page_bytes(page, "labelsPng()"))).convert("L"))
    assert labels.shape == (PHOTO_SIZE[1], PHOTO_SIZE[0]) and set(np.unique(labels)) == {0, 1, 2}
    assert (labels[30:190, 40:80] == 1).all() and (labels[30:190, 240:280] == 2).all()
    assert (labels[:, 110:210] == 0).all() and (labels[:, :20] == 0).all()
    # the download is the model's fusion of the three styles under those labels
    model = stylebank.load(device="cpu")
    source = Image.open(photo).convert("RGB")
    pixels = np.asarray(result.convert("RGB"), dtype=int)
    expected = np.asarray(model.stylize(source, "0;1;2", mask=labels), dtype=int)
    assert np.abs(pixels - expected).max() <= 2  # thread-count rounding
    # and each painted column looks most like its own style (the decoder's norms see the whole picture, so a
    # region is its style's look, not its exact pixels)
    styled = {index: np.asarray(model.stylize(source, index), dtype=int) for index in range(3)}
    for columns, painted_style in ((slice(45, 76), 1), (slice(145, 176), 0), (slice(245, 276), 2)):
        distances = {index: patch_distance(pixels, reference, columns) for index, reference in styled.items()}
        assert min(distances, key=distances.get) == painted_style, distances


def test_problems_are_shown_on_the_page_in_plain_words(page, tmp_path):
    text_file = tmp_path / "notes.png"
    text_file.write_text("not a picture")
    page.set_input_files("#photo-input", str(text_file))
    page.wait_for_selector("#error:not([hidden])")
    assert "cannot read it as an image" in page.locator("#error").inner_text()
    too_big = tmp_path / "big.png"
    Image.new("RGB", (400, 300), "teal").save(too_big)  # 120,000 pixels: over this server's --max-pixels
    page.set_input_files("#photo-input", str(too_big))
    page.wait_for_selector("#error:not([hidden])")
    page.wait_for_function("document.getElementById('error').innerText.includes('megapixels')", timeout=30000)
    assert "400x300 is 0.12 megapixels, above the limit of 0.1" in page.locator("#error").inner_text()


def test_a_photo_chosen_while_the_styles_load_is_taken(blank_page, studio, photo):
    """The page is usable as soon as it shows: a photo picked before the model's styles have arrived (a busy
    server) is loaded once they do, not dropped."""
    held = []
    # the server's answer is held back until the photo has been chosen
    blank_page.route("**/api/styles", lambda route: held.append(route))
    blank_page.goto(studio.url)
    blank_page.set_input_files("#photo-input", str(photo))
    assert held and blank_page.locator("#drop-zone").is_visible()
    held[0].continue_()
    wait_for_preview_after(blank_page, 0)
    assert blank_page.locator("#workspace").is_visible() and blank_page.locator("#error").is_hidden()
    assert blank_page.locator(".style").count() == len(stylebank.load(device="cpu").styles)  # all there to pick


@pytest.fixture(scope="module")
def roomy_studio(tmp_path_factory):
    """A studio that takes photos larger than the page's preview."""
    with running_studio(tmp_path_factory.mktemp("roomy"), "--max-pixels", "2000000") as studio:
        yield studio


def test_automatic_regions_and_a_full_size_download_of_a_photo_larger_than_the_preview(blank_page, roomy_studio,
                                                                                        tmp_path):
    big = tmp_path / "wide.png"
    load_image("builtin:astronaut").resize((900, 600)).save(big)  # the preview shows it at 512x341
    blank_page.goto(roomy_studio.url)
    blank_page.set_input_files("#photo-input", str(big))
    wait_for_preview_after(blank_page, 0)
    assert max(Image.fromarray(shown_result(blank_page).astype(np.uint8)).size) <= 512
    version = preview_version(blank_page)
    blank_page.select_option("#kmeans-count", "3")
    blank_page.click("#kmeans")
    wait_for_preview_after(blank_page, version)
    labels = np.asarray(Image.open(io.BytesIO(page_bytes(blank_page, "labelsPng()"))).convert("L"))
    assert set(np.unique(labels)) == {1, 2, 3}  # every pixel in one of the three automatic regions
    assert min(np.bincount(labels.ravel())[1:]) > labels.size // 50  # each a real part of the photo
    with blank_page.expect_download() as download:
        blank_page.click("#download")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    result = Image.open(path)
    assert result.size == (900, 600)  # the photo's own size, not the preview's
    assert json.loads(result.text["stylebank"])["mask"] is True


def test_automatic_regions_and_clear_can_be_undone(page, photo):
    page.set_input_files("#photo-input", str(photo))
    wait_for_preview_after(page, 0)
    assert page.locator("#undo").is_hidden()
    version = preview_version(page)
    paint(page, 1, 60, 20, 200)
    wait_for_preview_after(page, version)
    painted = np.asarray(Image.open(io.BytesIO(page_bytes(page, "labelsPng()"))).convert("L"))
    assert set(np.unique(painted)) == {0, 1}
    for button in ("#kmeans", "#clear"):
        version = preview_version(page)
        page.click(button)
        page.wait_for_selector("#undo:not([hidden])")
        wait_for_preview_after(page, version)
        replaced = np.asarray(Image.open(io.BytesIO(page_bytes(page, "labelsPng()"))).convert("L"))
        assert not np.array_equal(replaced, painted) and page.locator("#undo").is_visible()
        version = preview_version(page)
        page.click("#undo")
        wait_for_preview_after(page, version)
        restored = np.asarray(Image.open(io.BytesIO(page_bytes(page, "labelsPng()"))).convert("L"))
        assert np.array_equal(restored, painted) and page.locator("#undo").is_hidden()
    page.click("#kmeans")
    page.wait_for_selector("#undo:not([hidden])")
    paint(page, 2, 260, 20, 200)  # a new stroke after the replacement: no undo that would lose it
    assert page.locator("#undo").is_hidden()


def test_the_first_stroke_on_an_unpainted_photo_paints_a_region_not_the_eraser(page, photo):
    page.set_input_files("#photo-input", str(photo))
    wait_for_preview_after(page, 0)
    assert page.locator(".layer.selected").get_attribute("data-layer") == "0"  # "everywhere" chosen for styles
    box = page.locator("#paint-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 120)
    page.mouse.up()
    labels = np.asarray(Image.open(io.BytesIO(page_bytes(page, "labelsPng()"))).convert("L"))
    assert set(np.unique(labels)) == {0, 1}
    assert page.locator(".layer.selected").get_attribute("data-layer") == "1"


@pytest.fixture(scope="module")
def learning_studio(tmp_path_factory):
    """A studio serving a small model (trained here, random loss network) that learns an added style in 1 s."""
    from stylebank.config import TrainConfig
    from stylebank.training.loop import train

    data = make_tiny_data(tmp_path_factory.mktemp("learning-data"))
    model = train(TrainConfig(content=[str(data["content"])], styles=[str(data["styles"][0])],
                              output=str(data["root"] / "small.safetensors"), image_size=32, style_size=32,
                              batch_size=2, iterations=3, vgg="random", warmup=1, lr_ramp=0, device="cpu", workers=0,
                              preview=str(data["content"] / "photo0.png")), progress=False)
    with running_studio(tmp_path_factory.mktemp("learning"), "-m", str(model), "--learn-seconds", "1") as studio:
        yield studio, model


def test_a_painting_dropped_on_the_page_becomes_a_style_with_its_style_file(blank_page, learning_studio, photo,
                                                                            tmp_path):
    studio, model_file = learning_studio
    blank_page.goto(studio.url)
    blank_page.set_input_files("#photo-input", str(photo))
    wait_for_preview_after(blank_page, 0)
    painting = tmp_path / "my painting.png"
    stylebank.load(model_file, "cpu").style_picture(0).transpose(Image.Transpose.ROTATE_90).save(painting)
    blank_page.set_input_files("#style-input", str(painting))
    blank_page.wait_for_selector("#learning a", timeout=120_000)  # "… added: download its style file"
    assert "“my painting” added" in blank_page.text_content("#learning")
    cards = blank_page.locator("#styles .style .name").all_text_contents()
    assert cards == ["zebra", "my painting"]
    version = preview_version(blank_page)
    blank_page.click('#styles .style[data-style="1"] .pictures')  # the new style alone
    wait_for_preview_after(blank_page, version)
    with blank_page.expect_download() as download:
        blank_page.click("#learning a")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "my painting.safetensors"
    model = stylebank.load(model_file, "cpu")
    assert model.import_style(saved) == ["my painting"]  # made for this model's encoder and decoder
