"""The learner's workspace: a git-ignored copy of the chapters and exercises that ``hcedu lab`` opens.

Running a notebook saves it (JupyterLab autosaves), so a learner working in ``notebooks/`` would edit the
tracked files: ``git pull`` then conflicts, and ``make test`` no longer checks what was shipped. So
``hcedu lab`` works in ``workspace/`` (listed in ``.gitignore``) instead:

- the first run copies ``notebooks/``, ``exercises/`` and ``solutions/`` notebooks there (same relative
  layout, so links between them keep working);
- a later run brings in what changed upstream for every copy the learner has not touched (a manifest
  holds the hash of what was copied), never overwrites a copy the learner changed, and says which
  ones have an update waiting; ``hcedu lab --refresh`` replaces those too, keeping the learner's
  version beside it as ``NAME.mine-<time>.ipynb``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FOLDERS", "SyncReport", "sync", "workspace_dir"]

FOLDERS = ("notebooks", "exercises", "solutions")
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


def trust(paths: list[Path]) -> None:
    """Sign notebooks as trusted (what ``jupyter trust`` does): JupyterLab renders a stored widget view only
    in a trusted notebook, so an untrusted copy shows ``VBox(children=...)`` until it is re-run."""
    if not paths:
        return
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary()
    for path in paths:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # not a notebook (yet): nothing to trust; JupyterLab will say what is wrong with it
            continue
        notary.sign(nb)


def workspace_dir(root: str | Path) -> Path:
    """``$HCEDU_WORKSPACE`` if set (tests, or a learner who keeps work elsewhere), else ``ROOT/workspace``."""
    env = os.environ.get("HCEDU_WORKSPACE")
    return Path(env).resolve() if env else Path(root).resolve() / "workspace"


def sync(root: str | Path, workspace: str | Path | None = None, *, refresh: bool = False) -> SyncReport:
    """Bring ``workspace`` (default :func:`workspace_dir`) up to date with the course under ``root``."""
    root = Path(root)
    ws = Path(workspace) if workspace is not None else workspace_dir(root)
    report = SyncReport(ws)
    manifest_path = ws / MANIFEST
    manifest: dict[str, str] = {}
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            manifest = {}
    fresh: list[Path] = []  # files written from the course this time: signed as trusted below
    for folder in FOLDERS:
        for src in sorted((root / folder).glob("*.ipynb")):
            rel = f"{folder}/{src.name}"
            dst = ws / rel
            shipped = _digest(src)
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                report.copied.append(rel)
                fresh.append(dst)
            elif manifest.get(rel) == shipped:
                continue  # up to date (the learner may have changed it: theirs to keep)
            elif _digest(dst) == manifest.get(rel) or _digest(dst) == shipped:
                shutil.copy2(src, dst)  # untouched copy of an older version: safe to update
                report.updated.append(rel)
                fresh.append(dst)
            elif refresh:
                mine = dst.with_name(f"{dst.stem}.mine-{time.strftime('%Y%m%d-%H%M%S')}.ipynb")
                shutil.move(dst, mine)
                shutil.copy2(src, dst)
                report.backed_up.append(str(mine.relative_to(ws)))
                fresh.append(dst)
            else:
                report.kept.append(rel)
                continue  # remember the old digest, so it stays flagged until refreshed
            manifest[rel] = shipped
    trust(fresh)
    ws.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return report
