"""An Agg canvas that lays out and rasterises each text once: the views' figures draw on it.

Drawing a figure's text is most of an app's re-render: matplotlib's Agg
renderer lays out every string (ft2font's _layout) and rasterises every
glyph again at each draw, though a re-render shows mostly the same strings
(tick labels, legends, a grid's words and numbers). Canvas draws with a
RendererAgg that keeps, per process, the extent and layout of each
(string, font, size) and the bitmap of each glyph at each sub-pixel offset, and draws
from them. The pixels are those RendererAgg draws: FreeType renders a
glyph moved by whole pixels as the same bitmap moved, so a bitmap is kept
by its offset's fraction of a pixel (1/64) and placed at its whole part.
On a matplotlib without the per-glyph text path (before 3.11) it draws as
RendererAgg does. png() encodes a drawing without savefig's detour and
with a quicker deflate.
"""

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.ft2font import FT2Font
from PIL import Image

try:
    from matplotlib.ft2font import RenderMode
except ImportError:                     # an older matplotlib: text drawn as RendererAgg draws it
    RenderMode = None

# The private calls the cached path makes (matplotlib 3.11); without any of
# them, text is drawn as RendererAgg draws it.
_CACHED = (RenderMode is not None
           and all(hasattr(RendererAgg, n) for n in ("_draw_text_glyphs_and_boxes", "_prepare_font"))
           and all(hasattr(FT2Font, n) for n in ("_layout", "_set_transform", "_render_glyph")))
_IDENTITY = np.array([[0x10000, 0], [0, 0x10000]])    # 16.16 fixed point
_LIMIT = 50_000               # entries per cache before it starts again
_layouts = {}                 # (string, font, size, dpi, flags, features, language) -> glyphs
_extents = {}                 # (string, font, size, dpi, flags) -> width, height, descent
_glyphs = {}                  # (font file, size, dpi, glyph, sub-pixel x, y, mode, flags) -> bitmap


def _font_key(prop):
    return (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
            prop.get_stretch(), prop.get_size_in_points(), prop.get_file())


def _remember(cache, key, value):
    if len(cache) >= _LIMIT:
        cache.clear()
    cache[key] = value
    return value


class _Renderer(RendererAgg):
    """RendererAgg drawing unrotated plain text from the layout and glyph caches."""

    def get_text_width_height_descent(self, s, prop, ismath):
        # matplotlib keeps these per renderer; a view whose height changes gets a new one
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        key = (s, _font_key(prop), self.dpi, get_hinting_flag())
        extent = _extents.get(key)
        if extent is None:
            extent = _remember(_extents, key,
                               super().get_text_width_height_descent(s, prop, ismath))
        return extent

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath or angle % 360:
            return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
        flags = get_hinting_flag()
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        key = (s, _font_key(prop), self.dpi, flags,
               None if features is None else tuple(features), language)
        items = _layouts.get(key)
        if items is None:
            font = self._prepare_font(prop)
            items = _remember(_layouts, key, tuple(
                (item.ft_object, item.glyph_index, item.x, item.y)
                for item in font._layout(s, flags=flags, features=features, language=language)))
        mode = RenderMode.NORMAL if gc.get_antialiased() else RenderMode.MONO
        height = int(self.height)
        for font, glyph, dx, dy in items:
            px, py = int(round(0x40 * (x + dx))), int(round(0x40 * (self.height - y + dy)))
            gkey = (font.fname, size, self.dpi, glyph, px & 0x3f, py & 0x3f, mode, flags)
            cached = _glyphs.get(gkey)
            if cached is None:
                font.set_size(size, self.dpi)
                font._set_transform(_IDENTITY, [px, py])
                bitmap = font._render_glyph(glyph, flags, mode)
                buffer = np.array(bitmap.buffer)
                if mode == RenderMode.MONO:
                    buffer *= 0xff
                cached = _remember(_glyphs, gkey,
                                   (buffer, bitmap.left - (px >> 6), bitmap.top - (py >> 6)))
            buffer, left, top = cached
            self._renderer.draw_text_image(buffer, left + (px >> 6),
                                           height - (top + (py >> 6)) + buffer.shape[0], 0, gc)


class Canvas(FigureCanvasAgg):
    """FigureCanvasAgg whose renderer draws text from the caches (module docstring)."""

    def get_renderer(self):
        if not _CACHED:
            return super().get_renderer()
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _Renderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer


def png(figure, compress_level=3):
    """The figure as PNG bytes at its own resolution: one Agg draw, encoded by Pillow.

    What savefig(format="png") at the figure's dpi gives, pixel for pixel,
    without its layout passes, and as RGB when the figure is opaque (as the
    views' are); compress_level 3 deflates about a third faster than
    Pillow's 6 for a few per cent more bytes.
    """
    canvas = figure.canvas
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    image = Image.fromarray(rgba)
    if rgba[..., 3].min() == 255:
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="png", compress_level=compress_level)
    return buf.getvalue()
