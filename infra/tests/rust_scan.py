"""What a firelake binary does, read from its Rust sources: the environment variables it reads
and the AWS API actions it calls. infra/tests hold each Lambda's environment and role to this.

How it works (a deliberate over-approximation of what can run, never an under-approximation
of what the code names):

1. `cargo metadata` gives each binary's crate, the workspace crates it links (normal
   dependencies) and where the AWS SDK crates' sources are.
2. Each source file is tokenized (comments dropped, `#[cfg(test)]` items dropped) and its
   items, `use` imports and module declarations indexed, so a path in the code (`Lake::from_url`,
   `firelake_aws::secrets::resolve`, an imported `KinesisPublisher`) resolves to the file that
   defines it, following `pub use` re-exports. Starting at the binary's main.rs, every file a
   reachable file names is reachable. Files the deployment rules out can be excluded (the
   publishers of other `--to` schemes; the secret resolver when the source names no `auth_env`).
3. AWS calls live in the files at the I/O edge. Per function there:
   * SDK fluent calls: `.op_name()` where `op_name` is an operation of an `aws_sdk_<service>`
     crate the file uses (the list comes from the crate's `src/operation/` folders), giving
     IAM action `<service>:<OpName>` (put_records -> kinesis:PutRecords);
   * object_store calls on a `store`: mapped to S3 actions by OBJECT_STORE_ACTIONS below;
   plus whatever the file's other functions it calls do. A binary performs a function's
   actions when any reachable file calls that function's name.
4. Environment variables: every `"FIRELAKE_*"` string literal in reachable code is one the
   binary may read; it is required when it is a clap `env` of a field that is neither
   `Option`, `bool` nor `Vec` and has no default, or when its lookup is followed by `?`.
   `RUST_LOG` is read where tracing's `EnvFilter::from_default_env` is.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# object_store method (called on a `store`) -> S3 actions. A GET of a key that may not exist
# needs s3:ListBucket too: without it S3 answers 403 instead of 404, and the Lake turns only
# 404 into "absent". Multipart uploads (BufWriter) need AbortMultipartUpload to clean up.
OBJECT_STORE_ACTIONS = {
    "put": {"s3:PutObject"},
    "put_opts": {"s3:PutObject"},
    "put_multipart": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "put_multipart_opts": {"s3:PutObject", "s3:AbortMultipartUpload"},
    "get": {"s3:GetObject", "s3:ListBucket"},
    "get_opts": {"s3:GetObject", "s3:ListBucket"},
    "get_range": {"s3:GetObject"},
    "get_ranges": {"s3:GetObject"},
    "head": {"s3:GetObject", "s3:ListBucket"},
    "list": {"s3:ListBucket"},
    "list_with_delimiter": {"s3:ListBucket"},
    "list_with_offset": {"s3:ListBucket"},
    "delete": {"s3:DeleteObject"},
    "delete_stream": {"s3:DeleteObject"},
    "copy": {"s3:GetObject", "s3:PutObject"},
    "copy_if_not_exists": {"s3:GetObject", "s3:PutObject"},
    "rename": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
    "rename_if_not_exists": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
}
# object_store's BufWriter uploads in parts once its buffer fills.
BUFWRITER_ACTIONS = {"s3:PutObject", "s3:AbortMultipartUpload"}

KEYWORDS = {
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use",
    "where", "while", "Self", "union",
}

# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<raw_string>b?r(?P<hashes>\#*)")
  | (?P<string>b?")
  | (?P<char>b?'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])')
  | (?P<lifetime>'[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>r\#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<path_sep>::)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass
class Tok:
    kind: str  # ident, string, punct, number, char, lifetime
    text: str  # identifier / punctuation / the string's content
    line: int


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n, line = 0, len(src), 1
    while i < n:
        m = _TOKEN.match(src, i)
        kind = m.lastgroup if m.lastgroup != "hashes" else "raw_string"
        for g in ("ws", "line_comment", "block_comment", "raw_string", "string", "char",
                  "lifetime", "ident", "number", "path_sep", "punct"):
            if m.group(g) is not None:
                kind = g
                break
        start = i
        if kind == "block_comment":
            depth, j = 1, i + 2
            while depth and j < n:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            i = j
        elif kind == "raw_string":
            hashes = m.group("hashes") or ""
            end = src.index('"' + hashes, m.end())
            toks.append(Tok("string", src[m.end():end], line))
            i = end + 1 + len(hashes)
        elif kind == "string":
            j = m.end()
            buf = []
            while src[j] != '"':
                if src[j] == "\\":
                    buf.append(src[j:j + 2])
                    j += 2
                else:
                    buf.append(src[j])
                    j += 1
            toks.append(Tok("string", "".join(buf), line))
            i = j + 1
        else:
            i = m.end()
            if kind == "ident":
                toks.append(Tok("ident", m.group(0).removeprefix("r#"), line))
            elif kind == "path_sep":
                toks.append(Tok("punct", "::", line))
            elif kind in ("punct", "number", "char", "lifetime"):
                toks.append(Tok(kind, m.group(0), line))
        line += src.count("\n", start, i)
    return toks


def _skip_item(toks: list[Tok], i: int) -> int:
    """Index after the item starting at i (ends at `;` or its closing brace, at depth 0)."""
    depth = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "punct":
            if t.text in "([{":
                depth += 1
            elif t.text in ")]}":
                depth -= 1
                if depth == 0 and t.text == "}":
                    return i + 1
            elif t.text == ";" and depth == 0:
                return i + 1
        i += 1
    return i


def _is_cfg_test(toks: list[Tok], i: int) -> int | None:
    """If toks[i:] is `#[cfg(test)]`, the index after it."""
    texts = [t.text for t in toks[i:i + 7]]
    if texts == ["#", "[", "cfg", "(", "test", ")", "]"]:
        return i + 7
    return None


def strip_tests(toks: list[Tok]) -> list[Tok]:
    out: list[Tok] = []
    i = 0
    while i < len(toks):
        j = _is_cfg_test(toks, i)
        if j is None:
            out.append(toks[i])
            i += 1
            continue
        # skip further attributes, then the item
        while j < len(toks) and toks[j].text == "#":
            j = _skip_item_brackets(toks, j + 1)
        i = _skip_item(toks, j)
    return out


def _skip_item_brackets(toks, i):
    """After `#`: skip `[ ... ]`."""
    depth = 0
    while i < len(toks):
        if toks[i].text == "[":
            depth += 1
        elif toks[i].text == "]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


@dataclass
class Fn:
    name: str
    body: list[Tok]


@dataclass
class RustFile:
    path: Path
    crate: str
    module: tuple[str, ...]
    toks: list[Tok]
    code: list[Tok] = field(default_factory=list)  # without use statements and mod decls
    items: set[str] = field(default_factory=set)
    mods: dict[str, Path] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)
    globs: list[list[str]] = field(default_factory=list)
    fns: list[Fn] = field(default_factory=list)
    units: list["Unit"] = field(default_factory=list)


@dataclass
class Unit:
    """A top-level item: `fn`, type, const... or an `impl` block (named by its self type)."""

    kind: str
    name: str
    toks: list[Tok]
    trait: list[str] | None = None  # impl blocks: the trait's path
    fns: list[Fn] = field(default_factory=list)


ITEM_KINDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union"}


def _parse_use(toks: list[Tok], prefix: list[str], out: dict, globs: list):
    """Parse a use tree (tokens without `use` and `;`)."""
    # split top-level by commas inside braces handled recursively
    i = 0
    path = list(prefix)
    while i < len(toks):
        t = toks[i]
        if t.text == "::":
            i += 1
            continue
        if t.text == "{":
            depth, j = 1, i + 1
            parts, cur = [], []
            while depth:
                x = toks[j]
                if x.text == "{":
                    depth += 1
                elif x.text == "}":
                    depth -= 1
                    if depth == 0:
                        break
                if x.text == "," and depth == 1:
                    parts.append(cur)
                    cur = []
                else:
                    cur.append(x)
                j += 1
            parts.append(cur)
            for p in parts:
                if p:
                    _parse_use(p, path, out, globs)
            return
        if t.text == "*":
            globs.append(path)
            return
        if t.text == "as":
            alias = toks[i + 1].text
            if alias != "_":
                out[alias] = path
            return
        if t.kind == "ident":
            path = path + [t.text]
        i += 1
    if path and path[-1] == "self":
        path = path[:-1]
    if path:
        out[path[-1]] = path


def parse_file(path: Path, crate: str, module: tuple[str, ...], text: str | None = None) -> RustFile:
    text = path.read_text() if text is None else text
    toks = strip_tests(tokenize(text))
    f = RustFile(path, crate, module, toks)
    depth = 0
    i = 0
    while i < len(toks):
        t = toks[i]
        prev = toks[i - 1].text if i else ""
        if t.kind == "ident" and t.text == "use" and prev != "." :
            j = i + 1
            while toks[j].text != ";":
                j += 1
            _parse_use(toks[i + 1:j], [], f.imports, f.globs)
            i = j + 1
            continue
        if t.kind == "ident" and t.text == "mod" and i + 2 < len(toks) and toks[i + 2].text == ";":
            name = toks[i + 1].text
            f.mods[name] = _mod_path(path, name)
            i += 3
            continue
        if t.kind == "punct" and t.text == "{":
            depth += 1
        elif t.kind == "punct" and t.text == "}":
            depth -= 1
        if depth == 0 and t.kind == "ident" and t.text in ITEM_KINDS and i + 1 < len(toks):
            nxt = toks[i + 1]
            if nxt.kind == "ident" and prev not in ("impl", "&", "dyn"):
                f.items.add(nxt.text)
        if depth == 0 and t.text == "macro_rules" and i + 2 < len(toks):
            f.items.add(toks[i + 2].text)
        if t.kind == "ident" and t.text == "fn" and i + 1 < len(toks) and toks[i + 1].kind == "ident":
            body = _fn_body(toks, i + 2)
            if body is not None:
                f.fns.append(Fn(toks[i + 1].text, toks[body[0]:body[1]]))
        f.code.append(t)
        i += 1
    f.units = _units(f.code)
    return f


def _units(code: list[Tok]) -> list[Unit]:
    units: list[Unit] = []
    i = 0
    while i < len(code):
        t = code[i]
        if t.text == "#":
            i = _skip_item_brackets(code, i + 1)
            continue
        if t.kind != "ident":
            i += 1
            continue
        if t.text == "pub" and i + 1 < len(code) and code[i + 1].text == "(":
            i = _skip_parens(code, i + 1)
            continue
        if t.text in ("pub", "async", "unsafe", "extern", "default"):
            i += 1
            continue
        end = _skip_item(code, i)
        toks = code[i:end]
        if t.text == "impl":
            header = []
            j = i + 1
            if j < len(code) and code[j].text == "<":
                depth = 0
                while j < len(code):
                    depth += {"<": 1, ">": -1}.get(code[j].text, 0)
                    j += 1
                    if depth == 0:
                        break
            while j < len(code) and code[j].text not in ("{", "where"):
                header.append(code[j])
                j += 1
            texts = [h.text for h in header]
            trait = None
            if "for" in texts:
                k = texts.index("for")
                trait = [h.text for h in header[:k] if h.kind == "ident"]
                header = header[k + 1:]
            name = _type_name(header)
            u = Unit("impl", name, toks, trait)
        elif t.text in ITEM_KINDS and i + 1 < len(code) and code[i + 1].kind == "ident":
            u = Unit(t.text, code[i + 1].text, toks)
        elif t.text == "macro_rules" and i + 2 < len(code):
            u = Unit("macro", code[i + 2].text, toks)
        else:
            u = Unit("other", "", toks)
        for k, x in enumerate(toks[:-1]):
            if x.text == "fn" and toks[k + 1].kind == "ident":
                body = _fn_body(toks, k + 2)
                if body is not None:
                    u.fns.append(Fn(toks[k + 1].text, toks[body[0]:body[1]]))
        units.append(u)
        i = end
    return units


def _skip_parens(code, i):
    depth = 0
    while i < len(code):
        if code[i].text == "(":
            depth += 1
        elif code[i].text == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _type_name(header: list[Tok]) -> str:
    """`foo::Bar<T>` -> Bar; `&'a Bar` -> Bar; `dyn Tr` -> Tr."""
    name = ""
    depth = 0
    for h in header:
        if h.text == "<":
            depth += 1
        elif h.text == ">":
            depth -= 1
        elif depth == 0 and h.kind == "ident" and h.text not in ("dyn", "mut"):
            name = h.text
    return name


def _fn_body(toks, i):
    """Token range of the body of the fn whose signature starts at i (None: no body)."""
    depth = 0
    while i < len(toks):
        t = toks[i].text
        if t in "([<" and toks[i].kind == "punct":
            depth += 1 if t != "<" else 0
        if t in ")]" and toks[i].kind == "punct":
            depth -= 1
        if depth == 0 and t == ";":
            return None
        if depth == 0 and t == "{":
            end = _skip_item(toks, i)
            return (i, end)
        i += 1
    return None


def _mod_path(parent: Path, name: str) -> Path:
    base = parent.parent if parent.name in ("lib.rs", "main.rs", "mod.rs") else parent.with_suffix("")
    for c in (base / f"{name}.rs", base / name / "mod.rs"):
        if c.exists():
            return c
    return base / f"{name}.rs"


# ---------------------------------------------------------------------------------------------
# The workspace
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def cargo_metadata() -> dict:
    args = ["cargo", "metadata", "--format-version", "1", "--locked"]
    out = subprocess.run(args + ["--offline"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@dataclass
class Binary:
    name: str
    package: str
    main: Path
    crates: dict[str, Path]  # linked workspace crate (lib name) -> root file


class Workspace:
    def __init__(self, overrides: dict[str, str] | None = None):
        self.meta = cargo_metadata()
        self.overrides = {str(Path(k).resolve()): v for k, v in (overrides or {}).items()}
        pkgs = {p["id"]: p for p in self.meta["packages"]}
        self.members = set(self.meta["workspace_members"])
        nodes = {n["id"]: n for n in self.meta["resolve"]["nodes"]}
        self.libs: dict[str, Path] = {}  # workspace lib name -> root
        self.pkg_lib: dict[str, str] = {}
        for pid in self.members:
            for t in pkgs[pid]["targets"]:
                if "lib" in t["kind"]:
                    self.libs[t["name"].replace("-", "_")] = Path(t["src_path"])
                    self.pkg_lib[pid] = t["name"].replace("-", "_")
        # SDK crates: lib name -> source dir
        self.sdk_dirs: dict[str, Path] = {}
        for p in pkgs.values():
            if p["name"].startswith("aws-sdk-"):
                self.sdk_dirs[p["name"].replace("-", "_")] = Path(p["manifest_path"]).parent

        def linked(pid, seen):
            for d in nodes[pid]["deps"]:
                if not any(k["kind"] in (None, "normal") for k in d["dep_kinds"]):
                    continue
                if d["pkg"] in self.members and d["pkg"] not in seen:
                    seen.add(d["pkg"])
                    linked(d["pkg"], seen)
            return seen

        self.binaries: dict[str, Binary] = {}
        for pid in self.members:
            for t in pkgs[pid]["targets"]:
                if "bin" in t["kind"]:
                    crates = {self.pkg_lib[q]: self.libs[self.pkg_lib[q]] for q in linked(pid, set())}
                    if pid in self.pkg_lib:
                        crates[self.pkg_lib[pid]] = self.libs[self.pkg_lib[pid]]
                    self.binaries[t["name"]] = Binary(t["name"], pkgs[pid]["name"], Path(t["src_path"]), crates)
        self._files: dict[Path, RustFile] = {}

    def file(self, path: Path, crate: str, module: tuple[str, ...]) -> RustFile:
        key = path.resolve()
        if key not in self._files:
            self._files[key] = parse_file(key, crate, module, self.overrides.get(str(key)))
        return self._files[key]

    def module_file(self, crate: str, module: tuple[str, ...], root: Path) -> RustFile | None:
        f = self.file(root, crate, ())
        for i, m in enumerate(module):
            if m not in f.mods or not f.mods[m].exists() and str(f.mods[m].resolve()) not in self.overrides:
                return None
            f = self.file(f.mods[m], crate, module[: i + 1])
        return f

    @functools.lru_cache(maxsize=None)
    def sdk_operations(self, sdk: str) -> frozenset[str]:
        d = self.sdk_dirs[sdk] / "src" / "operation"
        return frozenset(p.name for p in d.iterdir() if p.is_dir())


@dataclass
class Analysis:
    binary: str
    files: list[Path]
    actions: set[str]
    action_sources: dict[str, set[str]]  # action -> "file:function"
    env_read: set[str]
    env_required: set[str]


def _paths(code: list[Tok]):
    """Paths named in code: lists of segments (method calls and macros excluded)."""
    i = 0
    while i < len(code):
        t = code[i]
        prev = code[i - 1].text if i else ""
        if t.kind != "ident" or prev in (".", "::") or (t.text in KEYWORDS and t.text != "crate"):
            i += 1
            continue
        segs = [t.text]
        j = i + 1
        while j + 1 < len(code) and code[j].text == "::":
            nxt = code[j + 1]
            if nxt.text == "<":  # turbofish: skip the generic arguments
                depth, k = 0, j + 1
                while k < len(code):
                    if code[k].text == "<":
                        depth += 1
                    elif code[k].text == ">":
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                j = k + 1
                continue
            if nxt.kind != "ident":
                break
            segs.append(nxt.text)
            j += 2
        if j < len(code) and code[j].text == "!":
            i = j
            continue
        yield segs
        i = j


Node = tuple  # (Path, item name)


class Resolver:
    def __init__(self, ws: Workspace, crates: dict[str, Path]):
        self.ws = ws
        self.crates = crates

    def resolve(self, f: RustFile, segs: list[str], depth: int = 0):
        """(file, item) a path names, or None (external crates, locals, modules)."""
        if depth > 12 or not segs:
            return None
        s0, rest = segs[0], segs[1:]
        crate, module = f.crate, f.module
        if s0 == "crate":
            module = ()
        elif s0 == "self":
            pass
        elif s0 == "super":
            while rest and rest[0] == "super":
                module, rest = module[:-1], rest[1:]
            module = module[:-1]
        elif s0 in f.imports:
            imported = f.imports[s0]
            if imported == segs[: len(imported)] and len(imported) <= len(segs):
                return None
            return self.resolve(f, imported + rest, depth + 1)
        elif s0 in f.mods:
            module = module + (s0,)
        elif s0 in f.items:
            return (f, s0)
        elif s0 in self.crates:
            crate, module = s0, ()
        else:
            for g in f.globs:
                r = self.resolve(f, g + segs, depth + 1)
                if r is not None:
                    return r
            return None
        mf = self.ws.module_file(crate, module, self.crates[crate])
        if mf is None:
            return None
        while rest and rest[0] in mf.mods:
            module = module + (rest[0],)
            mf = self.ws.module_file(crate, module, self.crates[crate])
            if mf is None:
                return None
            rest = rest[1:]
        if not rest:
            return None  # a module itself
        item = rest[0]
        if item in mf.items:
            return (mf, item)
        if item in mf.imports:
            return self.resolve(mf, mf.imports[item] + rest[1:], depth + 1)
        for g in mf.globs:
            r = self.resolve(mf, g + rest, depth + 1)
            if r is not None:
                return r
        return None


@dataclass
class Reached:
    units: list[tuple[RustFile, Unit]]
    refs: dict[int, set]  # id(unit) -> nodes it names
    resolver: Resolver

    @property
    def files(self) -> list[Path]:
        out: list[Path] = []
        for f, _ in self.units:
            if f.path not in out:
                out.append(f.path)
        return out


def reach(ws: Workspace, binary: str, exclude: set[Path]) -> Reached:
    """The items (and impl blocks of reached types) the binary's `main` leads to."""
    b = ws.binaries[binary]
    crates = dict(b.crates)
    main_crate = "__bin_" + binary
    crates[main_crate] = b.main
    res = Resolver(ws, crates)
    start = ws.file(b.main, main_crate, ())
    seen: set = set()
    units: list = []
    refs: dict[int, set] = {}
    queue = [(start, "main")]
    while queue:
        f, item = queue.pop()
        if (f.path, item) in seen or f.path in exclude:
            continue
        seen.add((f.path, item))
        for u in f.units:
            if u.name != item or u.kind in ("other",):
                continue
            units.append((f, u))
            out = set()
            if u.kind == "impl":
                out.add((f.path, u.name))
                if u.trait:
                    t = res.resolve(f, u.trait)
                    if t is not None:
                        out.add((t[0].path, t[1]))
                        queue.append(t)
            for segs in _paths(u.toks):
                if segs[0] == "Self" and u.kind == "impl":
                    segs = [u.name] + segs[1:]
                t = res.resolve(f, segs)
                if t is None:
                    continue
                out.add((t[0].path, t[1]))
                queue.append(t)
            refs[id(u)] = out
    return Reached(units, refs, res)


def _calls(toks: list[Tok]) -> set[str]:
    out = set()
    for i, t in enumerate(toks[:-1]):
        if t.kind == "ident" and (toks[i + 1].text == "(" or (toks[i + 1].text == "::" and i + 2 < len(toks) and toks[i + 2].text == "<")):
            out.add(t.text)
    return out


# SDK crates whose IAM action prefix is not the crate's service name.
IAM_PREFIX = {"eventbridge": "events"}


def _service_of(sdk: str) -> str:
    service = sdk.removeprefix("aws_sdk_")
    return IAM_PREFIX.get(service, service)


def _pascal(snake: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in snake.split("_"))


def _direct_actions(ws: Workspace, f: RustFile, body: list[Tok]) -> set[str]:
    acts: set[str] = set()
    sdks = {t.text for t in f.toks if t.kind == "ident" and t.text in ws.sdk_dirs}
    for i in range(1, len(body) - 2):
        t = body[i]
        if t.kind != "ident" or body[i - 1].text != ".":
            continue
        if body[i + 1].text == "(" and body[i + 2].text == ")":
            for sdk in sdks:
                if t.text in ws.sdk_operations(sdk):
                    acts.add(f"{_service_of(sdk)}:{_pascal(t.text)}")
        if i >= 2 and body[i - 2].text == "store" and body[i + 1].text == "(" and t.text in OBJECT_STORE_ACTIONS:
            acts |= OBJECT_STORE_ACTIONS[t.text]
    for i in range(len(body) - 1):
        if body[i].text == "BufWriter" and body[i + 1].text == "::":
            acts |= BUFWRITER_ACTIONS
    return acts


def _self_calls(body: list[Tok]) -> set[str]:
    """Calls of sibling functions: `self.x(`, `Self::x(`, or a bare `x(`."""
    out = set()
    for i, t in enumerate(body[:-1]):
        if t.kind != "ident" or body[i + 1].text != "(":
            continue
        prev = body[i - 1].text if i else ""
        before = body[i - 2].text if i > 1 else ""
        if (prev == "." and before == "self") or (prev == "::" and before == "Self") or prev not in (".", "::"):
            out.add(t.text)
    return out


def _fn_actions(ws: Workspace, f: RustFile, fns: list[Fn]) -> dict[str, set[str]]:
    """Each function's actions, with those of the sibling functions it calls (`self.x()`)."""
    direct = {fn.name: _direct_actions(ws, f, fn.body) for fn in fns}
    calls = {fn.name: {c for c in _self_calls(fn.body) if c in direct and c != fn.name} for fn in fns}
    total = {}
    for name in direct:
        seen, stack, acts = {name}, [name], set()
        while stack:
            n = stack.pop()
            acts |= direct[n]
            for c in calls[n]:
                if c not in seen:
                    seen.add(c)
                    stack.append(c)
        total[name] = acts
    return total


def _env_vars(token_lists: list[list[Tok]]) -> tuple[set[str], set[str]]:
    read, required = set(), set()
    for c in token_lists:
        for i, t in enumerate(c):
            if t.kind == "string" and re.fullmatch(r"FIRELAKE_[A-Z0-9_]+", t.text):
                read.add(t.text)
                # `env("X")?` / `var("X")?`: the program stops without it.
                if i + 2 < len(c) and c[i + 1].text == ")" and c[i + 2].text == "?":
                    required.add(t.text)
            if t.kind == "ident" and t.text in ("from_default_env", "try_from_default_env"):
                read.add("RUST_LOG")
        # clap fields: #[arg(... env = "X" ...)] name: Type,
        for i, t in enumerate(c):
            if t.text == "#" and i + 2 < len(c) and c[i + 1].text == "[" and c[i + 2].text == "arg":
                end = _skip_item_brackets(c, i + 1)
                attr = c[i:end]
                env = [attr[k + 2].text for k in range(len(attr) - 2)
                       if attr[k].text == "env" and attr[k + 1].text == "=" and attr[k + 2].kind == "string"]
                if not env:
                    continue
                has_default = any(a.text.startswith("default_value") or a.text == "default_values_t" for a in attr)
                j = end
                while j < len(c) and c[j].text == "#":
                    j = _skip_item_brackets(c, j + 1)
                if j < len(c) and c[j].text == "pub":
                    j += 1
                # field name, ':', type
                ty = c[j + 2].text if j + 2 < len(c) else ""
                if not has_default and ty not in ("Option", "bool", "Vec"):
                    required.add(env[0])
    return read, required


def analyse(binary: str, exclude: set[Path] = frozenset(), overrides: dict[str, str] | None = None,
            ws: Workspace | None = None) -> Analysis:
    ws = ws or Workspace(overrides)
    exclude = {p.resolve() for p in exclude}
    r = reach(ws, binary, exclude)
    calls = {id(u): _calls(u.toks) for _, u in r.units}
    actions: set[str] = set()
    sources: dict[str, set[str]] = {}

    def add(acts, where):
        for a in acts:
            sources.setdefault(a, set()).add(where)
        actions.update(acts)

    # What a unit names, and one step further through the type definitions it names (a call
    # `ctx.lake.delete(..)` names `Context`, whose field is a `Lake`).
    type_refs: dict = {}
    for f, u in r.units:
        if u.kind in ("struct", "enum", "type"):
            type_refs.setdefault((f.path, u.name), set()).update(r.refs[id(u)])
    names = {}
    for f, u in r.units:
        n = set(r.refs[id(u)])
        for x in r.refs[id(u)]:
            n |= type_refs.get(x, set())
        names[id(u)] = n

    # All impl blocks of a type in a file are one: calls among them are the type's own.
    impls: dict = {}
    for f, u in r.units:
        if u.kind == "impl":
            impls.setdefault((f.path, u.name), []).append((f, u))

    for f, u in r.units:
        if u.kind == "fn" and u.fns:
            per_fn = _fn_actions(ws, f, u.fns)
            add(per_fn[u.name], f"{f.path.relative_to(REPO)}:{u.name}")
    for (path, tname), blocks in impls.items():
        f = blocks[0][0]
        rel = f.path.relative_to(REPO)
        fns = [fn for _, b in blocks for fn in b.fns]
        per_fn = _fn_actions(ws, f, fns)
        own = {id(b) for _, b in blocks}
        owners = set()
        for _, b in blocks:
            owners |= r.refs[id(b)]
        # A method runs when reached code outside the type calls its name and names the
        # type or its trait.
        for name, acts in per_fn.items():
            if not acts:
                continue
            for g, v in r.units:
                if id(v) in own or name not in calls[id(v)]:
                    continue
                if names[id(v)] & owners:
                    add(acts, f"{rel}:{tname}::{name}")
                    break
    read, required = _env_vars([u.toks for _, u in r.units])
    return Analysis(binary, r.files, actions, sources, read, required)


def publisher_files(ws: Workspace) -> dict[str, Path]:
    """`--to` scheme -> the file of its publisher, read from producer/src/ticks.rs's
    `publisher_for`: each scheme literal and the first `...Publisher` type named after it,
    directly or in the helper function it calls (`kinesis_publisher`; of a helper's cfg
    variants, the one that names a publisher, not the one refusing a feature left out)."""
    ticks = REPO / "producer/src/ticks.rs"
    b = ws.binaries["producer"]
    crates = dict(b.crates)
    f = ws.file(ticks, "firelake_producer", ("ticks",))
    fn = next(x for x in f.fns if x.name == "publisher_for")
    res = Resolver(ws, crates)

    def is_publisher(t) -> bool:
        return t.kind == "ident" and t.text.endswith("Publisher") and t.text != "Publisher"

    def resolve_at(body, i) -> Path | None:
        segs = [body[i].text]
        k = i
        while k >= 2 and body[k - 1].text == "::" and body[k - 2].kind == "ident":
            segs.insert(0, body[k - 2].text)
            k -= 2
        target = res.resolve(f, segs)
        return target[0].path if target is not None else None

    def publisher_in(body) -> Path | None:
        return next((p for i, t in enumerate(body) if is_publisher(t) and (p := resolve_at(body, i))), None)

    out: dict[str, Path] = {}
    scheme = None
    for i, t in enumerate(fn.body):
        if t.kind == "string" and re.fullmatch(r"[a-z]+://", t.text):
            scheme = t.text[:-3]
        elif scheme and t.kind == "ident":
            if is_publisher(t):
                found = resolve_at(fn.body, i)
            else:
                helpers = [x for x in f.fns if x.name == t.text and x is not fn]
                found = next((p for h in helpers if (p := publisher_in(h.body)) is not None), None)
            if found is not None:
                out.setdefault(scheme, found)
                scheme = None
    return out
