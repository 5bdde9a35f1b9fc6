"""Constraint expressions over trial columns, parsed safely: "latency_ms <= 3 and energy_mj <= 20".

The text is parsed with Python's `ast` and walked against a whitelist: comparisons (< <= > >= == !=, chained
like `1 <= latency_ms <= 3`) between column names and number or string literals, joined by `and`, `or`,
`not` and parentheses. Nothing is ever evaluated as Python; anything else is a one-line error naming what is
valid. A comparison with a missing value (NaN) is false, `!=` included; `not` negates that false.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from search_spaces.errors import EspnasError

_COMPARE: dict[type, Callable[[object, object], object]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
VALID = (
    "comparisons of columns with numbers or quoted strings (< <= > >= == !=), joined by and / or / not and "
    "parentheses, e.g. 'latency_ms <= 3 and energy_mj <= 20'"
)


MAX_LENGTH = 2000  # characters; a constraint is a line a person writes
MAX_DEPTH = 50  # nesting of and / or / not / parentheses


class WhereError(EspnasError, ValueError):
    """A malformed or unsupported constraint expression."""


class Where:
    """A parsed constraint: `Where("latency_ms <= 3").mask(frame)` is a boolean Series over the rows."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise WhereError(f"empty constraint; expected {VALID}")
        self.text = text.strip()
        if len(self.text) > MAX_LENGTH:
            raise WhereError(f"constraint of {len(self.text)} characters; valid: at most {MAX_LENGTH}, {VALID}")
        try:
            tree = ast.parse(self.text, mode="eval")
        except (SyntaxError, ValueError):  # ValueError: e.g. a NUL byte
            raise WhereError(f"malformed constraint {self.text[:80]!r}; expected {VALID}") from None
        except (RecursionError, MemoryError):
            raise WhereError(f"constraint nested too deeply; valid: at most {MAX_DEPTH} levels, {VALID}") from None
        self._tree = tree.body
        self.columns = sorted(self._check(self._tree))

    def _check(self, node: ast.AST, depth: int = 0) -> set[str]:
        """Validate the tree against the whitelist; return the column names it uses."""
        if depth > MAX_DEPTH:
            raise WhereError(f"constraint nested too deeply; valid: at most {MAX_DEPTH} levels, {VALID}")
        if isinstance(node, ast.BoolOp):
            return set().union(*(self._check(v, depth + 1) for v in node.values))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._check(node.operand, depth + 1)
        if isinstance(node, ast.Compare):
            bad = [type(op).__name__ for op in node.ops if type(op) not in _COMPARE]
            if bad:
                raise WhereError(f"operator {bad[0]} is not allowed in {self.text!r}; expected {VALID}")
            names: set[str] = set()
            for operand in [node.left, *node.comparators]:
                names |= self._operand(operand)
            if not names:
                raise WhereError(f"comparison without a column in {self.text!r}; expected {VALID}")
            return names
        raise WhereError(f"{_describe(node)} is not allowed in {self.text!r}; expected {VALID}")

    def _operand(self, node: ast.AST) -> set[str]:
        if isinstance(node, ast.Name):
            return {node.id}
        try:
            literal = _literal(node)
        except OverflowError:
            raise WhereError(
                f"number {_describe(node)[:40]}... is too large in the constraint; valid: numbers up to about 1e308"
            ) from None
        if literal is not None:
            return set()
        raise WhereError(f"{_describe(node)} cannot be compared in {self.text!r}; expected {VALID}")

    def check_columns(self, columns: Iterable[str]) -> None:
        """Refuse names the frame does not have, listing the ones it does."""
        available = list(columns)
        unknown = [c for c in self.columns if c not in available]
        if unknown:
            raise WhereError(f"unknown column {unknown[0]!r} in {self.text!r}; valid: {', '.join(available)}")

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Rows of `frame` that satisfy the constraint."""
        self.check_columns(frame.columns)
        result = self._eval(self._tree, frame)
        if not isinstance(result, pd.Series):  # e.g. a comparison of two literals folded into a bool
            result = pd.Series(bool(result), index=frame.index)
        return result.fillna(False).astype(bool)

    def _eval(self, node: ast.AST, frame: pd.DataFrame) -> pd.Series:
        if isinstance(node, ast.BoolOp):
            parts = [self._eval(v, frame) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for part in parts[1:]:
                out = combine(out, part)
            return out
        if isinstance(node, ast.UnaryOp):
            return ~self._eval(node.operand, frame)
        assert isinstance(node, ast.Compare)
        operands = [self._value(n, frame) for n in [node.left, *node.comparators]]
        out = pd.Series(True, index=frame.index)
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            try:
                got = _COMPARE[type(op)](left, right)
            except TypeError:
                raise WhereError(
                    f"cannot compare {_show(left)} with {_show(right)} in {self.text!r}; "
                    "compare numeric columns with numbers and text columns with quoted strings"
                ) from None
            got = pd.Series(got, index=frame.index).fillna(False).astype(bool)
            for side in (left, right):  # a missing value fails every comparison, != included
                if isinstance(side, pd.Series):
                    got &= side.notna()
            out = out & got
        return out

    def _value(self, node: ast.AST, frame: pd.DataFrame) -> object:
        if isinstance(node, ast.Name):
            column = frame[node.id]
            if pd.api.types.is_numeric_dtype(column):
                return column.astype(float)
            return column
        return _literal(node)

    def __repr__(self) -> str:
        return f"Where({self.text!r})"


def _literal(node: ast.AST) -> float | str | None:
    """A number or string literal (leading signs allowed, at most MAX_DEPTH of them), else None (OverflowError
    beyond a float)."""
    sign, signs = 1.0, 0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        signs += 1
        if signs > MAX_DEPTH:
            raise WhereError(f"constraint nested too deeply; valid: at most {MAX_DEPTH} levels, {VALID}")
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        if isinstance(node.value, (int, float)):
            return sign * float(node.value)
        if isinstance(node.value, str) and not signs:
            return node.value
    return None


def _describe(node: ast.AST) -> str:
    try:
        return repr(ast.unparse(node))
    except Exception:
        return type(node).__name__


def _show(value: object) -> str:
    if isinstance(value, pd.Series):
        return f"column {value.name!r}"
    return repr(value)


def where(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """The rows of `frame` satisfying the constraint `text`."""
    return frame[Where(text).mask(frame)]
