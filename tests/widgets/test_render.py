"""widgets.render: the caching Agg canvas draws the pixels matplotlib's Agg canvas draws."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from widgets import render


def _figure(plain=False):
    fig = Figure(figsize=(4, 2), dpi=100)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [3, 1, 2])
    ax.set_title("mlock: avoid dirtying pages")
    ax.set_xlabel("simulated seconds")
    ax.text(0.37, 2.13, "ENOSPC\n0.19 s\n12 stored", ha="center", va="center", fontsize=7)
    if not plain:               # these two are drawn as RendererAgg draws them
        ax.text(1.5, 1.5, "rotated", rotation=30)
        fig.suptitle("$x^2$ and text")
    return fig


def _pixels(canvas):
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def test_the_cached_canvas_draws_the_same_pixels_as_agg_first_time_and_from_the_caches():
    fig = _figure()
    reference = _pixels(FigureCanvasAgg(fig))
    for cache in (render._layouts, render._extents, render._glyphs):
        cache.clear()                   # the first draw fills them, the second reads them
    canvas = render.Canvas(fig)
    first, again = _pixels(canvas), _pixels(canvas)
    assert (first == reference).all() and (again == reference).all()
    assert reference.shape == (200, 400, 4) and (reference[..., :3] < 128).any()


@pytest.mark.skipif(not render._CACHED, reason="this matplotlib has no per-glyph text path")
def test_a_second_draw_lays_out_and_measures_no_text_again(monkeypatch):
    fig = _figure(plain=True)
    render.Canvas(fig).draw()
    assert render._layouts and render._glyphs and render._extents
    monkeypatch.setattr(render.RendererAgg, "_prepare_font",
                        lambda *a: pytest.fail("a string laid out again"))
    monkeypatch.setattr(render.RendererAgg, "get_text_width_height_descent",
                        lambda *a: pytest.fail("a string measured again"))
    render.Canvas(fig).draw()           # a new renderer, as a view whose height changed gets


def test_a_full_cache_starts_again():
    cache = {i: i for i in range(render._LIMIT)}
    render._remember(cache, "k", 1)
    assert cache == {"k": 1}


def test_png_is_what_savefig_draws_in_rgb():
    fig = _figure()
    render.Canvas(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    reference = np.asarray(Image.open(buf).convert("RGB"))
    data = render.png(fig)
    image = Image.open(io.BytesIO(data))
    assert data.startswith(b"\x89PNG") and image.mode == "RGB"
    assert (np.asarray(image) == reference).all()
