"""A small evaluator of Terraform configurations, enough to hold infra/ to the code.

python-hcl2 parses each file (its raw Lark tree keeps every expression); this module turns
the tree into blocks and expression ASTs and evaluates them for given variables: variables
with defaults, locals, child modules (local paths, count), resources and data sources with
count, dynamic blocks, for expressions, templates and the functions infra/ uses. What only
AWS knows at apply time (ARNs, ids, data sources' attributes) stays a `Ref`, which prints as
the expression it stands for (`${aws_kinesis_stream.this[0].arn}`), so tests can still say
which resource a policy names. A reference to an instance that the given variables do not
create (`aws_x.y[0]` with count 0) is an error, as in Terraform.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree


class EvalError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Parsing: Lark tree -> blocks and expression ASTs
# ---------------------------------------------------------------------------------------------


@dataclass
class Body:
    attrs: dict[str, Any] = field(default_factory=dict)  # name -> AST
    blocks: list["Block"] = field(default_factory=list)


@dataclass
class Block:
    type: str
    labels: list[str]
    body: Body
    file: str = ""


def _children(t: Tree) -> list:
    """Children without comments/new lines."""
    return [
        c
        for c in t.children
        if not (isinstance(c, Tree) and c.data == "new_line_or_comment")
    ]


def _subtrees(t: Tree) -> list[Tree]:
    return [c for c in _children(t) if isinstance(c, Tree)]


def _name_of(t) -> str:
    """identifier / keyword / literal_value / string used as a name or label."""
    if isinstance(t, Token):
        return str(t)
    if t.data in ("identifier", "keyword", "literal_value"):
        return str(t.children[0])
    if t.data == "string":
        ast = _string(t)
        if ast[0] == "lit":
            return ast[1]
        raise EvalError(f"label with interpolation: {ast}")
    if t.data == "expr_term":
        return _name_of(_subtrees(t)[0])
    raise EvalError(f"not a name: {t.data}")


def _body(t: Tree, file: str) -> Body:
    body = Body()
    for c in _subtrees(t):
        if c.data == "attribute":
            parts = _children(c)
            name = _name_of(parts[0])
            body.attrs[name] = _expr(parts[-1])
        elif c.data == "block":
            parts = _children(c)
            inner = next(p for p in parts if isinstance(p, Tree) and p.data == "body")
            heads = [p for p in parts if isinstance(p, Tree) and p.data != "body"]
            names = [_name_of(h) for h in heads]
            body.blocks.append(Block(names[0], names[1:], _body(inner, file), file))
    return body


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(s: str) -> str:
    def sub(m):
        e = m.group(1)
        if e[0] == "u":
            return chr(int(e[1:], 16))
        return _ESCAPES.get(e, "\\" + e)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", sub, s)


def _string(t: Tree):
    parts: list = []
    for p in _children(t):
        if isinstance(p, Token):
            continue  # the quotes
        assert p.data == "string_part", p.data
        inner = p.children[0]
        if isinstance(inner, Token):
            if inner.type == "ESCAPED_INTERPOLATION":
                parts.append("${" + str(inner)[3:])
            elif inner.type == "ESCAPED_DIRECTIVE":
                parts.append("%{" + str(inner)[3:])
            else:
                parts.append(_unescape(str(inner)))
        elif inner.data == "interpolation":
            parts.append(_expr(_subtrees(inner)[0]))
        else:
            raise EvalError(f"template directives are not supported: {inner.data}")
    if all(isinstance(p, str) for p in parts):
        return ("lit", "".join(parts))
    return ("tpl", parts)


def _heredoc(tok: str, trim: bool):
    lines = tok.split("\n")
    text_lines = lines[1:-2] if lines[-1] == "" else lines[1:-1]
    if trim:
        indents = [len(x) - len(x.lstrip(" ")) for x in text_lines if x.strip()]
        cut = min(indents) if indents else 0
        text_lines = [x[cut:] for x in text_lines]
    text = "\n".join(text_lines) + "\n"
    if "${" in text:
        raise EvalError("heredocs with interpolation are not supported")
    return ("lit", text)


def _expr(t):
    if isinstance(t, Token):
        raise EvalError(f"unexpected token {t!r}")
    d = t.data
    kids = _subtrees(t)
    if d == "expr_term":
        toks = [c for c in _children(t) if isinstance(c, Token)]
        if toks and str(toks[0]) == "(":
            return _expr(kids[0])
        return _expr(kids[0])
    if d == "identifier":
        return ("name", str(t.children[0]))
    if d == "literal_value":
        return ("lit", {"true": True, "false": False, "null": None}[str(t.children[0])])
    if d == "int_lit":
        return ("lit", int(str(t.children[0])))
    if d == "float_lit":
        return ("lit", float(str(t.children[0])))
    if d == "string":
        return _string(t)
    if d == "heredoc_template":
        return _heredoc(str(t.children[0]), False)
    if d == "heredoc_template_trim":
        return _heredoc(str(t.children[0]), True)
    if d == "tuple":
        return ("tuple", [_expr(k) for k in kids])
    if d == "object":
        elems = []
        for e in kids:
            key_t, val_t = [c for c in _subtrees(e)]
            key_inner = _subtrees(key_t)[0]
            if key_inner.data == "keyword":
                key = ("lit", _name_of(key_inner))
            else:
                k = _expr(key_inner)
                # A bare identifier as a key is its name; (expr) or a string is evaluated.
                is_paren = isinstance(key_inner, Tree) and any(
                    isinstance(c, Token) and str(c) == "(" for c in key_inner.children
                )
                key = ("lit", k[1]) if k[0] == "name" and not is_paren else k
            elems.append((key, _expr(val_t)))
        return ("object", elems)
    if d == "conditional":
        c, a, b = kids
        return ("cond", _expr(c), _expr(a), _expr(b))
    if d == "binary_op":
        left, term = kids
        op_t, right = _subtrees(term)
        return ("binop", str(op_t.children[0]), _expr(left), _expr(right))
    if d == "unary_op":
        op = str(t.children[0])
        return ("unop", op, _expr(kids[0]))
    if d == "function_call":
        name = _name_of(kids[0])
        args_t = [k for k in kids if k.data == "arguments"]
        args, expand = [], False
        if args_t:
            args = [_expr(a) for a in _subtrees(args_t[0])]
            expand = any(isinstance(c, Token) and str(c) == "..." for c in args_t[0].children)
        return ("call", name, args, expand)
    if d == "get_attr_expr_term":
        base, ga = kids
        return ("attr", _expr(base), _name_of(_subtrees(ga)[0]))
    if d == "index_expr_term":
        base, idx = kids
        if idx.data == "short_index":
            return ("index", _expr(base), ("lit", int(str(idx.children[-1]))))
        return ("index", _expr(base), _expr(_subtrees(idx)[0]))
    if d in ("attr_splat_expr_term", "full_splat_expr_term"):
        base, splat = kids
        steps = []
        for s in _subtrees(splat):
            if s.data == "get_attr":
                steps.append(("attr", _name_of(_subtrees(s)[0])))
            elif s.data == "short_index":
                steps.append(("index", ("lit", int(str(s.children[-1])))))
            else:
                steps.append(("index", _expr(_subtrees(s)[0])))
        return ("splat", _expr(base), steps)
    if d in ("for_tuple_expr", "for_object_expr"):
        intro = next(k for k in kids if k.data == "for_intro")
        names = [str(c.children[0]) for c in _subtrees(intro) if c.data == "identifier"]
        coll = _expr([c for c in _subtrees(intro) if c.data != "identifier"][0])
        cond_t = [k for k in kids if k.data == "for_cond"]
        cond = _expr(_subtrees(cond_t[0])[0]) if cond_t else None
        exprs = [k for k in kids if k.data not in ("for_intro", "for_cond")]
        kname, vname = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        if d == "for_tuple_expr":
            return ("for_tuple", kname, vname, coll, _expr(exprs[0]), cond)
        group = any(isinstance(c, Token) and str(c) == "..." for c in t.children)
        return ("for_object", kname, vname, coll, _expr(exprs[0]), _expr(exprs[1]), cond, group)
    raise EvalError(f"unsupported expression node {d}")


def parse_file(path: Path, text: str | None = None) -> list[Block]:
    text = path.read_text() if text is None else text
    tree = hcl2.parses_to_tree(text if text.endswith("\n") else text + "\n")
    body = _body(_subtrees(tree)[0], str(path))
    return body.blocks


def _json_to_ast(v):
    if isinstance(v, dict):
        return ("object", [(("lit", k), _json_to_ast(x)) for k, x in v.items() if k != "//"])
    if isinstance(v, list):
        return ("tuple", [_json_to_ast(x) for x in v])
    return ("lit", v)


def parse_json_file(path: Path, text: str | None = None) -> list[Block]:
    """Terraform JSON syntax, enough for outputs and locals of literal values."""
    doc = json.loads(path.read_text() if text is None else text)
    blocks = []
    for name, out in doc.get("output", {}).items():
        blocks.append(
            Block("output", [name], Body({k: _json_to_ast(v) for k, v in out.items()}), str(path))
        )
    for loc in [doc["locals"]] if isinstance(doc.get("locals"), dict) else doc.get("locals", []):
        blocks.append(
            Block("locals", [], Body({k: _json_to_ast(v) for k, v in loc.items()}), str(path))
        )
    return blocks


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------


class ModuleSource:
    """The blocks of one module directory."""

    def __init__(self, directory: Path, overrides: dict[str, str] | None = None):
        self.dir = directory
        overrides = overrides or {}
        self.blocks: list[Block] = []
        for p in sorted(directory.iterdir()):
            text = overrides.get(str(p.resolve()))
            if p.name.endswith(".tf.json"):
                self.blocks += parse_json_file(p, text)
            elif p.suffix == ".tf":
                self.blocks += parse_file(p, text)
        self.variables = {b.labels[0]: b for b in self.blocks if b.type == "variable"}
        self.outputs = {b.labels[0]: b for b in self.blocks if b.type == "output"}
        self.locals: dict[str, Any] = {}
        for b in self.blocks:
            if b.type == "locals":
                for k, v in b.body.attrs.items():
                    if k in self.locals:
                        raise EvalError(f"local {k} defined twice in {directory}")
                    self.locals[k] = v
        self.resources = {
            (b.labels[0], b.labels[1]): b for b in self.blocks if b.type == "resource"
        }
        self.data = {(b.labels[0], b.labels[1]): b for b in self.blocks if b.type == "data"}
        self.modules = {b.labels[0]: b for b in self.blocks if b.type == "module"}


@dataclass(frozen=True)
class Ref:
    """A value only known after apply: the expression text it stands for."""

    text: str

    def __str__(self):
        return "${" + self.text + "}"


@dataclass
class Instance:
    """One instance of a resource or data block, its body evaluated lazily."""

    module: "Module"
    block: Block
    kind: str  # resource | data
    index: Any  # None, an int (count) or a key (for_each)

    @property
    def address(self) -> str:
        pre = "data." if self.kind == "data" else ""
        mod = f"{self.module.name}." if self.module.name else ""
        a = f"{mod}{pre}{self.block.labels[0]}.{self.block.labels[1]}"
        if self.index is not None:
            a += f"[{json.dumps(self.index)}]"
        return a

    def scope(self) -> dict:
        if isinstance(self.index, int):
            return {"count": {"index": self.index}}
        if self.index is not None:  # for_each: each.key and each.value
            fe = self.module.eval(self.block.body.attrs["for_each"], {})
            value = fe[self.index] if isinstance(fe, dict) else self.index
            return {"each": {"key": self.index, "value": value}}
        return {}

    def attr(self, name: str):
        if name in self.block.body.attrs:
            return self.module.eval(self.block.body.attrs[name], self.scope())
        return Ref(f"{self.address}.{name}")

    def body(self) -> dict:
        """Attributes and nested blocks (dynamic blocks expanded) as plain values: what is
        known only after apply as its `${...}` text."""
        return plain(self.module.eval_body(self.block.body, self.scope()))


class Module:
    """A module instance: its source evaluated for given input variables."""

    def __init__(self, source: ModuleSource, inputs: dict[str, Any], name: str = "",
                 module_overrides: dict[str, ModuleSource] | None = None):
        self.src = source
        self.name = name
        self.module_overrides = module_overrides or {}
        self.vars: dict[str, Any] = {}
        for k in inputs:
            if k not in source.variables:
                raise EvalError(f"{name}: no variable {k}")
        for k, b in source.variables.items():
            if k in inputs:
                self.vars[k] = inputs[k]
            elif "default" in b.body.attrs:
                self.vars[k] = self.eval(b.body.attrs["default"], {}, allow_vars=False)
            else:
                raise EvalError(f"{name}: variable {k} has no value")
        self._locals: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self._children: dict[str, Any] = {}

    # -- references -----------------------------------------------------------------------

    def local(self, k: str):
        if k not in self._locals:
            if k not in self.src.locals:
                raise EvalError(f"{self.name}: no local {k}")
            if k in self._evaluating:
                raise EvalError(f"{self.name}: local {k} refers to itself")
            self._evaluating.add(k)
            self._locals[k] = self.eval(self.src.locals[k], {})
            self._evaluating.discard(k)
        return self._locals[k]

    def count_of(self, block: Block):
        """None (single), a list of indices (count) or of keys (for_each)."""
        if "count" in block.body.attrs:
            n = self.eval(block.body.attrs["count"], {})
            if not isinstance(n, int):
                raise EvalError(f"count of {block.labels} is not known: {n}")
            return list(range(n))
        if "for_each" in block.body.attrs:
            fe = self.eval(block.body.attrs["for_each"], {})
            if isinstance(fe, dict):
                return list(fe.keys())
            return list(fe)
        return None

    def instances(self, kind: str, type_: str, name: str) -> list[Instance]:
        table = self.src.resources if kind == "resource" else self.src.data
        b = table.get((type_, name))
        if b is None:
            raise EvalError(f"{self.name}: no {kind} {type_}.{name}")
        idx = self.count_of(b)
        if idx is None:
            return [Instance(self, b, kind, None)]
        return [Instance(self, b, kind, i) for i in idx]

    def child(self, name: str):
        """A child module's outputs (a list of them for a module with count)."""
        if name not in self._children:
            blk = self.src.modules.get(name)
            if blk is None:
                raise EvalError(f"{self.name}: no module {name}")
            self._children[name] = [self.child_module(name, i) for i in (self.count_of(blk) or [None])]
            if self.count_of(blk) is None:
                self._children[name] = self._children[name][0]
        c = self._children[name]
        if isinstance(c, list):
            return [m.outputs() for m in c]
        return c.outputs()

    def child_module(self, name: str, index=None) -> "Module":
        blk = self.src.modules[name]
        source = self.eval(blk.body.attrs["source"], {})
        scope = {"count": {"index": index}} if isinstance(index, int) else {}
        meta = {"source", "count", "for_each", "depends_on", "providers", "version"}
        inputs = {k: self.eval(v, scope) for k, v in blk.body.attrs.items() if k not in meta}
        src = self.module_overrides.get(source) or ModuleSource((self.src.dir / source).resolve())
        mod = f"{self.name}." if self.name else ""
        idx = f"[{index}]" if index is not None else ""
        return Module(src, inputs, f"{mod}module.{name}{idx}", self.module_overrides)

    def child_instances(self, name: str) -> list["Module"]:
        blk = self.src.modules[name]
        idx = self.count_of(blk)
        return [self.child_module(name, i) for i in (idx if idx is not None else [None])]

    def outputs(self) -> dict:
        return {k: _Lazy(self, b.body.attrs["value"]) for k, b in self.src.outputs.items()}

    # -- evaluation -----------------------------------------------------------------------

    def eval(self, ast, scope: dict, allow_vars: bool = True):
        v = self._eval(ast, scope, allow_vars)
        return _force(v)

    def _eval(self, ast, scope, allow_vars=True):
        k = ast[0]
        if k == "lit":
            return ast[1]
        if k == "tpl":
            out = []
            for p in ast[1]:
                out.append(p if isinstance(p, str) else _to_str(self.eval(p, scope)))
            return "".join(out)
        if k == "tuple":
            return [self.eval(e, scope) for e in ast[1]]
        if k == "object":
            return {_to_str(self.eval(kk, scope)): self.eval(v, scope) for kk, v in ast[1]}
        if k == "cond":
            c = self.eval(ast[1], scope)
            if not isinstance(c, bool):
                raise EvalError(f"condition is not a known bool: {c!r}")
            return self.eval(ast[2] if c else ast[3], scope)
        if k == "binop":
            return _binop(ast[1], self.eval(ast[2], scope), self.eval(ast[3], scope))
        if k == "unop":
            v = self.eval(ast[2], scope)
            if ast[1] == "!":
                if not isinstance(v, bool):
                    raise EvalError(f"! of {v!r}")
                return not v
            return -v
        if k == "call" and ast[1] == "try":
            # The first argument that evaluates (a reference to an instance these variables do
            # not create does not), as Terraform's try().
            for a in ast[2]:
                try:
                    return self.eval(a, scope)
                except EvalError:
                    continue
            raise EvalError("try(): no argument evaluates")
        if k == "call":
            args = [self.eval(a, scope) for a in ast[2]]
            if ast[3]:
                args = args[:-1] + list(args[-1])
            return call(ast[1], args)
        if k == "for_tuple":
            _, kn, vn, coll, body, cond = ast
            out = []
            for kk, vv in _items(self.eval(coll, scope)):
                s = dict(scope, **{vn: vv}, **({kn: kk} if kn else {}))
                if cond is None or self.eval(cond, s) is True:
                    out.append(self.eval(body, s))
            return out
        if k == "for_object":
            _, kn, vn, coll, kexpr, vexpr, cond, group = ast
            out: dict = {}
            for kk, vv in _items(self.eval(coll, scope)):
                s = dict(scope, **{vn: vv}, **({kn: kk} if kn else {}))
                if cond is None or self.eval(cond, s) is True:
                    key = _to_str(self.eval(kexpr, s))
                    val = self.eval(vexpr, s)
                    if group:
                        out.setdefault(key, []).append(val)
                    else:
                        out[key] = val
            return out
        if k == "splat":
            base = self.eval(ast[1], scope)
            if isinstance(base, Ref):
                return Ref(f"{base.text}[*]")
            items = base if isinstance(base, list) else ([] if base is None else [base])
            out = []
            for it in items:
                for step in ast[2]:
                    it = _access(it, step[0], step[1] if step[0] == "attr" else self.eval(step[1], scope))
                out.append(it)
            return out
        if k in ("name", "attr", "index"):
            return self._reference(ast, scope, allow_vars)
        raise EvalError(f"cannot evaluate {k}")

    def _reference(self, ast, scope, allow_vars):
        chain = []
        node = ast
        while node[0] in ("attr", "index"):
            chain.append(node)
            node = node[1]
        chain.reverse()
        root = node
        if root[0] != "name":
            value = self.eval(root, scope)
            return self._apply(value, chain, scope)
        r = root[1]
        steps = [(c[0], c[2] if c[0] == "attr" else self.eval(c[2], scope)) for c in chain]
        if r in scope:
            return self._apply_steps(scope[r], steps)
        if r == "var":
            if not allow_vars:
                raise EvalError("a variable default cannot refer to variables")
            name = steps[0][1]
            if name not in self.vars:
                raise EvalError(f"{self.name}: no variable {name}")
            return self._apply_steps(self.vars[name], steps[1:])
        if r == "local":
            return self._apply_steps(self.local(steps[0][1]), steps[1:])
        if r == "module":
            return self._apply_steps(self.child(steps[0][1]), steps[1:])
        if r == "path":
            if steps[0][1] in ("module", "root", "cwd"):
                return self._apply_steps(str(self.src.dir), steps[1:])
        if r == "data":
            return self._instance_ref("data", steps[0][1], steps[1][1], steps[2:])
        if r in ("count", "each", "self", "terraform"):
            raise EvalError(f"{r} is not available here")
        if "_" in r and steps and steps[0][0] == "attr":
            return self._instance_ref("resource", r, steps[0][1], steps[1:])
        raise EvalError(f"{self.name}: unknown name {r}")

    def _instance_ref(self, kind, type_, name, steps):
        insts = self.instances(kind, type_, name)
        table = self.src.resources if kind == "resource" else self.src.data
        counted = self.count_of(table[(type_, name)]) is not None
        if counted:
            if not steps or steps[0][0] != "index":
                return [_InstanceValue(i) for i in insts]
            idx = steps[0][1]
            match = [i for i in insts if i.index == idx]
            if not match:
                raise EvalError(
                    f"{self.name}: {kind} {type_}.{name}[{idx!r}] is not created with these variables"
                )
            return self._apply_steps(_InstanceValue(match[0]), steps[1:])
        return self._apply_steps(_InstanceValue(insts[0]), steps)

    def _apply(self, value, chain, scope):
        steps = [(c[0], c[2] if c[0] == "attr" else self.eval(c[2], scope)) for c in chain]
        return self._apply_steps(value, steps)

    def _apply_steps(self, value, steps):
        for kind, key in steps:
            value = _access(value, kind, key)
        return value

    def eval_body(self, body: Body, scope: dict) -> dict:
        out: dict = {}
        for k, v in body.attrs.items():
            if k in ("count", "for_each", "depends_on", "lifecycle", "provider"):
                continue
            out[k] = self.eval(v, scope)
        for b in body.blocks:
            if b.type == "dynamic":
                name = b.labels[0]
                it = name
                if "iterator" in b.body.attrs:
                    it = b.body.attrs["iterator"][1]
                coll = self.eval(b.body.attrs["for_each"], scope)
                content = next(x for x in b.body.blocks if x.type == "content")
                for kk, vv in _items(coll):
                    s = dict(scope, **{it: {"key": kk, "value": vv}})
                    out.setdefault(name, []).append(self.eval_body(content.body, s))
            elif b.type == "lifecycle":
                continue
            else:
                out.setdefault(b.type, []).append(self.eval_body(b.body, scope))
        return out


class _Lazy:
    """A module output evaluated when used (outputs may refer to absent instances)."""

    def __init__(self, module: Module, ast):
        self.module, self.ast = module, ast

    def force(self):
        return self.module.eval(self.ast, {})


class _InstanceValue:
    def __init__(self, inst: Instance):
        self.inst = inst


def _force(v):
    while isinstance(v, _Lazy):
        v = v.force()
    if isinstance(v, _InstanceValue):
        return Ref(v.inst.address)
    return v


def plain(v):
    v = _force(v)
    if isinstance(v, Ref):
        return str(v)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def _access(value, kind, key):
    value = value.force() if isinstance(value, _Lazy) else value
    if isinstance(value, _InstanceValue):
        if kind == "attr":
            return value.inst.attr(key)
        raise EvalError(f"cannot index {value.inst.address}")
    if isinstance(value, Ref):
        return Ref(f"{value.text}.{key}" if kind == "attr" else f"{value.text}[{json.dumps(key)}]")
    if isinstance(value, dict):
        k = key if kind == "attr" else _to_str(key)
        if k not in value:
            raise EvalError(f"no key {k!r} in {sorted(value)}")
        return _force(value[k])
    if isinstance(value, list):
        if kind == "attr":
            raise EvalError(f"attribute {key} of a list")
        if not isinstance(key, int) or key >= len(value):
            raise EvalError(f"index {key!r} out of range ({len(value)})")
        return _force(value[key])
    raise EvalError(f"cannot access {key!r} of {value!r}")


def _items(coll):
    coll = _force(coll)
    if isinstance(coll, dict):
        return list(coll.items())
    if isinstance(coll, (list, set, tuple)):
        return [(v, v) if isinstance(coll, set) else (i, v) for i, v in enumerate(coll)]
    raise EvalError(f"cannot iterate {coll!r}")


def _to_str(v) -> str:
    v = _force(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (str, int, float, Ref)):
        return str(v)
    raise EvalError(f"not a string: {v!r}")


def _binop(op, a, b):
    if op in ("==", "!="):
        if isinstance(a, Ref) or isinstance(b, Ref):
            raise EvalError(f"comparison with a value known only after apply: {a} {op} {b}")
        eq = a == b
        return eq if op == "==" else not eq
    if op in ("&&", "||"):
        if not isinstance(a, bool) or not isinstance(b, bool):
            raise EvalError(f"{op} of {a!r}, {b!r}")
        return (a and b) if op == "&&" else (a or b)
    if any(isinstance(x, Ref) for x in (a, b)):
        raise EvalError(f"arithmetic with a value known only after apply: {a} {op} {b}")
    return {
        "<": lambda: a < b, ">": lambda: a > b, "<=": lambda: a <= b, ">=": lambda: a >= b,
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
        "/": lambda: a / b, "%": lambda: a % b,
    }[op]()


def call(name: str, args: list):
    args = [_force(a) for a in args]
    if name == "merge":
        out: dict = {}
        for a in args:
            if a is None:
                continue
            out.update(a)
        return out
    if name == "concat":
        return [x for a in args for x in a]
    if name in ("tostring",):
        return None if args[0] is None else _to_str(args[0])
    if name == "tonumber":
        return args[0] if isinstance(args[0], (int, float)) else float(args[0])
    if name in ("min", "max"):
        return (min if name == "min" else max)(args)
    if name == "length":
        return len(args[0])
    if name == "keys":
        return sorted(args[0].keys())
    if name == "values":
        return [args[0][k] for k in sorted(args[0])]
    if name == "lookup":
        return args[0].get(args[1], args[2] if len(args) > 2 else None)
    if name == "contains":
        return args[1] in args[0]
    if name == "join":
        return args[0].join(_to_str(x) for x in args[1])
    if name == "lower":
        return args[0].lower()
    if name == "upper":
        return args[0].upper()
    if name == "replace":
        return args[0].replace(args[1], args[2])
    if name == "compact":
        return [x for x in args[0] if x not in (None, "")]
    if name == "flatten":
        out = []
        for x in args[0]:
            out.extend(call("flatten", [x]) if isinstance(x, list) else [x])
        return out
    if name == "distinct":
        out = []
        for x in args[0]:
            if x not in out:
                out.append(x)
        return out
    if name == "coalescelist":
        return next((a for a in args if a), [])
    if name == "sort":
        return sorted(args[0])
    if name == "coalesce":
        return next(a for a in args if a not in (None, ""))
    if name in ("toset", "tolist"):
        return list(args[0])
    if name in ("tomap", "nonsensitive", "sensitive"):
        return args[0]
    if name == "can":
        return True
    if name == "regex":
        m = re.search(args[0], args[1])
        if not m:
            raise EvalError(f"regex {args[0]} does not match {args[1]}")
        # As Terraform: the match without groups, else the named groups (a map) or the groups (a list).
        if m.groupdict():
            return m.groupdict()
        return list(m.groups()) if m.groups() else m.group(0)
    if name == "format":
        fmt = args[0].replace("%s", "{}").replace("%d", "{}")
        return fmt.format(*[_to_str(a) for a in args[1:]])
    if name in ("file", "filebase64sha256", "filemd5", "filesha256", "templatefile"):
        # templatefile: rendered and checked by test_workflow.py, opaque here.
        return Ref(f"{name}({json.dumps(_to_str(args[0]))})")
    if name == "jsonencode":
        return json.dumps(args[0], default=str, sort_keys=True)
    raise EvalError(f"function {name} is not supported by the test evaluator")


def load(root: Path, variables: dict | None = None, overrides: dict[str, str] | None = None,
         module_overrides: dict[str, ModuleSource] | None = None) -> Module:
    """The root module at `root` for `variables`; `overrides` replace file texts (by absolute
    path) and `module_overrides` whole child module sources (by their `source` string)."""
    src = ModuleSource(root.resolve(), overrides)
    if overrides:
        # Child module directories read the overrides too.
        mo = dict(module_overrides or {})
        for b in src.modules.values():
            s = b.body.attrs["source"][1]
            if s not in mo:
                mo[s] = ModuleSource((root / s).resolve(), overrides)
        module_overrides = mo
    return Module(src, variables or {}, "", module_overrides)
