"""The grid picture of a sweep: cells in place, labels in their bands, odd sizes fitted, failures drawn grey."""

import pytest
from PIL import Image

from graphflow.imaging.grid import EMPTY_CELL, FAILED, labelled_grid

CELL = 64
X_LABELS = ["sampler: euler", "sampler: heun", "sampler: dpmpp_2m"]
Y_LABELS = ["steps: 10", "steps: 20", "steps: 30"]


def colour(x, y):
    return (40 + 60 * x, 40 + 60 * y, 200)


def full_grid(size=(CELL, CELL)):
    return {(x, y): Image.new("RGB", size, colour(x, y)) for x in range(3) for y in range(3)}


def inked(picture, box):
    """How many pixels in the box (left, top, right, bottom) are not near white."""
    return sum(picture.crop(box).convert("L").histogram()[:200])


def bands(picture, columns=3, rows=3, width=CELL, height=CELL):
    """The width of the row-label band and the height of everything above the cells."""
    return picture.width - columns * width, picture.height - rows * height


def test_the_picture_is_the_cells_plus_a_label_band_on_top_and_on_the_left_with_each_cell_in_place():
    picture = labelled_grid(full_grid(), X_LABELS, Y_LABELS)

    left, top = bands(picture)
    assert left > 0 and top > 0
    for x in range(3):
        for y in range(3):
            assert picture.getpixel((left + x * CELL + CELL // 2, top + y * CELL + CELL // 2)) == colour(x, y)


def test_every_column_and_row_label_is_drawn_in_its_own_band():
    picture = labelled_grid(full_grid(), X_LABELS, Y_LABELS)

    left, top = bands(picture)
    for x in range(3):
        assert inked(picture, (left + x * CELL, 0, left + (x + 1) * CELL, top)) > 20, f"column {x} has no label"
    for y in range(3):
        assert inked(picture, (0, top + y * CELL, left, top + (y + 1) * CELL)) > 20, f"row {y} has no label"
    assert inked(picture, (0, 0, left, top)) == 0, "the corner stays blank"


def test_a_long_label_wraps_within_its_column_making_the_header_taller():
    short = labelled_grid(full_grid(), X_LABELS, Y_LABELS)
    long = labelled_grid(full_grid(), ["prompt: " + "a red triangle at the top " * 3, "", ""], Y_LABELS)

    left, top = bands(long)
    assert top > bands(short)[1]
    assert inked(long, (left, 0, left + CELL, top)) > 0
    assert inked(long, (left + CELL, 0, long.width, top)) == 0, "the label stays over its own column"


def test_a_title_goes_above_the_column_labels():
    plain = labelled_grid(full_grid(), X_LABELS, Y_LABELS)
    titled = labelled_grid(full_grid(), X_LABELS, Y_LABELS, title="cfg: 7.5")

    extra = titled.height - plain.height
    assert extra > 0 and titled.width == plain.width
    assert inked(titled, (0, 0, titled.width, extra)) > 20


def test_without_labels_the_picture_is_just_the_cells():
    one_row = {(x, 0): Image.new("RGB", (CELL, CELL), colour(x, 0)) for x in range(3)}

    assert labelled_grid({(0, 0): Image.new("RGB", (CELL, CELL))}, [], []).size == (CELL, CELL)
    picture = labelled_grid(one_row, ["seed: 0", "seed: 1", "seed: 2"], [])
    assert bands(picture, rows=1)[0] == 0 and picture.width == 3 * CELL


def test_a_missing_or_none_cell_is_drawn_grey_with_the_word_failed():
    cells = full_grid()
    del cells[(1, 1)]
    cells[(2, 0)] = None

    picture = labelled_grid(cells, X_LABELS, Y_LABELS)

    left, top = bands(picture)
    for x, y in [(1, 1), (2, 0)]:
        box = (left + x * CELL, top + y * CELL, left + (x + 1) * CELL, top + (y + 1) * CELL)
        cell = picture.crop(box)
        grey = cell.getcolors(CELL * CELL)
        assert max(grey)[1] == FAILED, "the cell is mostly grey"
        assert any(sum(rgb) > 3 * 200 for _, rgb in grey), "the word is written in light ink"
        assert cell.getpixel((0, 0)) == cell.getpixel((CELL - 1, CELL - 1)) == FAILED


def test_cells_of_other_sizes_are_fitted_to_the_first_cells_size_keeping_their_shape():
    cells = full_grid()
    cells[(2, 2)] = Image.new("RGBA", (128, 64), (255, 0, 0, 255))

    picture = labelled_grid(cells, X_LABELS, Y_LABELS)

    left, top = bands(picture)
    x0, y0 = left + 2 * CELL, top + 2 * CELL
    assert picture.getpixel((x0 + CELL // 2, y0 + CELL // 2)) == (255, 0, 0)
    assert picture.getpixel((x0 + CELL // 2, y0 + 2)) == (255, 255, 255), "padded above, not stretched"


def test_the_first_cell_with_a_picture_row_by_row_sets_the_cell_size():
    cells = {(0, 0): None, (1, 0): Image.new("RGB", (80, 40), "red"), (0, 1): Image.new("RGB", (30, 30), "blue")}

    picture = labelled_grid(cells, ["a", "b"], ["c", "d"])

    left, top = bands(picture, columns=2, rows=2, width=80, height=40)
    assert picture.getpixel((left + 80 + 1, top + 1)) == picture.getpixel((left + 159, top + 39)) == (255, 0, 0)
    assert picture.getpixel((left + 40, top + 40 + 20)) == (0, 0, 255)
    assert picture.getpixel((left + 40, top + 1)) == FAILED


def test_with_no_pictures_at_all_every_cell_is_a_failed_one_of_the_default_size():
    picture = labelled_grid({}, ["a", "b"], [])

    width, height = EMPTY_CELL
    assert picture.width == 2 * width and picture.height > height
    assert picture.getpixel((width // 4, picture.height - 2)) == FAILED


def test_a_cell_outside_the_labelled_grid_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"cell \(3, 0\) is outside the 3 x 3 grid"):
        labelled_grid({(3, 0): Image.new("RGB", (8, 8))}, X_LABELS, Y_LABELS)
