"""Lay a draft out as PDF through LibreOffice, beside its .docx.

LibreOffice runs headless with a profile of its own (two instances cannot share one) and a
fontconfig file that maps the 公文 faces to free faces of the same family when the real
ones are missing: 仿宋_GB2312 to a serif (Noto Serif CJK, AR PL UMing), 楷体_GB2312 to a 楷
(AR PL UKai), 黑体 to a sans (Noto Sans CJK), 方正小标宋简体 to a heavy serif. Without it every
face falls back to one sans and 一、, （一） and the body look alike.

Printed double-sided (GB/T 9704 §8: 双面印刷), the 版记 must be on an even page; only the
laid-out document tells where the body ends, so an odd last page is laid out again with the
版记 pushed to the next page, and once more if that is still odd (the body filled an even
page: a blank page goes before the 版记's).
"""

from __future__ import annotations

import asyncio
import atexit
import io
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Final

from handlers.services.issue_draft import NoPdf, Typeset
from report.bulletin import Draft
from report.render_docx import render_docx

logger = logging.getLogger(__name__)

OFFICE_COMMANDS: Final = ("libreoffice", "soffice")
CONVERT_TIMEOUT: Final = 180.0  # seconds; the first start of a profile takes the longest
_PAGE_RE: Final = re.compile(rb"/Type\s*/Page(?![A-Za-z])")

# Each 公文 face: the names it has elsewhere, then free Debian faces of the same family.
FONT_ALIASES: Final = (
    ("仿宋_GB2312", ("仿宋", "FangSong", "STFangsong", "Noto Serif CJK SC", "AR PL UMing CN")),
    ("楷体_GB2312", ("楷体", "KaiTi", "STKaiti", "AR PL UKai CN")),
    ("黑体", ("SimHei", "STHeiti", "Noto Sans CJK SC", "WenQuanYi Zen Hei")),
    ("宋体", ("SimSun", "Noto Serif CJK SC", "AR PL UMing CN")),
)
HEAVY_SERIF: Final = ("方正小标宋简体", ("华文中宋", "STZhongsong", "Noto Serif CJK SC"))


def fontconfig_file() -> str:
    """A fontconfig file: the system's configuration plus the 公文 faces' fallbacks."""
    aliases = []
    for name, fallbacks in FONT_ALIASES:
        prefer = "".join(f"<family>{family}</family>" for family in fallbacks)
        aliases.append(
            f'  <alias binding="same"><family>{name}</family><prefer>{prefer}</prefer></alias>'
        )
    name, fallbacks = HEAVY_SERIF
    families = "".join(f"<string>{family}</string>" for family in fallbacks)
    # The free serif has no face as heavy as 小标宋; ask for its heaviest.
    heavy = (
        f'  <match target="pattern"><test name="family"><string>{name}</string></test>'
        f'<edit name="family" mode="append" binding="same">{families}</edit>'
        '<edit name="weight" mode="assign"><const>black</const></edit></match>'
    )
    return "\n".join(
        [
            '<?xml version="1.0"?>',
            '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">',
            "<fontconfig>",
            '  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>',
            *aliases,
            heavy,
            "</fontconfig>",
            "",
        ]
    )


def find_office() -> str | None:
    """The LibreOffice command on PATH, or None."""
    for command in OFFICE_COMMANDS:
        found = shutil.which(command)
        if found is not None:
            return found
    return None


def page_count(pdf: bytes) -> int:
    """The number of pages of a PDF LibreOffice wrote (it writes no object streams)."""
    return len(_PAGE_RE.findall(pdf))


class OfficeError(Exception):
    """LibreOffice did not turn the .docx into a PDF."""


class LibreOffice:
    """Converts .docx to PDF, one conversion at a time, with a private profile and fonts."""

    def __init__(self, command: str) -> None:
        self.command = command
        self._lock = asyncio.Lock()
        self._home: Path | None = None

    def _prepare(self) -> Path:
        if self._home is None:
            home = Path(tempfile.mkdtemp(prefix="zhoubao-office-"))
            atexit.register(shutil.rmtree, home, ignore_errors=True)
            (home / "fonts.conf").write_text(fontconfig_file(), encoding="utf-8")
            self._home = home
        return self._home

    async def to_pdf(self, docx: bytes) -> bytes:
        """Return the PDF LibreOffice lays out from `docx`; OfficeError if it cannot."""
        async with self._lock:
            home = self._prepare()
            work = Path(tempfile.mkdtemp(dir=home))
            try:
                return await self._convert(home, work, docx)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    async def _convert(self, home: Path, work: Path, docx: bytes) -> bytes:
        source = work / "draft.docx"
        source.write_bytes(docx)
        environment = {**os.environ, "FONTCONFIG_FILE": str(home / "fonts.conf")}
        process = await asyncio.create_subprocess_exec(
            self.command,
            f"-env:UserInstallation={(home / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work),
            str(source),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        try:
            _, errors = await asyncio.wait_for(process.communicate(), CONVERT_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise OfficeError(f"{self.command} took more than {CONVERT_TIMEOUT:.0f} s") from None
        pdf = work / "draft.pdf"
        if process.returncode != 0 or not pdf.exists():
            detail = errors.decode("utf-8", "replace").strip().splitlines()
            raise OfficeError(f"{self.command} exited {process.returncode}: {detail[-1:]}")
        return pdf.read_bytes()


class Typesetter:
    """Renders a draft's .docx and, where LibreOffice is installed, its PDF."""

    def __init__(
        self, office: LibreOffice | None, *, double_sided: bool = True, wanted: bool = True
    ) -> None:
        self.office = office
        self.double_sided = double_sided
        self.wanted = wanted  # False: configured without PDF ([draft] pdf = false)

    async def __call__(self, draft: Draft) -> Typeset:
        docx = await asyncio.to_thread(_docx, draft, 0)
        if self.office is None:
            return Typeset(docx, None, NoPdf.NO_OFFICE if self.wanted else None)
        try:
            pdf = await self.office.to_pdf(docx)
            # An odd last page: push the 版记 one page on; still odd (the body filled an even
            # page and its last line moved), two.
            for breaks in (1, 2):
                if not self.double_sided or page_count(pdf) % 2 == 0:
                    break
                docx = await asyncio.to_thread(_docx, draft, breaks)
                pdf = await self.office.to_pdf(docx)
        except (OfficeError, OSError) as error:
            logger.warning("no PDF of the draft: %s", error)
            return Typeset(docx, None, NoPdf.FAILED)
        return Typeset(docx, pdf)


def _docx(draft: Draft, record_page_breaks: int) -> bytes:
    stream = io.BytesIO()
    render_docx(draft, stream, record_page_breaks=record_page_breaks)
    return stream.getvalue()


def typesetter(pdf: bool = True, double_sided: bool = True) -> Typesetter:
    """A Typesetter with LibreOffice when `pdf` is wanted and it is installed, else .docx only."""
    command = find_office() if pdf else None
    office = None if command is None else LibreOffice(command)
    return Typesetter(office, double_sided=double_sided, wanted=pdf)
