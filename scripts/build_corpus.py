"""Rebuild the photo corpus the bundled model trains on (and the held-out photos it is evaluated on) from public
GitHub repositories, each at a pinned commit. The photos are used for training only, never shipped: their
sources and licences are in docs/training-data.md.

    python scripts/build_corpus.py data/photos              # clones each repository (blobs only) from GitHub
    python scripts/build_corpus.py data/photos --mirrors DIR  # or reads bare mirrors DIR/OWNER+NAME/repo

Writes DEST/train/SOURCE/*.jpg, DEST/heldout/*.jpg and DEST/manifest.json. Photos that are nearly grey or
whose short side is under 192 px are skipped; the rest are resized so their short side is at most 320 px (the
training crops are 256²) and saved as JPEG, quality 92.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MIN_SIDE = 192
SHORT_SIDE = 320
MIN_CHROMA = 6.0  # mean |channel - grey| in 0-255: below it a photo is (nearly) greyscale


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    commit: str
    pattern: str  # fnmatch on the path in the repository
    split: str = "train"


SOURCES = (
    Source("imagenet-sample", "EliSchwartz/imagenet-sample-images", "bc69043e2862758a1906c6a24a792bb28c6bb2ff",
           "*.JPEG"),
    Source("imagen", "ajschumacher/imagen", "2e8718956e3bb046db9a8e488c2254fd9846b6c5", "imagen/*.jpg"),
    Source("bsds500-train", "Sisso16/ssn_pytorch", "c4f9ac8c43397cbacbf2e2ba1505efafa769435d",
           "BSR/BSDS500/data/images/train/*.jpg"),
    Source("bsds500-val", "Sisso16/ssn_pytorch", "c4f9ac8c43397cbacbf2e2ba1505efafa769435d",
           "BSR/BSDS500/data/images/val/*.jpg"),
    Source("urban100", "jbhuang0604/SelfExSR", "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598",
           "data/Urban100/image_SRF_4/*_HR.png"),
    Source("sun-hays80", "jbhuang0604/SelfExSR", "8f6dd8c1d20cb7e8792a7177b4f6fd677633f598",
           "data/Sun-Hays80/image_SRF_8/*_HR.png"),
    # never trained on: the photos the targets are measured on
    Source("bsds500-test", "Sisso16/ssn_pytorch", "c4f9ac8c43397cbacbf2e2ba1505efafa769435d",
           "BSR/BSDS500/data/images/test/*.jpg", split="heldout"),
)


def repository(repo: str, commit: str, mirrors: Path | None, clones: Path) -> Path:
    """A git directory holding ``commit`` of ``repo``: the mirror if given, else a blob-less clone."""
    if mirrors is not None:
        return mirrors / repo.replace("/", "+") / "repo"
    target = clones / repo.replace("/", "+")
    if not target.exists():
        subprocess.run(["git", "clone", "--bare", "--filter=blob:none", f"https://github.com/{repo}", str(target)],
                       check=True)
    subprocess.run(["git", "-C", str(target), "cat-file", "-e", commit], check=True)
    return target


def blobs(git_dir: Path, commit: str, pattern: str):
    listing = subprocess.run(["git", "-C", str(git_dir), "ls-tree", "-r", "--name-only", commit],
                             check=True, capture_output=True, text=True).stdout.splitlines()
    for path in sorted(p for p in listing if fnmatch.fnmatch(p, pattern)):
        data = subprocess.run(["git", "-C", str(git_dir), "cat-file", "blob", f"{commit}:{path}"],
                              check=True, capture_output=True).stdout
        yield path, data


def prepared(data: bytes) -> Image.Image | None:
    """The photo ready for training, or None if it is too small or grey."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            photo = image.convert("RGB")
    except OSError:
        return None
    if min(photo.size) < MIN_SIDE:
        return None
    pixels = np.asarray(photo, dtype=np.float32)
    if np.abs(pixels - pixels.mean(axis=2, keepdims=True)).mean() < MIN_CHROMA:
        return None
    scale = SHORT_SIDE / min(photo.size)
    if scale < 1:
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
    return photo


def build(dest: Path, mirrors: Path | None) -> dict:
    manifest = {}
    for source in SOURCES:
        git_dir = repository(source.repo, source.commit, mirrors, dest / ".clones")
        folder = dest / "heldout" if source.split == "heldout" else dest / "train" / source.name
        folder.mkdir(parents=True, exist_ok=True)
        kept = skipped = 0
        digest = hashlib.sha256()  # of the photos as written: a rebuild that trains on other pixels shows here
        for path, data in blobs(git_dir, source.commit, source.pattern):
            photo = prepared(data)
            if photo is None:
                skipped += 1
                continue
            target = folder / f"{Path(path).stem}.jpg"
            photo.save(target, quality=92)
            digest.update(target.read_bytes())
            kept += 1
        manifest[source.name] = {"repo": source.repo, "commit": source.commit, "pattern": source.pattern,
                                 "split": source.split, "kept": kept, "skipped": skipped,
                                 "sha256": digest.hexdigest()}
        print(f"{source.name}: {kept} kept, {skipped} skipped (small or grey)")
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--mirrors", type=Path, help="folder of bare mirrors OWNER+NAME/repo (else: git clone)")
    arguments = parser.parse_args()
    manifest = build(arguments.dest, arguments.mirrors)
    train = sum(entry["kept"] for entry in manifest.values() if entry["split"] == "train")
    print(f"{train} training photos in {arguments.dest / 'train'}, "
          f"{manifest['bsds500-test']['kept']} held out in {arguments.dest / 'heldout'}")


if __name__ == "__main__":
    main()
