"""``omniglot``: Lake et al.'s handwritten characters, read from folders or zips in place.

The layout is the original one: ``<root>/<set>/<alphabet>/<character>/<drawing>.png``
where ``<set>`` is ``images_background``, ``images_evaluation`` or one of the small
background sets ``images_background_small1``/``_small2``; each set may be an
extracted folder or the ``<set>.zip`` file itself. A character is identified by
(set, alphabet, character folder). Splits are by alphabet: each split lists sets
(all their alphabets) or ``set/alphabet`` entries.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import torch
from pydantic import Field

from autometa import (
    SPLITS,
    DataError,
    Dataset,
    ImageClasses,
    Preprocessing,
    SplitData,
    cache_key,
    cached,
    decode_image,
    is_image,
    track,
)

_VERSION = 1


class OmniglotOptions(Dataset.Options):
    root: Path | None = Field(
        None, description="folder holding the sets (folders or .zip files); default: <cache_dir>/omniglot"
    )
    train: list[str] = Field(
        ["images_background_small1"],
        description="meta-train: sets or set/alphabet entries (small2's Greek and Latin are copies of small1's)",
    )
    val: list[str] = Field(
        ["images_background_small2/Japanese_(katakana)"], description="meta-val: sets or set/alphabet entries"
    )
    test: list[str] = Field(
        ["images_background_small2/Sanskrit", "images_background_small2/Tagalog"],
        description="meta-test: sets or set/alphabet entries",
    )
    rotations: bool = Field(False, description="add each character rotated by 90, 180 and 270 degrees as new classes")
    image_size: int = Field(28, ge=8, le=105, description="decode the 105x105 drawings at this size")
    download: bool = Field(False, description="download missing sets with torchvision's downloader (needs internet)")


class Omniglot(Dataset):
    """Omniglot handwritten characters (Lake et al. 2015), split by alphabet."""

    name = "omniglot"
    Options = OmniglotOptions

    def load(self, cache_dir: Path) -> SplitData:
        root = Path(self.options.root or cache_dir / "omniglot")
        selectors = {split: getattr(self.options, split) for split in SPLITS}
        sets = sorted({entry.split("/", 1)[0] for entries in selectors.values() for entry in entries})
        sources = {name: self._source(root, name) for name in sets}
        identity = {name: [str(p.resolve()), p.stat().st_mtime_ns] for name, p in sources.items()}
        options = self.options.model_dump(exclude={"root", "download"})
        path = cache_dir / cache_key("omniglot", _VERSION, options=options, sources=identity)
        return cached(path, lambda: self._read(sources, selectors))

    def _source(self, root: Path, name: str) -> Path:
        folder, archive = root / name, root / f"{name}.zip"
        if not (folder.is_dir() or archive.is_file()) and self.options.download:
            download(name, root)
        if folder.is_dir():
            return folder
        if archive.is_file():
            return archive
        raise DataError(
            f"omniglot set '{name}' not found: expected the folder {folder}/ or the file {archive}; "
            "set the dataset's 'root' to where they are, or 'download: true'"
        )

    def _read(self, sources: dict[str, Path], selectors: dict[str, list[str]]) -> SplitData:
        characters = {name: list_characters(source) for name, source in sources.items()}
        split_of = assign_alphabets(selectors, {name: {a for a, _ in chars} for name, chars in characters.items()})
        size = self.options.image_size
        classes: dict[str, list] = {s: [] for s in SPLITS}
        for set_name, chars in characters.items():
            for (alphabet, character), drawings in track(sorted(chars.items()), f"omniglot: decoding {set_name}"):
                split = split_of.get((set_name, alphabet))
                if split is None:
                    continue
                images = torch.stack([
                    decode_image(read(), source=where, channels=1, size=size) for where, read in drawings
                ])
                rotations = range(4) if self.options.rotations else range(1)
                for k in rotations:
                    name = f"{set_name}/{alphabet}/{character}" + (f"/rot{90 * k}" if k else "")
                    classes[split].append((name, alphabet, torch.rot90(images, k, dims=(2, 3))))
        return SplitData(
            *(ImageClasses.from_classes(classes[s]) for s in SPLITS),
            preprocessing=Preprocessing(channels=1, image_size=size, ink="dark-on-light"),
        )


Drawings = list[tuple[str, Callable[[], bytes]]]


def list_characters(source: Path) -> dict[tuple[str, str], Drawings]:
    """``{(alphabet, character): [(file path for messages, read bytes), ...]}`` of one set."""
    found: dict[tuple[str, str], Drawings] = {}
    if source.is_dir():
        for file in sorted(source.glob("*/*/*")):
            if is_image(file.name):
                found.setdefault((file.parent.parent.name, file.parent.name), []).append((str(file), file.read_bytes))
        return found
    try:
        archive = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot open {source}: {exc}; re-download it or extract it next to itself") from None
    for member in sorted(archive.namelist()):
        parts = PurePosixPath(member).parts
        if len(parts) == 4 and is_image(parts[3]):
            found.setdefault((parts[1], parts[2]), []).append(
                (f"{source}:{member}", lambda m=member: archive.read(m))
            )
    return found


def assign_alphabets(selectors: dict[str, list[str]], alphabets: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """``{(set, alphabet): split}`` from the split options; an alphabet named twice is an error."""
    split_of: dict[tuple[str, str], str] = {}
    for split, entries in selectors.items():
        for entry in entries:
            set_name, _, alphabet = entry.partition("/")
            if alphabet and alphabet not in alphabets[set_name]:
                raise DataError(
                    f"omniglot {split}: no alphabet '{alphabet}' in {set_name} "
                    f"(it has: {', '.join(sorted(alphabets[set_name]))}); fix the entry '{entry}'"
                )
            for name in [alphabet] if alphabet else sorted(alphabets[set_name]):
                if (set_name, name) in split_of and split_of[(set_name, name)] != split:
                    raise DataError(
                        f"omniglot: {set_name}/{name} is in both {split_of[(set_name, name)]} and {split}; "
                        "each alphabet belongs to one split"
                    )
                split_of[(set_name, name)] = split
    return split_of


def download(name: str, root: Path) -> None:
    """Fetch ``<name>.zip`` with torchvision's downloader; one clear line when offline."""
    from torchvision.datasets import Omniglot as TorchvisionOmniglot
    from torchvision.datasets.utils import download_url

    url = f"{TorchvisionOmniglot.download_url_prefix}/{name}.zip"
    try:
        download_url(url, str(root), filename=f"{name}.zip", md5=TorchvisionOmniglot.zips_md5.get(name))
    except (OSError, RuntimeError) as exc:
        raise DataError(
            f"cannot download omniglot set '{name}' from {url} ({type(exc).__name__}: {exc}); "
            f"without internet, put {name}.zip or its extracted folder in {root}"
        ) from None
