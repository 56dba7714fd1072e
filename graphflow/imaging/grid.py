"""The picture of a sweep: cells on a grid, column labels on top and row labels on the left (A1111's XYZ plot)."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Colour = tuple[int, int, int]

BACKGROUND: Colour = (255, 255, 255)
INK: Colour = (0, 0, 0)
FAILED: Colour = (128, 128, 128)
FAILED_INK: Colour = (255, 255, 255)
EMPTY_CELL = (256, 256)  # the cell size when no cell has a picture
MIN_FONT = 12
LABEL_LIMIT = 200


def labelled_grid(
    cells: Mapping[tuple[int, int], Image.Image | None],
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    title: str | None = None,
) -> Image.Image:
    """An RGB picture of cell (x, y) at column x and row y, each resized to fit the first cell's size (keeping
    its shape), under `title` with `x_labels` over the columns and `y_labels` left of the rows; a cell that
    is missing or None is drawn grey, saying "failed". No labels on a side means one column (or row)."""
    columns, rows = max(1, len(x_labels)), max(1, len(y_labels))
    outside = sorted(key for key in cells if not (0 <= key[0] < columns and 0 <= key[1] < rows))
    if outside:
        raise ValueError(f"cell {outside[0]} is outside the {columns} x {rows} grid of its labels")
    width, height = _cell_size(cells)
    font = ImageFont.load_default(size=max(MIN_FONT, min(width, height) // 12))
    pad = _line_height(font) // 4
    left = max(width * 3 // 4, 8 * _line_height(font)) if y_labels else 0
    column_lines = [_wrap(label, font, width - 2 * pad) for label in x_labels]
    row_lines = [_wrap(label, font, left - 2 * pad) for label in y_labels]
    title_lines = _wrap(title, font, left + columns * width - 2 * pad) if title else []
    top = _text_height(title_lines, font, pad) if title_lines else 0
    header = max((_text_height(lines, font, pad) for lines in column_lines), default=0)
    picture = Image.new("RGB", (left + columns * width, top + header + rows * height), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    _write(draw, title_lines, font, (0, 0, picture.width, top), INK)
    for x, lines in enumerate(column_lines):
        _write(draw, lines, font, (left + x * width, top, width, header), INK)
    for y, lines in enumerate(row_lines):
        _write(draw, lines, font, (0, top + header + y * height, left, height), INK)
    for y in range(rows):
        for x in range(columns):
            box = (left + x * width, top + header + y * height, width, height)
            _draw_cell(picture, draw, cells.get((x, y)), box, font)
    return picture


def _cell_size(cells: Mapping[tuple[int, int], Image.Image | None]) -> tuple[int, int]:
    """The size of the first cell with a picture, row by row, or EMPTY_CELL."""
    present = sorted((key[1], key[0]) for key, image in cells.items() if image is not None)
    if not present:
        return EMPTY_CELL
    y, x = present[0]
    image = cells[(x, y)]
    assert image is not None
    return image.size


def _draw_cell(
    picture: Image.Image,
    draw: ImageDraw.ImageDraw,
    image: Image.Image | None,
    box: tuple[int, int, int, int],
    font: Font,
) -> None:
    x, y, width, height = box
    if image is None:
        draw.rectangle((x, y, x + width - 1, y + height - 1), fill=FAILED)
        _write(draw, ["failed"], font, box, FAILED_INK)
        return
    image = image.convert("RGB")
    if image.size != (width, height):
        image = ImageOps.pad(image, (width, height), Image.Resampling.LANCZOS, BACKGROUND)
    picture.paste(image, (x, y))


def _line_height(font: Font) -> int:
    bottom = font.getbbox("Ag")[3]
    return int(bottom * 1.25) + 1


def _text_height(lines: list[str], font: Font, pad: int) -> int:
    return len(lines) * _line_height(font) + 2 * pad


def _write(
    draw: ImageDraw.ImageDraw, lines: list[str], font: Font, box: tuple[int, int, int, int], ink: Colour
) -> None:
    """Lines centred in the box (x, y, width, height), one under another."""
    x, y, width, height = box
    first = y + (height - len(lines) * _line_height(font)) // 2
    for index, line in enumerate(lines):
        draw.text((x + width // 2, first + index * _line_height(font)), line, fill=ink, font=font, anchor="mt")


def _wrap(text: str, font: Font, width: int) -> list[str]:
    """The text in lines no wider than `width`, broken between words (a word too wide is broken anywhere)."""
    text = text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 3] + "..."
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            joined = f"{line} {word}" if line else word
            if font.getlength(joined) <= width:
                line = joined
                continue
            if line:
                lines.append(line)
            line = word
            while len(line) > 1 and font.getlength(line) > width:
                fits = bisect.bisect_right(
                    range(1, len(line)), float(width), key=lambda n: float(font.getlength(line[:n]))
                )
                cut = max(1, fits)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _fitting(word: str, font: Font, width: int) -> int:
    """How many leading characters of the word fit in `width` (at least one)."""
    fits = bisect.bisect_right(range(1, len(word)), float(width), key=lambda n: float(font.getlength(word[:n])))
    return max(1, fits)
