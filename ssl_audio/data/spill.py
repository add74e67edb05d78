"""What bounds prepare's writer memory: TFDS's shuffler spilling to local files without TensorFlow.

TFDS's writer keeps a split's serialized examples in memory until 1 GB, then spills them to 1,000 sorted
bucket files and writes the split from those; the dataset is the same either way (examples in the order of
their hashed keys). Its spill files go through `tf.io.gfile`, and importing TensorFlow for that costs about
600 MB, more than the buffer it saves. `bound_writer_memory` has the shuffler spill past WRITER_MEMORY_BYTES
through plain local files: prepare's memory then stays bounded whatever the dataset's size or a file's
length (`ssl-audio bench memory`). prepare writes into a local staging folder, so local files suffice.
"""

from __future__ import annotations

import errno
import os

# Past this many bytes of serialized examples in a split, the writer spills to disk.
WRITER_MEMORY_BYTES = 16 << 20


class _ResourceExhausted(Exception):
    """What the shuffler catches as TensorFlow's ResourceExhaustedError ('Too many open files': it raises
    the open-file limit and writes again)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _LocalFile:
    """tf.io.gfile.GFile's part the shuffler uses, on a local file opened at its first read or write (as
    GFile opens it), so that running out of file descriptors surfaces where the shuffler handles it."""

    def __init__(self, path, mode: str = "r"):
        self.path, self.mode, self.file = os.fspath(path), mode, None

    def _open(self):
        if self.file is None:
            try:
                self.file = open(self.path, self.mode)
            except OSError as err:
                if err.errno == errno.EMFILE:
                    raise _ResourceExhausted("Too many open files") from err
                raise
        return self.file

    def write(self, data: bytes) -> int:
        return self._open().write(data)

    def read(self, size: int = -1) -> bytes:
        return self._open().read(size)

    def flush(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalFiles:
    """Stands for `tensorflow` in TFDS's shuffle module: io.gfile and errors on local files."""

    class io:  # noqa: N801  (the names TFDS calls)
        class gfile:  # noqa: N801
            GFile = _LocalFile
            exists = staticmethod(os.path.exists)
            remove = staticmethod(os.remove)

    class errors:  # noqa: N801
        ResourceExhaustedError = _ResourceExhausted


def bound_writer_memory(limit: int = WRITER_MEMORY_BYTES) -> None:
    from tensorflow_datasets.core import shuffle

    shuffle.tf = LocalFiles
    shuffle.MAX_MEM_BUFFER_SIZE = limit
