"""``glyphs``: an Omniglot-like data set rendered locally from the fonts inside matplotlib.

No download: the DejaVu and STIX fonts shipped in the matplotlib wheel are read
with fontTools (character maps) and Pillow (rasterising). Each character is a
class; each Unicode script is an "alphabet" (symbols of the Common script are
grouped by Unicode block, e.g. "Arrows"); each drawing ("drawer") is one font
variant plus a random affine and elastic distortion and a stroke-width change.
Characters whose glyph is empty or looks like an already chosen one are skipped,
so classes are genuinely different shapes. Rendering is seeded and cached.
"""

from __future__ import annotations

import random
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from autometa import (
    Dataset,
    Preprocessing,
    SplitData,
    assign_groups,
    cache_key,
    cached,
    split_by_group,
    track,
)

#: The font files used, in the order a character's "home" font is chosen.
FONT_FILES = tuple(
    f"{family}{style}.ttf"
    for family, styles in (
        ("DejaVuSans", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("DejaVuSerif", ("", "-Bold", "-Italic", "-BoldItalic")),
        ("DejaVuSansMono", ("", "-Bold", "-Oblique", "-BoldOblique")),
        ("STIXGeneral", ("", "Bol", "Italic", "BolIta")),
    )
    for style in styles
)
#: Unicode blocks left out: letters restyled (bold, script, circled, raised), not new shapes.
EXCLUDED_BLOCKS = frozenset({
    "Mathematical Alphanumeric Symbols", "Enclosed Alphanumerics", "Superscripts and Subscripts",
    "Spacing Modifier Letters", "Modifier Tone Letters", "Specials", "Phonetic Extensions",
    "Phonetic Extensions Supplement", "Letterlike Symbols", "Number Forms",
})
_CATEGORIES = ("L", "N", "S")  # letters, numbers, symbols: not marks, punctuation or spaces
_RENDER = 48  # glyphs are drawn and distorted at this size, then downsampled
_BOX = 36  # a glyph's longer side, within the render canvas
_DEDUP = 12  # glyphs are compared for duplicates at this size (divides _RENDER)
_CLASSES_PER_CHUNK = 100
_VERSION = 3  # bump when rendering changes, so caches are rebuilt


class GlyphsOptions(Dataset.Options):
    image_size: int = Field(28, ge=8, le=48, description="side of the square grayscale images (drawn at 48)")
    instances_per_class: int = Field(20, ge=2, le=100, description="drawings per character (Omniglot has 20)")
    max_classes_per_alphabet: int = Field(
        60, ge=5, description="characters kept per alphabet (a seeded sample of the distinct ones)"
    )
    min_classes_per_alphabet: int = Field(10, ge=2, description="smaller alphabets are left out")
    split_fractions: tuple[float, float, float] = Field(
        (0.6, 0.2, 0.2), description="share of classes for meta-train, meta-val, meta-test (whole alphabets)"
    )
    duplicate_threshold: float = Field(
        0.01, ge=0, description="mean squared pixel difference under which two characters count as the same glyph"
    )
    seed: int = Field(0, description="seeds the character sample, the alphabet split and every distortion")


class Glyphs(Dataset):
    """Omniglot-like characters rendered from matplotlib's fonts (embedded, no download)."""

    name = "glyphs"
    Options = GlyphsOptions

    def load(self, cache_dir: Path) -> SplitData:
        import PIL

        # What the render depends on besides the options: the fonts, the Unicode tables, the rasteriser.
        fonts = [(f.name, f.stat().st_size) for f in map(font_path, FONT_FILES)]
        renderer = {"unicode": unicodedata.unidata_version, "pillow": PIL.__version__}
        key = cache_key("glyphs", _VERSION, options=self.options.model_dump(), fonts=fonts, renderer=renderer)
        return cached(cache_dir / key, lambda: render_glyphs(self.options))


def font_path(file: str) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / file


@lru_cache(maxsize=None)
def _font(file: str):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path(file)), _BOX, layout_engine=ImageFont.Layout.BASIC)


def alphabet_of(codepoint: int) -> str | None:
    """The script's name, or the block's for Common/Inherited characters; None to skip."""
    from fontTools import unicodedata as ucd

    block = ucd.block(codepoint)
    if block in EXCLUDED_BLOCKS or unicodedata.category(chr(codepoint))[0] not in _CATEGORIES:
        return None
    script = ucd.script(codepoint)
    return block if script in ("Zyyy", "Zinh", "Zzzz") else ucd.script_name(script)


@lru_cache(maxsize=1)
def candidate_characters() -> dict[int, list[str]]:
    """Every usable code point and the font files that contain it (in :data:`FONT_FILES` order)."""
    from fontTools.ttLib import TTFont

    fonts_of: dict[int, list[str]] = {}
    for file in FONT_FILES:
        for codepoint in TTFont(font_path(file), lazy=True).getBestCmap():
            fonts_of.setdefault(codepoint, []).append(file)
    return {cp: files for cp, files in sorted(fonts_of.items()) if alphabet_of(cp)}


def draw(codepoint: int, file: str) -> np.ndarray:
    """The glyph as ink in [0, 1] on a ``_RENDER`` canvas, its longer side scaled to ``_BOX``."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (2 * _BOX + 32, 2 * _BOX + 32), 0)
    ImageDraw.Draw(canvas).text((canvas.width // 2, canvas.height // 2), chr(codepoint), font=_font(file),
                                fill=255, anchor="mm")
    box = canvas.getbbox()
    out = np.zeros((_RENDER, _RENDER), dtype=np.float32)
    if box is None:
        return out
    glyph = canvas.crop(box)
    scale = _BOX / max(glyph.size)
    w, h = max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))
    top, left = (_RENDER - h) // 2, (_RENDER - w) // 2
    out[top : top + h, left : left + w] = np.asarray(glyph.resize((w, h), Image.BILINEAR), dtype=np.float32) / 255
    return out


def select_characters(options: GlyphsOptions) -> dict[str, list[tuple[int, list[str]]]]:
    """``{alphabet: [(codepoint, fonts), ...]}``: a seeded sample of distinct, non-empty glyphs.

    Each alphabet's characters are visited in a seeded random order; a character is
    kept when its glyph (in its home font, shrunk to ``_DEDUP`` pixels) has ink and
    differs from every character kept so far, in any alphabet, by more than the
    threshold (mean squared difference).
    """
    by_alphabet: dict[str, list[int]] = {}
    fonts_of = candidate_characters()  # cached: treat as read-only
    for codepoint in fonts_of:
        by_alphabet.setdefault(alphabet_of(codepoint), []).append(codepoint)
    rng = random.Random(options.seed)
    kept = np.zeros((len(fonts_of), _DEDUP * _DEDUP), dtype=np.float32)
    count = 0
    alphabets: dict[str, list[tuple[int, list[str]]]] = {}
    for alphabet, codepoints in track(sorted(by_alphabet.items()), "glyphs: choosing distinct characters"):
        if len(codepoints) < options.min_classes_per_alphabet:
            continue
        rng.shuffle(codepoints)
        chosen: list[tuple[int, list[str]]] = []
        for codepoint in codepoints:
            factor = _RENDER // _DEDUP
            small = draw(codepoint, fonts_of[codepoint][0]).reshape(_DEDUP, factor, _DEDUP, factor).mean((1, 3))
            small = small.reshape(-1)
            if small.max() < 0.2 or (count and np.square(kept[:count] - small).mean(1).min() <= options.duplicate_threshold):
                continue
            kept[count] = small
            count += 1
            chosen.append((codepoint, fonts_of[codepoint]))
            if len(chosen) == options.max_classes_per_alphabet:
                break
        if len(chosen) >= options.min_classes_per_alphabet:
            alphabets[alphabet] = sorted(chosen)
    return alphabets


def distort(ink: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random "drawer" per image of ``ink [M, 1, R, R]``: stroke width, affine, elastic."""
    m = len(ink)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(shape or (m,), generator=generator)

    widen = torch.rand(m, generator=generator) < 0.5  # half the drawers use a pen 2 pixels wider
    ink = torch.where(widen.view(-1, 1, 1, 1), F.max_pool2d(ink, 3, stride=1, padding=1), ink)
    angle, shear = uniform(-0.3, 0.3), uniform(-0.3, 0.3)  # radians: about +-17 degrees
    scale = uniform(0.8, 1.2, m, 2)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos / scale[:, 0], (-sin + shear) / scale[:, 0]
    theta[:, 1, 0], theta[:, 1, 1] = sin / scale[:, 1], cos / scale[:, 1]
    theta[:, :, 2] = uniform(-0.15, 0.15, m, 2)  # shift, in units of half the canvas
    grid = F.affine_grid(theta, list(ink.shape), align_corners=False)
    elastic = F.interpolate(uniform(-0.1, 0.1, m, 2, 4, 4), size=ink.shape[-2:], mode="bicubic", align_corners=True)
    grid = grid + elastic.permute(0, 2, 3, 1)
    return F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def render_glyphs(options: GlyphsOptions) -> SplitData:
    """Render every selected character ``instances_per_class`` times and split by alphabet."""
    alphabets = select_characters(options)
    generator = torch.Generator().manual_seed(options.seed)
    chars = [(alphabet, codepoint, fonts) for alphabet, items in alphabets.items() for codepoint, fonts in items]
    n = options.instances_per_class
    classes = []
    chunks = range(0, len(chars), _CLASSES_PER_CHUNK)  # distort many classes per tensor call
    for start in track(chunks, f"glyphs: rendering {len(chars)} characters x {n} drawings"):
        chunk = chars[start : start + _CLASSES_PER_CHUNK]
        drawings = []
        for _, codepoint, fonts in chunk:
            styles = [draw(codepoint, font) for font in fonts[:n]]
            drawings += [styles[d % len(styles)] for d in range(n)]
        ink = distort(torch.from_numpy(np.stack(drawings)).unsqueeze(1), generator)
        ink = F.interpolate(ink, size=(options.image_size,) * 2, mode="area")
        images = ((1 - ink.clamp(0, 1)) * 255).round().to(torch.uint8)  # dark ink on light paper
        for i, (alphabet, codepoint, _) in enumerate(chunk):
            name = unicodedata.name(chr(codepoint), "")
            classes.append((f"{alphabet}/U+{codepoint:04X} {name}".strip(), alphabet, images[i * n : (i + 1) * n]))
    split_of = assign_groups({a: len(c) for a, c in alphabets.items()}, options.split_fractions, options.seed)
    train, val, test = split_by_group(classes, lambda _, alphabet: split_of[alphabet])
    return SplitData(train, val, test, Preprocessing(channels=1, image_size=options.image_size))
