"""The learner's workspace: a git-ignored copy of the chapters and exercises that ``hcedu lab`` opens.

Running a notebook saves it (JupyterLab autosaves), so a learner working in ``notebooks/`` would edit the
tracked files: ``git pull`` then conflicts, and ``make test`` no longer checks what was shipped. So
``hcedu lab`` works in ``workspace/`` (listed in ``.gitignore``) instead:

- the first run copies ``notebooks/*.ipynb`` and ``exercises/*.ipynb`` there (same relative layout, so
  links between them keep working);
- a later run brings in what changed upstream for every copy the learner has not touched (a manifest
  holds the hash of what was copied), never overwrites a copy the learner changed, and says which
  ones have an update waiting; ``hcedu lab --refresh`` replaces those too, keeping the learner's
  version beside it as ``NAME.mine-<time>.ipynb``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FOLDERS", "SyncReport", "sync"]

FOLDERS = ("notebooks", "exercises")
MANIFEST = ".hcedu-workspace.json"


@dataclass
class SyncReport:
    """What :func:`sync` did: files copied fresh, updated, kept because the learner changed them."""

    workspace: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    backed_up: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"workspace: {self.workspace}"]
        if self.copied:
            lines.append(f"  copied {len(self.copied)} notebook(s) from the course")
        if self.updated:
            lines.append(f"  updated {len(self.updated)} notebook(s) you had not changed: {', '.join(self.updated)}")
        if self.backed_up:
            lines.append(f"  replaced {len(self.backed_up)} of your notebook(s) with the course's; yours are kept as "
                         + ", ".join(self.backed_up))
        if self.kept:
            lines.append(f"  {len(self.kept)} notebook(s) you changed have a newer version in the course: "
                         f"{', '.join(self.kept)} (run `hcedu lab --refresh` to take it; yours is kept beside it)")
        return "\n".join(lines)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sync(root: str | Path, workspace: str | Path | None = None, *, refresh: bool = False) -> SyncReport:
    """Bring ``workspace`` (default ``ROOT/workspace``) up to date with the course under ``root``."""
    root = Path(root)
    ws = Path(workspace) if workspace is not None else root / "workspace"
    report = SyncReport(ws)
    manifest_path = ws / MANIFEST
    manifest: dict[str, str] = {}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            manifest = {}
    for folder in FOLDERS:
        for src in sorted((root / folder).glob("*.ipynb")):
            rel = f"{folder}/{src.name}"
            dst = ws / rel
            shipped = _digest(src)
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                report.copied.append(rel)
            elif manifest.get(rel) == shipped:
                continue  # up to date (the learner may have changed it: theirs to keep)
            elif _digest(dst) == manifest.get(rel) or _digest(dst) == shipped:
                shutil.copy2(src, dst)  # untouched copy of an older version: safe to update
                report.updated.append(rel)
            elif refresh:
                mine = dst.with_name(f"{dst.stem}.mine-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
                shutil.move(dst, mine)
                shutil.copy2(src, dst)
                report.backed_up.append(str(mine.relative_to(ws)))
            else:
                report.kept.append(rel)
                continue  # remember the old digest, so it stays flagged until refreshed
            manifest[rel] = shipped
    ws.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return report
