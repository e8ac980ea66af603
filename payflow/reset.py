"""`payflow dev --reset`: forget the dev stack's state, all of what belongs together at once.

The simulators' state and the Temporal dev db go together (an open flow needs both). The dev
payload key goes only with the local dev db, since it sealed that db's histories; with an
existing cluster (`TEMPORAL_ADDRESS`) its histories may still need the key, so it stays, and so
do the documents they reference.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from payflow.codec import DEV_KEY_FILE
from payflow.documents import DIRECTORY as DOCUMENTS_DIRECTORY
from payflow.stack import SANDBOX_STATE_DIR

TEMPORAL_DB = "temporal.db"


def dev_state_paths(state_dir: str | os.PathLike[str], *, local_temporal: bool) -> list[Path]:
    """Everything a reset removes, whether it exists or not."""
    root = Path(state_dir)
    paths = [root / SANDBOX_STATE_DIR]
    if local_temporal:
        db = root / TEMPORAL_DB
        paths += [db, *(db.with_name(db.name + end) for end in ("-wal", "-shm", "-journal"))]
        paths += [root / DEV_KEY_FILE, root / DOCUMENTS_DIRECTORY]
    return paths


def reset_dev_state(state_dir: str | os.PathLike[str], *, local_temporal: bool) -> list[Path]:
    """Remove the dev stack's state under `state_dir`; returns what was there."""
    removed = []
    for path in dev_state_paths(state_dir, local_temporal=local_temporal):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def describe_reset(state_dir: str | os.PathLike[str], removed: list[Path]) -> str:
    """The one line `--reset` prints."""
    if not removed:
        return f"reset: nothing to remove in {state_dir}"
    return "reset: removed " + ", ".join(str(path) for path in removed)
