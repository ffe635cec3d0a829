"""What has been said in a session, kept across interrupted turns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exchange:
    user: str
    # What the avatar actually said: for an interrupted turn, only the part spoken before barge-in.
    assistant: str
    interrupted: bool = False


class History:
    def __init__(self, max_exchanges: int = 64) -> None:
        self.max_exchanges = max_exchanges
        self.exchanges: list[Exchange] = []

    def add(self, user: str, assistant: str, interrupted: bool = False) -> None:
        self.exchanges.append(Exchange(user.strip(), assistant.strip(), interrupted))
        del self.exchanges[: -self.max_exchanges]

    def plus(self, exchange: Exchange) -> History:
        """A copy with ``exchange`` added: the history as it will be once that exchange is committed."""
        copy = History(self.max_exchanges)
        copy.exchanges = list(self.exchanges)
        copy.add(exchange.user, exchange.assistant, exchange.interrupted)
        return copy

    def clear(self) -> None:
        self.exchanges.clear()
