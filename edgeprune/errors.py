"""The one exception type a user can cause: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """Something the user can fix: a bad path, a bad option, a file that is not what it claims."""


def short(what: BaseException | str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters: an exception's message (its class name when it has none), or a text
    such as a child process's last line of stderr. Runtime messages can run to pages; a row or a log line holds one."""
    text = " ".join(str(what).split())[:limit]
    return text or (what.__class__.__name__ if isinstance(what, BaseException) else "")
