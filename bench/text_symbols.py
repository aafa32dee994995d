"""On-screen text with symbols, marked letters and spaces, rendered in several fonts and sizes, read by OCR.

    .venv/bin/python -m bench.text_symbols                    # every recognizer, prints JSON
    .venv/bin/python -m bench.text_symbols --recognizers combined --out bench/results/text_symbols.json

The lines hold what PP-OCRv4's dictionary lacks or writes as a lookalike (© ® € ß ö Ä, °, §), words
with doubled letters, and words separated by single spaces. Each line is rendered on its own frame
(white on a dark band, and dark on a light page) in every font of FONTS at every size of SIZES, read
with `analyzers.ocr.read_text`, and scored: the share of lines read exactly (case and spaces count;
a frame that reads more than one line is joined with spaces), the same with spaces ignored, and the
character error rate. The lines are written for this benchmark (German and other Latin-script text of
the kinds seen in videos), not taken from any clip. `symbol_scores(...)` returns the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analyzers import ocr  # noqa: E402
from analyzers.text_merge import edit_distance  # noqa: E402

LINES = (
    "© 2024 Müller & Söhne GmbH",
    "Außentemperatur 21°C",
    "Winkel 45° nach links",
    "Preis: 12,50 € pro Stück",
    "Straße der Einheit 7, Köln",
    "Ärger über Öl im Fluss",
    "Café Noël à Genève",
    "Marke® seit 1998",
    "§ 12 Abs. 3 BGB",
    "www.kaffee-allee.de/programm",
    "Sommer Programm 2025 (Teil 2)",
    "Kapitel 4.1 Einleitung",
)
FONTS = ("Sans", "Sans-Bold", "Serif", "SansMono")  # DejaVu, shipped in matplotlib's wheel
SIZES = (18, 26, 40)  # pixels; a 640 x 360 frame (wider for a long line)
STYLES = ("band", "page")  # white on a dark band; dark text on a light page


def render(text: str, font: str, size: int, style: str, width: int = 640, height: int = 360) -> np.ndarray:
    """One RGB frame with `text` centred (the frame made wider for a line that would not fit)."""
    from matplotlib import get_data_path
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(Path(get_data_path()) / "fonts" / "ttf" / f"DejaVu{font}.ttf"), size)
    page = style == "page"
    left, up, right, bottom = face.getbbox(text)
    width = max(width, right - left + 80)
    image = Image.new("RGB", (width, height), (235, 232, 225) if page else (70, 90, 110))
    draw = ImageDraw.Draw(image)
    x, y = (width - (right - left)) // 2, (height - (bottom - up)) // 2
    if not page:
        draw.rectangle((x - 10, y - 10, x + right - left + 10, y + bottom - up + 10), fill=(20, 20, 20))
    draw.text((x - left, y - up), text, font=face, fill=(30, 30, 30) if page else (255, 255, 255))
    return np.array(image)


def symbol_scores(
    recognizer: str = "combined",
    lines=LINES,
    fonts=FONTS,
    sizes=SIZES,
    styles=STYLES,
    degrade=None,
) -> dict:
    """Exact-line share, spaceless exact share and character error rate of `recognizer` over every
    rendering; `degrade(image) -> image` is applied to each frame first (e.g. a blur)."""
    exact = spaceless = errors = chars = frames = 0
    misread: list[dict] = []
    started = time.process_time()
    for text in lines:
        for font in fonts:
            for size in sizes:
                for style in styles:
                    image = render(text, font, size, style)
                    if degrade is not None:
                        image = degrade(image)
                    read = " ".join(line.text for line in ocr.read_text(image, recognizer=recognizer))
                    frames += 1
                    exact += read == text
                    spaceless += read.replace(" ", "") == text.replace(" ", "")
                    errors += edit_distance(read, text)
                    chars += len(text)
                    if read != text:
                        misread.append({"line": text, "read": read, "font": font, "size": size, "style": style})
    return {
        "recognizer": recognizer,
        "frames": frames,
        "exact": round(exact / frames, 4),
        "exact_spaces_ignored": round(spaceless / frames, 4),
        "character_error_rate": round(errors / chars, 4),
        "cpu_ms_per_frame": round(1000 * (time.process_time() - started) / frames, 1),
        "misread": misread,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.text_symbols", description=__doc__.splitlines()[0])
    parser.add_argument("--recognizers", nargs="+", default=list(ocr.RECOGNIZERS), choices=ocr.RECOGNIZERS)
    parser.add_argument("--out", type=Path, help="also write the figures (JSON) here")
    args = parser.parse_args(argv)
    from bench import machine

    results = {
        "results": [symbol_scores(r) for r in args.recognizers],
        "machine": machine.describe(),
        "command": " ".join(["python -m bench.text_symbols", *(argv if argv is not None else sys.argv[1:])]),
    }
    text = json.dumps(results, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
