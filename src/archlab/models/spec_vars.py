"""Architecture families: named variables, expressions, optional layers and compound scaling.

An architecture file may declare ``vars`` with defaults and use them anywhere in its layers::

    vars: {width: 16, depth: 2, k: 3, block: basic, attention: none, pool_at: 2}
    layers:
      - {op: conv, out: $width, k: $k, pad: 1}
      - {op: block, type: $block, out: "${width * 2}", stride: 2, attention: $attention, repeat: $depth}
      - {op: maxpool, k: 2, when: "${pool_at == 2}"}

``$name`` is the variable's value; ``${expression}`` evaluates arithmetic (``+ - * / // % **``,
comparisons, ``and``/``or``/``not``, ``min``, ``max``, ``round``, ``int``) over the variables.
``when`` keeps a layer only where it is true; ``repeat`` may be a variable (0 drops the layer),
and a repeated layer's ``stride`` applies to its first copy only, as in a ResNet or EfficientNet
stage. ``archlab.create_model(FILE, width=24)`` overrides a variable; a name that is not a
variable, a reference to an undeclared one, or a variable nothing uses is a one-line error.

Compound scaling (EfficientNet, seed 004): ``depth_mult`` multiplies every ``repeat`` (rounded up),
``width_mult`` every ``out`` (rounded, at least 1; the classifier's ``num_classes`` stays), and
``resolution_mult`` the input height and width.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from typing import Any

from archlab._registry import closest

SCALE_KEYS = ("depth_mult", "width_mult", "resolution_mult")
_REF = re.compile(r"^\$([A-Za-z_]\w*)$")
_EXPR = re.compile(r"^\$\{(.+)\}$")
_FUNCS = {"min": min, "max": max, "round": round, "int": int, "ceil": math.ceil, "floor": math.floor}
_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_CMPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}  # fmt: skip


def _fail(message: str) -> ValueError:
    return ValueError(f"architecture spec: {message}")


def evaluate(text: str, variables: dict[str, Any], where: str, used: set[str]) -> Any:
    """The value of ``${text}`` over ``variables`` (arithmetic, comparisons, a few functions)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise _fail(f"{where}: cannot read the expression {text!r}") from None

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.Name):
            return _lookup(node.id, variables, where, used)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else (+v if isinstance(node.op, ast.UAdd) else not v)
        if isinstance(node, ast.BoolOp):
            values = [ev(v) for v in node.values]
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.Compare) and all(type(o) in _CMPS for o in node.ops):
            left, ok = ev(node.left), True
            for op, right in zip(node.ops, node.comparators):
                right = ev(right)
                ok = ok and _CMPS[type(op)](left, right)
                left = right
            return ok
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            return _FUNCS[node.func.id](*(ev(a) for a in node.args))
        raise _fail(
            f"{where}: {ast.unparse(node)!r} is not allowed in an expression (arithmetic over variables only)"
        )

    try:
        return ev(tree)
    except (TypeError, ZeroDivisionError) as exc:
        raise _fail(f"{where}: {text!r} fails: {exc}") from None


def _lookup(name: str, variables: dict[str, Any], where: str, used: set[str]) -> Any:
    if name not in variables:
        near = closest(name, list(variables), n=1)
        hint = (
            f"did you mean ${near[0]}?"
            if near
            else f"declare it under vars: (declared: {', '.join(variables) or 'none'})"
        )
        raise _fail(f"{where}: ${name} is not a variable; {hint}")
    used.add(name)
    return variables[name]


def _substitute(value: Any, variables: dict[str, Any], where: str, used: set[str]) -> Any:
    if isinstance(value, str):
        if m := _REF.match(value):
            return _lookup(m.group(1), variables, where, used)
        if m := _EXPR.match(value):
            return evaluate(m.group(1), variables, where, used)
        return value
    if isinstance(value, list):
        return [_substitute(v, variables, where, used) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables, where, used) for k, v in value.items()}
    return value


def resolve(spec: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The spec with its variables (defaults, then ``overrides``) substituted and optional layers resolved."""
    overrides = dict(overrides or {})
    scale = {k: float(overrides.pop(k)) for k in SCALE_KEYS if k in overrides}
    variables = dict(spec.get("vars") or {})
    if not isinstance(variables, dict):
        raise _fail("vars must map names to default values")
    for key in overrides:
        if key not in variables:
            near = closest(key, list(variables), n=1)
            hint = (
                f"did you mean {near[0]!r}?"
                if near
                else f"its variables are {', '.join(variables) or 'none'}"
            )
            raise ValueError(f"architecture {spec.get('name', 'file')!r} has no variable {key!r}; {hint}")
    variables.update(overrides)
    used: set[str] = set()
    layers = []
    for i, raw in enumerate(spec.get("layers") or []):
        if not isinstance(raw, dict):
            layers.append(raw)
            continue
        where = f"layer {i} ({raw.get('name', raw.get('op', '?'))})"
        layer = _substitute(raw, variables, where, used)
        keep = layer.pop("when", True)
        if not isinstance(keep, bool):
            raise _fail(f"{where}: when must be true or false, got {keep!r}")
        if keep and int(layer.get("repeat", 1)) > 0:
            layers.append(layer)
    unused = [v for v in variables if v not in used]
    if unused:
        raise _fail(
            f"variable {unused[0]!r} is declared but no layer uses it; use it as ${unused[0]} or remove it"
        )
    out = {k: v for k, v in spec.items() if k != "vars"}
    out["layers"] = layers
    return apply_scale(out, **scale) if scale else out


def apply_scale(
    spec: dict[str, Any], depth_mult: float = 1.0, width_mult: float = 1.0, resolution_mult: float = 1.0
) -> dict[str, Any]:
    """EfficientNet's compound scaling of a resolved spec: repeats × depth, outs × width, H and W × resolution."""
    if min(depth_mult, width_mult, resolution_mult) <= 0:
        raise _fail("scaling multipliers must be positive")
    layers = []
    for layer in spec["layers"]:
        layer = dict(layer)
        if "repeat" in layer and depth_mult != 1.0:
            layer["repeat"] = max(1, math.ceil(int(layer["repeat"]) * depth_mult))
        if isinstance(layer.get("out"), (int, float)) and width_mult != 1.0:
            layer["out"] = max(1, int(round(layer["out"] * width_mult)))
        layers.append(layer)
    out = dict(spec, layers=layers)
    if resolution_mult != 1.0 and "input_size" in spec:
        c, h, w = spec["input_size"]
        out["input_size"] = [c, int(round(h * resolution_mult)), int(round(w * resolution_mult))]
    return out
