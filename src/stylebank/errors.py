"""The project's own error type: the command line prints these as one line, without a traceback."""


class StyleBankError(Exception):
    """A problem the user can fix: bad input, a missing file, an unreachable weight source."""
