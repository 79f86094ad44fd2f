"""Path lookup (fs/namei.c), one level deep: a mount point and a file name in it."""

from ..errors import EINVAL, ENOENT, ENOTDIR, error


def path_lookup(m, path):
    """Return (superblock, name in it) for an absolute path (filename_lookup).

    The simulated filesystems are flat: a name with a slash in it is ENOTDIR.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise error(ENOENT, f"{path!r}")
    best = max((mp for mp in m.mounts if path == mp or path.startswith(mp + "/")),
               key=len, default=None)
    if best is None:
        raise error(ENOENT, f"{path}: no filesystem mounted there")
    name = path[len(best):].strip("/")
    if "/" in name:
        raise error(ENOTDIR, f"{path}: the simulated filesystems have no directories")
    return m.mounts[best], name


def lookup_inode(m, path):
    """Return the inode of a file path; a mount point itself is EINVAL here."""
    sb, name = path_lookup(m, path)
    if not name:
        raise error(EINVAL, f"{path} is a mount point")
    return sb.lookup(name)
