"""The base of every error Parley reports to a user as a message rather than a traceback."""


class ParleyError(Exception):
    """Something the user can fix or should know about; the message says what and how."""
