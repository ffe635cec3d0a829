"""The errors Parley reports to a user as a message, not a traceback."""


class ParleyError(Exception):
    """A problem the user can fix (configuration, a missing model, bad input); the message says how."""


class EngineUnavailable(ParleyError):
    """A served engine (Triton, a local HTTP server) could not answer: down, refused or stalled.

    A stage with a fallback switches to its other engine on this error; without one the turn fails
    with this message and the session keeps listening.
    """
