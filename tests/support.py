"""Helpers shared by tests in several folders."""

from __future__ import annotations

import io
import tarfile


def tar_gz(files: dict[str, str]) -> bytes:
    """A gzipped tar of text files (a SageMaker ``model.tar.gz`` or ``sourcedir.tar.gz``), built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
