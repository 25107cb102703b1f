"""The one exception type for problems a user can cause and fix."""


class FashionError(Exception):
    """A user-facing error: its message names the file, line or key at fault."""
