"""What every command shares: the configured avatar, and the exit code for a usage mistake."""

from __future__ import annotations

from parley.assemble import Parley

EXIT_USAGE = 2


def parley_from(args) -> Parley:
    """The avatar the command line configures (``--config``, else ``$PARLEY_CONFIG``, else the default;
    ``--avatar`` in place of the config's, speaking with its voice unless the config names one)."""
    return Parley.load(args.config, getattr(args, "avatar", None))
