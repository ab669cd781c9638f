"""The knowledge a turn's question is given: all of it when it is small, else the best parts."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Passage:
    label: str  # where it comes from: "FAQ › Delivery times", "Menu.pdf, page 2"
    text: str


@dataclass(frozen=True)
class Knowledge:
    passages: tuple[Passage, ...] = ()
    whole: bool = True  # everything there is: the same block every turn, so it can be cached

    @property
    def labels(self) -> list[str]:
        return [passage.label for passage in self.passages]


def knowledge_for(question: str, snap) -> Knowledge:
    """The passages for `question` (the merged customer messages and the exchange before)."""
    return Knowledge()
