"""Windows: the department desks that report each week."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Window


@dataclass(frozen=True, slots=True)
class WindowSpec:
    name: str
    short_name: str
    position: int


async def sync_windows(session: AsyncSession, specs: Sequence[WindowSpec]) -> None:
    """Make stored windows match the configuration; removed ones are deactivated."""
    existing = {w.name: w for w in (await session.scalars(select(Window))).all()}
    wanted = {spec.name for spec in specs}
    # Short names are unique: free those of windows leaving the configuration first.
    for window in existing.values():
        if window.name not in wanted and window.active:
            window.active = False
            window.short_name = f"{window.short_name}#{window.id}"
    await session.flush()
    for spec in specs:
        found = existing.get(spec.name)
        if found is None:
            session.add(Window(name=spec.name, short_name=spec.short_name, position=spec.position))
        else:
            found.short_name = spec.short_name
            found.position = spec.position
            found.active = True
    await session.flush()


async def active_windows(session: AsyncSession) -> list[Window]:
    result = await session.scalars(
        select(Window).where(Window.active.is_(True)).order_by(Window.position, Window.id)
    )
    return list(result.all())


async def find_window(session: AsyncSession, name: str) -> Window | None:
    """Find an active window by its name or short name (商务厅 or 商务厅窗口)."""
    name = name.strip()
    result = await session.scalars(
        select(Window).where(
            Window.active.is_(True), (Window.name == name) | (Window.short_name == name)
        )
    )
    return result.first()


async def get_window(session: AsyncSession, window_id: int) -> Window | None:
    return await session.get(Window, window_id)


_WINDOWS_BY_ID = select(Window).where(Window.id.in_(bindparam("ids", expanding=True)))


async def get_windows(session: AsyncSession, window_ids: Iterable[int]) -> dict[int, Window]:
    """Several windows by id, in one query."""
    ids = sorted(set(window_ids))
    if not ids:
        return {}
    return {w.id: w for w in await session.scalars(_WINDOWS_BY_ID, {"ids": ids})}
