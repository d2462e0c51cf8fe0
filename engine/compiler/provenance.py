"""Which Git commit the rule files came from, recorded at load time beside their rules hash.

``rules_hash`` (sha256 over the files) is what every audit row carries; :func:`git_commit` maps it
back to version control: ``<commit>`` when the rules directory is inside a Git work tree and its
files are as committed, ``<commit>+dirty`` when some rule file differs from that commit (or is
untracked), ``""`` when it is not in a Git work tree or ``git`` is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

TIMEOUT = 5.0


def in_work_tree(root: Path) -> bool:
    """A ``.git`` (directory, or a worktree's file) in ``root`` or above: cheap, no subprocess."""
    here = root.resolve()
    return any((p / ".git").exists() for p in (here, *here.parents))


def git_commit(root: Path) -> str:
    """The commit the rule files in ``root`` are at (see the module docstring), else ""."""
    git = shutil.which("git")
    if git is None or not root.is_dir() or not in_work_tree(root):
        return ""
    try:
        head = subprocess.run([git, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        if head.returncode != 0:
            return ""
        status = subprocess.run([git, "-C", str(root), "status", "--porcelain", "--", "."], capture_output=True,
                                text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    commit = head.stdout.strip()
    return f"{commit}+dirty" if status.returncode != 0 or status.stdout.strip() else commit
