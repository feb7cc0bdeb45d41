"""Pictures of plots and widgets as PNG and SVG files, for reports and for the people who run the plan.

Every file is rendered to bytes first and then written atomically (``core.atomic``), so a failed
export never leaves half an image behind; failures are :class:`PoetError`\\ s naming the file.

PNGs come from pyqtgraph's ``ImageExporter`` at twice the on-screen size, so they stay sharp in a
document. SVGs are drawn with Qt's own ``QSvgGenerator``: pyqtgraph 0.14.0's ``SVGExporter`` fails on
Qt >= 6.10, whose SVG paths end with a close-path ``Z`` it cannot parse (pyqtgraph issue #3495).
"""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
import pyqtgraph.exporters
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from poet_gui.core.atomic import write_bytes_atomic
from poet_gui.core.errors import PoetError

#: PNG exports are this many times the plot's on-screen size.
PNG_SCALE = 2


def plot_png(plot: pg.PlotWidget) -> bytes:
    """The plot (axes, legend and all) as PNG bytes, :data:`PNG_SCALE` times its on-screen size."""
    exporter = pyqtgraph.exporters.ImageExporter(plot.getPlotItem())
    exporter.parameters()["width"] = max(1, round(plot.getPlotItem().sceneBoundingRect().width() * PNG_SCALE))
    image = exporter.export(toBytes=True)
    assert isinstance(image, QImage)
    return _png_bytes(image)


def plot_svg(plot: pg.PlotWidget, title: str = "") -> bytes:
    """The plot as an SVG document: lines, bars and text as vectors, the timeline's image embedded."""
    item = plot.getPlotItem()
    source = item.sceneBoundingRect()
    target = QRectF(0, 0, source.width(), source.height())
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(source.size().toSize())
    generator.setViewBox(target)
    generator.setTitle(title)
    generator.setDescription("POET Studio")
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        plot.scene().render(painter, target, source)
    finally:
        painter.end()
    return bytes(buffer.data().data())


def widget_png(widget: QWidget) -> bytes:
    """A screenshot of ``widget`` as PNG bytes (what the user sees, at the screen's resolution)."""
    return _png_bytes(widget.grab().toImage())


def save_plot_images(plots: dict[str, pg.PlotWidget], directory: Path) -> list[Path]:
    """Write ``<name>.png`` and ``<name>.svg`` for every plot into ``directory``; return the paths written."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PoetError(f"{directory}: not a folder to export the plot images into")
    written = []
    for name, plot in plots.items():
        for suffix, data in ((".png", plot_png(plot)), (".svg", plot_svg(plot, title=name))):
            path = directory / f"{name}{suffix}"
            write_bytes_atomic(path, data)
            written.append(path)
    return written


def _png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise PoetError(f"could not encode a {image.width()}x{image.height()} image as PNG")
    buffer.close()
    return bytes(data.data())
