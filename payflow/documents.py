"""Merchants' documents (invoices) stored once, outside Temporal, addressed by their SHA-256.

The gateway or Python API writes a document here and hands the workflow only a reference
(`InvoiceReference`: sha256, filetype, size); the `paymentassist.invoice` activity reads the
bytes back and checks them against the reference. Workflow histories therefore never hold a
document, however often it is retried or carried.

The store is a directory (`PAYFLOW_STATE_DIR/documents`): the worker and the gateway must see
the same one. `payflow dev` and the tests run both on one host; in production mount one shared
directory on both, or have the merchant's backend call the Python API on a worker host.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from state.checkout_models import InvoiceFileType, InvoiceReference

DIRECTORY = "documents"


class DocumentMissing(Exception):
    """The store has no document (or a damaged one) for a reference."""


class DocumentStore:
    """Content-addressed files, 0600 in a 0700 directory; a document is written once."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def under(cls, state_dir: str | os.PathLike[str]) -> DocumentStore:
        """The store inside payflow's state directory."""
        return cls(Path(state_dir) / DIRECTORY)

    def put(self, content: bytes, filetype: InvoiceFileType) -> InvoiceReference:
        """Keep `content` (once per distinct content) and return its reference."""
        digest = hashlib.sha256(content).hexdigest()
        reference = InvoiceReference(sha256=digest, filetype=filetype, size=len(content))
        path = self._path(digest)
        if path.is_file() and path.stat().st_size == len(content):
            return reference
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_name(f".{digest}.{os.getpid()}.{id(content)}.part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise
        return reference

    def read(self, reference: InvoiceReference) -> bytes:
        """The document's bytes; DocumentMissing when absent or not what the reference says."""
        try:
            content = self._path(reference.sha256).read_bytes()
        except FileNotFoundError:
            raise DocumentMissing(
                f"document {reference.sha256[:12]}... is not in the store at {self.root}"
            ) from None
        if (
            len(content) != reference.size
            or hashlib.sha256(content).hexdigest() != reference.sha256
        ):
            raise DocumentMissing(f"document {reference.sha256[:12]}... in the store is damaged")
        return content

    def _path(self, digest: str) -> Path:
        return self.root / digest
