"""What a frame read again takes over from the last frame read: lines whose pixels did not change keep
their box and reading, a changed or grown line is taken as found now."""

import numpy as np
import pytest

from analyzers import ocr, text_reuse
from support.counted import Counted
from support.media_factory import caption_lines, latin_font


def slide(clock: str, title: str = "Quarterly Report", width: int = 640, height: int = 360) -> np.ndarray:
    """A title at the top and a clock at the bottom, on a plain background."""
    top = caption_lines([title], width, height, 26, font=latin_font("Sans"), top=40)
    bottom = caption_lines([clock], width, height, 26, font=latin_font("Sans"), top=height - 80)
    return np.where(np.arange(height)[:, None, None] < height // 2, top, bottom).astype(np.uint8)


def quad(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def test_a_ticking_clock_under_a_title_keeps_the_title_box_and_reading(monkeypatch):
    engine = ocr.ocr_engine()
    recognized = Counted(engine.text_rec)
    monkeypatch.setattr(engine, "text_rec", recognized)
    last = text_reuse.LastRead()
    read = [ocr.read_text(slide(f"00:0{s}"), last=last) for s in (3, 4, 5)]
    assert [[line.text for line in lines] for lines in read] == [["Quarterly Report", f"00:0{s}"] for s in (3, 4, 5)]
    assert len({lines[0].box for lines in read}) == 1  # the title's box, found again with jitter, stays
    assert recognized.calls == [2, 1, 1]  # the title is read once


@pytest.mark.parametrize(
    "found, pixels_changed, settled",
    [
        ([], False, "title"),  # the detector missed it now, its pixels are the same: still shown
        ([], True, "none"),  # its pixels changed: gone (new text there: the detector would have found it)
        ([quad(12, 13, 298, 57)], False, "title"),  # found again within its box: it keeps its own box
        ([quad(12, 13, 380, 57)], False, "found"),  # a line found over it reaches beyond it: replaced
        ([quad(12, 13, 298, 57)], True, "found"),  # pixels changed: the box found now
        ([quad(12, 13, 298, 57), quad(10, 100, 200, 130)], False, "title+other"),  # another line beside it
        ([quad(12, 13, 150, 57), quad(160, 13, 298, 57)], False, "found"),  # two within it: it was split
    ],
)
def test_which_lines_of_the_last_frame_are_still_shown(found, pixels_changed, settled):
    title = quad(10, 10, 300, 60)
    grey = np.tile(np.linspace(0, 255, 290, dtype=np.float32), (50, 1))
    last = text_reuse.LastRead()
    last.replace([text_reuse.SeenLine(title, np.array([10, 10, 300, 60]), grey, ("Quarterly Report", 0.99))])
    now = np.clip(grey + (40 if pixels_changed else 1), 0, 255)
    expected = {"title": [title], "none": [], "found": found, "title+other": found[1:] + [title]}[settled]
    assert [q.tolist() for q in last.settle(found, lambda q: now)] == [q.tolist() for q in expected]


def test_a_line_is_recalled_only_at_its_place_with_its_pixels():
    image = slide("00:03")
    title = quad(10, 10, 300, 60)
    box, grey = text_reuse.line_key(title, image[10:60, 10:300])
    last = text_reuse.LastRead()
    last.replace([text_reuse.SeenLine(title, box, grey, ("Quarterly Report", 0.99))])
    assert last.recall(box + 1, grey) == ("Quarterly Report", 0.99)  # the detector's jitter
    assert last.recall(box + text_reuse.SAME_LINE_SHIFT + 1, grey) is None
    assert last.recall(box, np.clip(grey + 40, 0, 255)) is None
    assert last.recall(box, grey[:4]) is None  # too small to compare block by block
