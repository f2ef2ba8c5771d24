"""Output folders: made up front, so a path that cannot be a folder is one clear error."""
import os

from .errors import UsageError


def make_folder(path: str, flag: str) -> str:
    """os.makedirs(path) or a UsageError naming `flag` (a file in the way, no permission, ...)."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:   # FileExistsError / NotADirectoryError when a file is in the way
        raise UsageError(f"{flag} {path}: cannot create the folder: {e.strerror or e}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: the folder is not writable")
    return path
