"""The one error a query can raise, with where in the query it happened."""

from __future__ import annotations


class QueryError(ValueError):
    """A query that cannot be parsed or run.

    ``position`` is the 0-based offset in ``query`` of the problem (``column``
    is the same, 1-based, for people). The API answers 400 with both.
    """

    def __init__(self, message: str, position: int = 0, query: str = "") -> None:
        self.message = message
        self.position = max(0, position)
        self.query = query
        super().__init__(self.describe())

    @property
    def column(self) -> int:
        return self.position + 1

    def with_query(self, query: str, offset: int = 0) -> QueryError:
        """The same error placed in a larger query text (at ``offset`` in it)."""
        return QueryError(self.message, self.position + offset, query)

    def describe(self) -> str:
        if not self.query:
            return f"column {self.column}: {self.message}"
        return f"column {self.column}: {self.message}\n  {self.query}\n  {' ' * self.position}^"

    def to_dict(self) -> dict[str, object]:
        return {
            "error": "query",
            "message": self.message,
            "position": self.position,
            "column": self.column,
            "query": self.query,
        }
