"""The README's picture of the studio: a real browser (Chromium, driven by Playwright) on ``stylebank serve``,
with the bundled photo ``coffee`` painted in three styles.

    python scripts/studio_screenshot.py [--output docs/images/studio.png] [--browser /usr/bin/chromium-headless-shell]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from stylebank.images import load_image

# tests/studio_server.py: the tests' way of starting the server (a helper module of the tests, never a test file)
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from studio_server import running_studio  # noqa: E402


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Drag the brush through ``points``, given as fractions of the photo's width and height."""
    box = page.locator("#paint-canvas").bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for start, end in zip(at, at[1:]):
        for step in range(1, 11):
            page.mouse.move(start[0] + (end[0] - start[0]) * step / 10, start[1] + (end[1] - start[1]) * step / 10)
    page.mouse.up()


def paint_the_example(page, photo: Path) -> None:
    page.set_input_files("#photo-input", str(photo))
    page.wait_for_function("Number(document.getElementById('result').dataset.version) > 0", timeout=60000)
    page.click(".style[data-style='1'] .pictures")  # everywhere else: strokes
    page.locator("#brush-size").fill("60")
    page.click(".layer[data-layer='1']")  # red over the cup: waves
    stroke(page, [(0.33, 0.12), (0.64, 0.12), (0.64, 0.27), (0.33, 0.27), (0.33, 0.42), (0.64, 0.42), (0.64, 0.55),
                  (0.33, 0.55)])
    page.click(".style[data-style='2'] .pictures")
    page.click(".layer[data-layer='2']")  # green along the table's front edge: mosaic
    stroke(page, [(0.05, 0.9), (0.95, 0.9)])
    page.click(".style[data-style='0'] .pictures")
    page.wait_for_timeout(500)
    page.wait_for_function("document.getElementById('busy').hidden", timeout=60000)
    page.wait_for_function("[...document.querySelectorAll('img[data-thumbnail]')].every((img) => img.complete "
                           "&& img.naturalWidth > 0)", timeout=60000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("docs/images/studio.png"))
    parser.add_argument("--browser", default=shutil.which("chromium-headless-shell") or shutil.which("chromium"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running_studio(Path(folder)) as studio, \
            sync_playwright() as driver:
        photo = Path(folder) / "coffee.png"
        load_image("builtin:coffee").save(photo)
        browser = driver.chromium.launch(executable_path=args.browser, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(studio.url)
        paint_the_example(page, photo)
        page.screenshot(path=args.output)
        browser.close()
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
