"""Widget frames: a matplotlib figure rendered to a crisp, light image, and its text checked.

Frames have ``PIXEL_RATIO`` device pixels per CSS pixel (crisp on phones and HiDPI screens):
plots become palette PNGs, pictures (image grids, photos) WebP where that is far smaller.
:func:`text_problems` finds text a reader cannot read (off the canvas, or too small at the
book's column width). Used by :mod:`mlnotes_lib.widgets`, which re-exports these names.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image as PILImage

#: Device pixels per CSS pixel of every frame: crisp at device-pixel-ratio 2 (phones, HiDPI).
PIXEL_RATIO = 2
#: The book's content column at desktop width, in CSS px (wider figures are shown scaled down).
COLUMN_PX = 688
#: Smallest legible text in a frame, in CSS px at desktop width.
MIN_TEXT_PX = 9
#: WebP quality of picture-like frames (image grids, photos), where WebP beats the PNG.
WEBP_QUALITY = 85
#: Colours kept when a frame is quantised to a palette PNG (plots use few colours).
PALETTE_COLORS = 192
#: zlib level of the palette PNGs (see ``_palette_png``).
PNG_COMPRESS_LEVEL = 8


def figure_to_png(fig: Figure, *, dpi: int = 80, quantize: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes, deterministically, and close it.

    ``dpi`` is the resolution of the PNG itself (pass ``PIXEL_RATIO`` times the CSS
    resolution for a HiDPI frame). The PNG carries no timestamp or software tag, so the
    same figure gives the same bytes on every run. With ``quantize`` the image is reduced
    to a palette of ``PALETTE_COLORS`` colours, which makes plot frames 2-4 times smaller.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)  # a no-op for figures made without pyplot
    if not quantize:
        return buf.getvalue()
    return _palette_png(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _palette_png(img: PILImage.Image, pnginfo=None) -> bytes:
    """``img`` as a PNG of ``PALETTE_COLORS`` colours, no dithering.

    Maximum coverage picks the palette: on the book's plots it quantizes 1.6-2 times as fast
    as median cut and stays closer to the original (the worst pixel a few levels off, where
    median cut moves some by 40 of 255 on smooth colour maps). zlib level 8 compresses a
    plot frame 2.5 times as fast as level 9 (``optimize``), for 0.5% more bytes.
    """
    pal = img.quantize(
        colors=PALETTE_COLORS,
        method=PILImage.Quantize.MAXCOVERAGE,
        dither=PILImage.Dither.NONE,
    )
    out = io.BytesIO()
    pal.save(out, format="png", compress_level=PNG_COMPRESS_LEVEL, pnginfo=pnginfo)
    return out.getvalue()


def _draw_recording_text(fig: Figure, dpi: float):
    """Draw ``fig`` on an Agg canvas at ``dpi``; return the canvas and the Text really drawn."""
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    drawn: list[Text] = []
    draw_text = renderer.draw_text

    def record(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if mtext is not None and s.strip():
            drawn.append(mtext)
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record  # hidden artists (axis off, ...) draw nothing, so count nothing
    try:
        fig.draw(renderer)
    finally:
        del renderer.draw_text
    return canvas, list(dict.fromkeys(drawn))


def _text_problems(texts, renderer, width, height, css_scale, column_px) -> list[str]:
    shrink = min(1.0, column_px / (width * css_scale))
    problems = []
    for text in texts:
        label = text.get_text().strip()
        short = label if len(label) <= 30 else label[:29] + "…"
        px = text.get_fontsize() / 72 * text.figure.dpi * css_scale * shrink
        if px < MIN_TEXT_PX - 0.05:
            problems.append(f"text {short!r} is {px:.1f} CSS px, under {MIN_TEXT_PX} px")
        box = text.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            problems.append(f"text {short!r} falls outside the canvas")
    return problems


def text_problems(fig: Figure, *, dpi: int = 80, column_px: int = COLUMN_PX) -> list[str]:
    """Text of ``fig`` that a reader cannot read: outside the canvas, or too small.

    ``dpi`` is the figure's CSS resolution (CSS px per inch). A figure wider than the
    book's column (``column_px``) is shown scaled down, so its text shrinks with it; text
    under ``MIN_TEXT_PX`` CSS px there, or whose box leaves the canvas, is reported.
    """
    canvas, texts = _draw_recording_text(fig, dpi)
    width, height = canvas.get_width_height()
    return _text_problems(texts, canvas.get_renderer(), width, height, 1.0, column_px)


def render_frame(
    fig: Figure, *, dpi: int = 80, pixel_ratio: int = PIXEL_RATIO
) -> tuple[bytes, int, list[str]]:
    """A HiDPI frame of ``fig``: (image bytes, CSS width in px, :func:`text_problems`).

    The image has ``pixel_ratio`` device pixels per CSS pixel (crisp on phones and HiDPI
    screens) and is shown at its CSS width, ``dpi`` pixels per inch of the figure. One
    draw gives both the pixels and the text check. Plots become palette PNGs; pictures
    (photos, image grids), for which a high-quality WebP is far smaller, become WebP.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    canvas, texts = _draw_recording_text(fig, dpi * pixel_ratio)
    width, height = canvas.get_width_height()
    problems = _text_problems(
        texts, canvas.get_renderer(), width, height, 1 / pixel_ratio, COLUMN_PX
    )
    img = PILImage.frombuffer("RGBA", (width, height), bytes(canvas.buffer_rgba()))
    plt.close(fig)
    return _encode(img.convert("RGB")), round(width / pixel_ratio), problems


def _encode(img: PILImage.Image) -> bytes:
    png = _palette_png(img)
    if len(png) < 40_000:  # a plot: few colours, the palette PNG is small and exact
        return png
    buf = io.BytesIO()
    img.save(buf, format="webp", quality=WEBP_QUALITY, method=4)
    return buf.getvalue() if buf.tell() < 0.75 * len(png) else png


def image_format(data: bytes) -> str:
    """``"png"`` or ``"webp"``: the format of a frame's bytes."""
    return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else "png"


_GREEK = dict(
    alpha="α", beta="β", gamma="γ", delta="δ", epsilon="ε", eta="η", theta="θ", lambda_="λ",
    mu="μ", pi="π", rho="ρ", sigma="σ", tau="τ", phi="φ", omega="ω", cdot="·", times="×",
)  # fmt: skip


def _plain(text: str | None) -> str:
    """Text for alt attributes and status lines: no HTML tags, TeX turned into plain text."""
    text = re.sub(r"<[^>]+>", "", text or "")
    text = re.sub(r"\\(?:mathrm|text|mathbf|operatorname)\{([^}]*)\}", r"\1", text)
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _GREEK.get(m[1], _GREEK.get(m[1] + "_", m[1])), text)
    return re.sub(r"[$\\{}]", "", text).strip()


def _rounded(value: Any) -> str:
    """A control's value as a reader should see it: floats to 3 significant digits."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
