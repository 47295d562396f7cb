"""Reading laid-out PDFs in tests: lines with their positions, fonts, page images (poppler)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

POPPLER = ("pdftotext", "pdffonts", "pdftohtml", "pdftoppm")
_WORD_RE = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)
_PAGE_RE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_PAGE_NUMBER_RE = re.compile(r"—\d+—")


def poppler_missing() -> bool:
    return any(shutil.which(tool) is None for tool in POPPLER)


def compact(text: str) -> str:
    """`text` without whitespace: pdftotext puts spaces between Chinese and Latin runs."""
    return re.sub(r"\s+", "", text)


@dataclass(frozen=True, slots=True)
class Line:
    top: float
    bottom: float
    text: str  # compact


@dataclass(frozen=True, slots=True)
class Page:
    height: float
    lines: tuple[Line, ...]  # top to bottom, the page number left out

    def text(self) -> list[str]:
        return [line.text for line in self.lines]


def pages(pdf: Path) -> list[Page]:
    """Each page's lines from `pdftotext -bbox`: words sharing a baseline make a line."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for _, height, body in _PAGE_RE.findall(html):
        rows: dict[int, list[tuple[float, float, float, str]]] = {}
        for x_min, y_min, _, y_max, word in _WORD_RE.findall(body):
            rows.setdefault(round(float(y_max)), []).append(
                (float(x_min), float(y_min), float(y_max), word)
            )
        lines = []
        for key in sorted(rows):
            words = sorted(rows[key])
            text = compact("".join(word for *_, word in words))
            if _PAGE_NUMBER_RE.fullmatch(text):
                continue
            lines.append(Line(min(w[1] for w in words), max(w[2] for w in words), text))
        found.append(Page(float(height), tuple(lines)))
    return found


def line_fonts(pdf: Path) -> dict[str, str]:
    """Each text line's font family (subset prefix dropped), from `pdftohtml -xml`."""
    xml = subprocess.run(
        ["pdftohtml", "-xml", "-i", "-stdout", str(pdf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    families = {
        ident: family.split("+", 1)[-1]
        for ident, family in re.findall(r'<fontspec id="(\d+)" [^>]*family="([^"]+)"', xml)
    }
    fonts = {}
    for ident, content in re.findall(r'<text [^>]*font="(\d+)"[^>]*>(.*?)</text>', xml):
        fonts.setdefault(compact(re.sub(r"<[^>]+>", "", content)), families[ident])
    return fonts


def pdffonts_names(pdf: Path) -> list[str]:
    """The font names pdffonts lists (subset prefix dropped)."""
    out = subprocess.run(
        ["pdffonts", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    return [line.split()[0].split("+", 1)[-1] for line in out if line.strip()]


def page_images(pdf: Path, out_dir: Path, dpi: int = 20) -> list[Path]:
    """Grayscale PNG images of every page, small enough to commit.

    pdftoppm writes its PNGs in colour even with -gray; its PGMs are gray, and are written
    here as 8-bit grayscale PNGs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(out_dir / "page")],
        check=True,
        capture_output=True,
    )
    images = []
    for pgm in sorted(out_dir.glob("page-*.pgm")):
        width, height, pixels = _read_pgm(pgm)
        png = pgm.with_suffix(".png")
        write_gray_png(png, width, height, pixels)
        pgm.unlink()
        images.append(png)
    return images


def _read_pgm(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    match = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", data)
    assert match is not None, path
    width, height = int(match.group(1)), int(match.group(2))
    return width, height, data[match.end() : match.end() + width * height]


def write_gray_png(path: Path, width: int, height: int, pixels: bytes) -> None:
    rows = b"".join(b"\x00" + pixels[y * width : (y + 1) * width] for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def read_gray_png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and pixels of an 8-bit grayscale, non-interlaced PNG (as pdftoppm writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    position, chunks, header = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour, interlace) == (8, 0, 0), (path, depth, colour, interlace)
    raw = zlib.decompress(b"".join(chunks))
    pixels = bytearray()
    previous = bytearray(width)
    for row in range(height):
        start = row * (width + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + width])
        for x in range(width):
            left = line[x - 1] if x else 0
            up = previous[x]
            corner = previous[x - 1] if x else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                nearest = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + nearest) & 0xFF
        pixels += line
        previous = line
    return width, height, bytes(pixels)
