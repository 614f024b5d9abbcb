"""The winner's validation episodes as an HTML grid: the support row, then each query with its
predicted and true class, mistakes framed in red.

Each image is its own tiny PNG data URI (about half a KiB for 28x28), laid out by
CSS with the captions as HTML text: a quarter of the size of one matplotlib
mosaic, and every picture is an ``<img>`` a browser test can check.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from autometa.search.preview import PreviewEpisode


def episodes_html(trial: int, episodes: list[PreviewEpisode]) -> str:
    """The grid of ``episodes`` predicted by ``trial``."""
    blocks = []
    for e, episode in enumerate(episodes):
        correct = episode.predicted == episode.query_labels
        support = "".join(
            _tile(image, f"class {label}", "support", episode.class_names[label])
            for image, label in zip(episode.support, episode.support_labels.tolist())
        )
        queries = "".join(
            _tile(image, f"{predicted} / {true}", "ok" if predicted == true else "wrong", episode.class_names[true])
            for image, predicted, true in zip(episode.query, episode.predicted.tolist(), episode.query_labels.tolist())
        )
        mistakes = int((~correct).sum())
        blocks.append(
            f'<div class="episode"><h3>episode {e}: {100 * correct.mean():.0f}% correct '
            f"({mistakes} mistake{'s' if mistakes != 1 else ''} of {len(correct)})</h3>"
            f'<div class="row">{support}</div><div class="row">{queries}</div></div>'
        )
    return (
        f"<p class=muted>Trial #{trial} on its first validation episodes. Support images on blue, labelled by class; "
        "each query is captioned <i>predicted / true</i> class, a red frame marks a mistake; hover an image "
        'for its class name.</p><div class="episodes" id="episodes-grid">' + "".join(blocks) + "</div>"
    )


def _tile(image: np.ndarray, caption: str, kind: str, class_name: str) -> str:
    from PIL import Image

    pixels = np.transpose(image, (1, 2, 0))  # [C, H, W] -> [H, W, C]
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode()
    name = html.escape(class_name)
    return (f'<figure class="tile {kind}" title="{name}"><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>')
