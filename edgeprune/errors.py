"""The one exception type a user can cause: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """Something the user can fix: a bad path, a bad option, a file that is not what it claims."""
