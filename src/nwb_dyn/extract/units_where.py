"""``--units-where EXPR``: select Units rows by their columns with a small, safe expression language.

Grammar: comparisons ``COLUMN OP VALUE`` (``==  !=  <  <=  >  >=``, chains such as ``0.5 < snr < 3``),
``COLUMN in [V, ...]`` / ``not in``, a bare boolean column, joined by ``and`` / ``or`` / ``not`` and parentheses;
``id`` names the table's row ids.
Values are numbers, strings or true/false literals. The text is parsed into Python's syntax tree and only the nodes above
are interpreted — nothing is ever evaluated as code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from hdmf.common import DynamicTable

from nwb_dyn.errors import ConfigError, ExtractionError

_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_HELP = "write COLUMN OP VALUE (==, !=, <, <=, >, >=, in [..]) joined by and/or/not, e.g. \"quality == 'good'\""


class _UnitsExpression:
    """Evaluates one parsed expression against the columns of a Units table (read lazily, once each)."""

    def __init__(self, table: DynamicTable, expression: str, label: str) -> None:
        self.table = table
        self.expression = expression
        self.label = label
        self.columns: dict[str, np.ndarray] = {}

    def _unsupported(self, node: ast.AST) -> ConfigError:
        return ConfigError(f"--units-where '{self.expression}': '{ast.unparse(node)}' is not supported; {_HELP}")

    def column(self, name: str) -> np.ndarray:
        if name == "id" and "id" not in self.table.colnames:
            return np.asarray(self.table.id[:])
        if name not in self.columns:
            if name not in self.table.colnames:
                raise ExtractionError(
                    f"{self.label}: --units-where '{self.expression}': the Units table has no column '{name}'; "
                    f"columns are {', '.join(self.table.colnames)}"
                )
            column = self.table[name]
            if hasattr(column, "target"):
                raise ExtractionError(
                    f"{self.label}: --units-where: Units column '{name}' is ragged (several values per unit) "
                    "and cannot be compared"
                )
            values = np.asarray(column.data[:])
            if values.ndim != 1:
                raise ExtractionError(f"{self.label}: --units-where: Units column '{name}' is not one value per unit")
            if values.dtype.kind in "SO":
                values = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])
            self.columns[name] = values
        return self.columns[name]

    def literal(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)):
            return node.value
        if isinstance(node, ast.Name) and node.id in ("true", "false"):
            return node.id == "true"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self.literal(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
        raise self._unsupported(node)

    def operand(self, node: ast.AST) -> tuple[Any, bool]:
        """(value, is_column)."""
        if isinstance(node, ast.Name) and node.id not in ("true", "false"):
            return self.column(node.id), True
        return self.literal(node), False

    def compare(self, left: ast.AST, op: ast.cmpop, right: ast.AST) -> np.ndarray:
        if isinstance(op, (ast.In, ast.NotIn)):
            values, is_column = self.operand(left)
            if not is_column or not isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                raise self._unsupported(right)
            options = [self.literal(element) for element in right.elts]
            for option in options:
                self._check_types(values, option, left)
            inside = np.isin(values, options)
            return inside if isinstance(op, ast.In) else ~inside
        if type(op) not in _COMPARISONS:
            raise self._unsupported(op)
        (a, a_column), (b, b_column) = self.operand(left), self.operand(right)
        if not (a_column or b_column):
            raise self._unsupported(left)
        column_node = left if a_column else right
        self._check_types(a if a_column else b, b if a_column else a, column_node)
        return np.asarray(_COMPARISONS[type(op)](a, b), dtype=bool)

    def _check_types(self, column: np.ndarray, value: Any, node: ast.AST) -> None:
        text_column = column.dtype.kind in "U"
        if text_column != isinstance(value, str) and not isinstance(value, np.ndarray):
            kind = "text" if text_column else "numbers"
            raise ConfigError(
                f"--units-where '{self.expression}': column '{ast.unparse(node)}' holds {kind}; compare it with "
                f"{'a quoted string' if text_column else 'a number'}, not {value!r}"
            )

    def evaluate(self, node: ast.AST) -> np.ndarray:
        if isinstance(node, ast.BoolOp):
            parts = [self.evaluate(value) for value in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            result = parts[0]
            for part in parts[1:]:
                result = combine(result, part)
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.evaluate(node.operand)
        if isinstance(node, ast.Compare):
            result = np.ones(len(self.table), dtype=bool)
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                result &= self.compare(left, op, right)
                left = right
            return result
        if isinstance(node, ast.Name) and node.id not in ("true", "false"):
            values = self.column(node.id)
            if values.dtype.kind != "b":
                raise ConfigError(
                    f"--units-where '{self.expression}': column '{node.id}' is not true/false; compare it with a value"
                )
            return values.astype(bool)
        raise self._unsupported(node)


def select_units(table: DynamicTable, expression: str, label: str) -> np.ndarray:
    """(D,) bool: which rows of the Units ``table`` satisfy ``expression`` (see the module docstring)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ConfigError(f"--units-where '{expression}' is not a valid expression; {_HELP}") from None
    selected = _UnitsExpression(table, expression, label).evaluate(tree.body)
    return np.broadcast_to(selected, (len(table),)).copy()
