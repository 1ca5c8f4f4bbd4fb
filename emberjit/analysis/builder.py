"""``build_skeleton``: from a function's source and its operator environment to a Skeleton."""

from __future__ import annotations

import linecache
import os
import sys
import types
from collections.abc import Collection

import libcst as cst

from ..errors import StructuralAnalysisError
from .bindings import Bindings
from .calls import CallFinder, source_of
from .contexts import sets_only_context
from .effects import call_effect, pure_function, user_function
from .env import OperatorEnv, namespace_of
from .inline import inline_local_functions
from .lines import Located, file_positions, locate, locate_with_libcst
from .names import Names, Rebinds, filled
from .skeleton import CallSite, Skeleton, Statement
from .source import FunctionSource
from .walk import Visitor

__all__ = ["build_skeleton", "display_path"]


def display_path(filename: str, module: str | None) -> str:
    """The file as plans show it: relative to the import root (``fixtures/fanout.py``), so that
    plans and golden files do not depend on where the checkout lives."""
    if module and module not in ("__main__", "builtins"):
        rel = module.replace(".", "/")
        base = os.path.splitext(filename)[0]
        if base.endswith(rel):
            return rel + ".py"
        if base.endswith(rel + "/__init__"):
            return rel + "/__init__.py"
    return os.path.basename(filename)


class _LocalFunctions(Visitor):
    def __init__(self, top: cst.FunctionDef) -> None:
        super().__init__()
        self.top, self.names = top, set[str]()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node is not self.top:
            self.names.add(node.name.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Lambda):
            self.names.update(t.target.value for t in node.targets
                              if isinstance(t.target, cst.Name))


def _local_functions(node: cst.FunctionDef) -> frozenset[str]:
    """The names ``node`` binds to a ``def`` or a ``lambda`` inside it."""
    finder = _LocalFunctions(node)
    finder.walk(node)
    return frozenset(finder.names)


class _Builder:
    def __init__(self, src: FunctionSource, env: OperatorEnv, module: cst.Module,
                 located: Located, bindings: Bindings,
                 dynamic: Collection[cst.CSTNode] = ()) -> None:
        self.src, self.env, self.module = src, env, module
        self.dynamic = dynamic  # enhanced mode: calls the trace saw calling an operator
        self.located = located
        self.statement_of: dict[cst.CSTNode, Statement] = {}
        self.op_names = bindings.operator_names
        self.locals = bindings.other | set(bindings.op_bound)
        self.fanout_vars = bindings.fanout_vars
        self.aliases = bindings.aliases
        #: a helper's parameters, never rebound: ``op(v)`` on one of them is a call site
        #: whose callee the caller chooses (``self._via(self.judge, x)``): submitted when it
        #: is an operator at run time, else called in program order (``run.submit_any``)
        self.open_params: frozenset[str] = frozenset()
        self.sites: dict[cst.Call, CallSite] = {}
        self.effects: dict[cst.Call, str] = {}  # ordinary calls that may act beyond locals
        self.functions: dict[str, types.FunctionType] = {}  # function helpers by target
        #: names bound to a def or a lambda inside the function (code a builtin may call)
        self.local_functions = _local_functions(src.node)
        self.contexts: set[cst.With] = set()  # with blocks that only set context variables
        #: (their managers' callee as written, the generator's code): what the guard checks
        self.context_guards: dict[str, types.CodeType] = {}
        self.helpers: list[str] = []
        self.barriers: list[str] = []
        self.self_name = bindings.self_name
        self.namespace = namespace_of(src.function)
        self.operators = frozenset(self.op_names) | env.global_ops

    def line(self, node: cst.CSTNode) -> int:
        return self.located.lines.get(node, 0)

    def text(self, node: cst.CSTNode) -> str:
        """The node's first line as written (read from the file: generating code for a whole
        compound statement just to show its header would cost more than the analysis)."""
        line = linecache.getline(self.src.filename, self.line(node)).strip()
        if line:
            return line
        code = self.module.code_for_node(node).strip()
        return code.splitlines()[0] if code else ""

    def block(self, body: cst.BaseSuite | None) -> tuple[Statement, ...]:
        if body is None:
            return ()
        if isinstance(body, cst.SimpleStatementSuite):
            return tuple(self.small(s, body) for s in body.body)
        out: list[Statement] = []
        for stmt in body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                out.extend(self.small(s, stmt) for s in stmt.body)
            elif isinstance(stmt, cst.BaseCompoundStatement):
                out.append(self.compound(stmt))
        return tuple(out)

    def _names(self, *nodes: cst.CSTNode | None) -> tuple[frozenset[str], frozenset[str]]:
        names = Names()
        for node in nodes:
            if node is not None:
                names.walk(node)
        return frozenset(names.reads - names.local), frozenset(names.writes)

    def _calls(self, *nodes: cst.CSTNode | None, line: int) -> tuple[CallSite, ...]:
        """The call sites in ``nodes``; ordinary calls that may act beyond the plan's locals
        are recorded in ``effects`` and explained as lines kept in program order."""
        finder = CallFinder(self, line)
        for node in nodes:
            if node is not None:
                finder.walk(node)
        for reason in dict.fromkeys(finder.effects):
            self.barriers.append(f"line {line}: {reason}: it runs after every call started "
                                 "before it returned, as eagerly")
        return tuple(finder.found)

    def static_method(self, func: cst.BaseExpression) -> types.FunctionType | None:
        """The function of ``self.score`` when ``score`` is a ``@staticmethod`` of the class."""
        if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value == self.self_name and self.self_name is not None):
            return self.env.statics.get(func.attr.value)
        return None

    def function_helper(self, name: str | types.FunctionType) -> tuple[str, str] | None:
        """``("function", target)`` when ``name`` is a function of the user's whose source
        emberjit reads (a sub-plan, as helper methods are), else None."""
        fn = self.namespace.get(name) if isinstance(name, str) else name
        if not user_function(fn) or pure_function(fn):
            return None  # unknown code (an effect), or pure code (local work)
        assert isinstance(fn, types.FunctionType)
        target = f"{fn.__module__}.{fn.__qualname__}"
        self.functions[target] = fn
        return "function", target

    def effect(self, call: cst.Call, operator_called_wrong: bool,
               scoped: frozenset[str] = frozenset()) -> None:
        shown = source_of(call.func, self.module)
        if operator_called_wrong:
            reason: str | None = (f"calls operator {shown}(...) with arguments that are not one "
                                  "input (not a call site)")
        elif pure_function(self.static_method(call.func)) or sets_only_context(
                call, self.namespace):
            reason = None  # self.score(text) of a pure static method; settings.context(...)
        else:
            reason = call_effect(call, self.self_name, frozenset(self.locals) | scoped,
                                 self.operators, self.namespace, shown, self.env.values,
                                 self.local_functions)
        if reason is not None:
            self.effects[call] = reason

    def small(self, stmt: cst.BaseSmallStatement, line_node: cst.CSTNode) -> Statement:
        kind = {cst.Assign: "assign", cst.AnnAssign: "assign", cst.AugAssign: "assign",
                cst.Expr: "expr", cst.Return: "return"}.get(type(stmt), "other")
        reads, writes = self._names(stmt)
        if isinstance(stmt, cst.Global | cst.Nonlocal):
            raise self.unsupported(stmt, f"'{self.text(stmt)}' rebinds names outside forward")
        before = len(self.effects)
        calls = self._calls(stmt, line=self.line(line_node))
        note = ""
        if any(c.kind == "opaque" for c in calls):
            note = "calls a method of self without Python source: a barrier"
            self.barriers.append(f"line {self.line(line_node)}: {note}")
        elif len(self.effects) > before:
            note = "calls code that may act beyond the plan's locals: in program order"
        info = Statement(self.line(line_node), kind, self.text(stmt), reads, writes, calls,
                         note=note, fills=filled(stmt))
        self.statement_of[stmt] = info
        return info

    def compound(self, stmt: cst.BaseCompoundStatement) -> Statement:
        line = self.line(stmt)
        if isinstance(stmt, cst.If):
            reads, writes = self._names(stmt.test)
            orelse = stmt.orelse
            other = (self.compound(orelse),) if isinstance(orelse, cst.If) else self.block(
                orelse.body if orelse else None)
            calls = self._calls(stmt.test, line=line)
            return Statement(line, "if", self.text(stmt), reads, writes, calls,
                             (self.block(stmt.body), other))
        if isinstance(stmt, cst.For | cst.While):
            header = (stmt.target, stmt.iter) if isinstance(stmt, cst.For) else (stmt.test,)
            reads, writes = self._names(*header[-1:])  # a for's target is written, not read
            if isinstance(stmt, cst.For):
                _, writes = self._names(cst.AssignTarget(stmt.target))
            kind = "for" if isinstance(stmt, cst.For) else "while"
            calls = self._calls(*header, line=line)
            return Statement(line, kind, self.text(stmt), reads, writes, calls,
                             (self.block(stmt.body), self.block(
                                 stmt.orelse.body if stmt.orelse else None)))
        if isinstance(stmt, cst.With):
            reads, writes = self._names(*stmt.items)
            codes = [sets_only_context(i.item, self.namespace) for i in stmt.items]
            if all(codes):  # with settings.context(...): it orders nothing
                self.contexts.add(stmt)
                self.context_guards.update(
                    (source_of(item.item.func, self.module), code)
                    for item, code in zip(stmt.items, codes, strict=True)
                    if isinstance(item.item, cst.Call) and code is not None)
            calls = self._calls(*stmt.items, line=line)
            return Statement(line, "with", self.text(stmt), reads, writes, calls,
                             (self.block(stmt.body),),
                             note="" if stmt in self.contexts else "barrier")
        if isinstance(stmt, cst.Try):
            blocks = [self.block(stmt.body)] + [self.block(h.body) for h in stmt.handlers]
            blocks += [self.block(stmt.orelse.body if stmt.orelse else None),
                       self.block(stmt.finalbody.body if stmt.finalbody else None)]
            return Statement(line, "try", self.text(stmt), frozenset(), frozenset(), (),
                             tuple(blocks), note="barrier")
        reads, writes = self._names(stmt)
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            writes = writes | {stmt.name.value}
        if isinstance(stmt, cst.FunctionDef):  # explain names the calls it holds: not sites
            self._calls(stmt, line=line)
        return Statement(line, "def" if isinstance(stmt, cst.FunctionDef) else "other",
                         self.text(stmt), reads, writes, ())

    def unsupported(self, node: cst.CSTNode, reason: str,
                    line: int = 0) -> StructuralAnalysisError:
        """The error for what the analysis cannot follow; ``line``: where the node's own line
        is not known (an expression's: the statement's)."""
        return StructuralAnalysisError(
            self.src.function, reason, "use jit(..., mode='trace'), or leave this operator eager",
            f"{self.src.filename}:{self.line(node) or line}")


def build_skeleton(src: FunctionSource, env: OperatorEnv, is_method: bool = True,
                   dynamic: Collection[cst.CSTNode] = (), helper: bool = False) -> Skeleton:
    """Analyze ``src`` (never running it) into a :class:`Skeleton`. ``dynamic``: call nodes to
    treat as operator calls whose callee the source leaves open (enhanced mode); ``helper``:
    a helper method, whose parameters its callers may fill with operators."""
    fnode = src.node
    module = cst.Module(body=[fnode])
    located = locate(fnode, src.filename, src.file_sha256, src.file_text, src.first_line)
    if located is None:  # the trees disagree: ask libcst for positions (slower, always right)
        located = locate_with_libcst(file_positions(fnode, src.first_line, src.filename))
    fnode = inline_local_functions(fnode, located.lines)  # def ask(q): return self.a(q)
    module = cst.Module(body=[fnode])
    fparams = fnode.params
    params = tuple(p.name.value for p in (*fparams.posonly_params, *fparams.params,
                                          *fparams.kwonly_params))
    params += tuple(star.name.value for star in (fparams.star_arg, fparams.star_kwarg)
                    if isinstance(star, cst.Param))  # *args, **kwargs: bound on entry too
    self_name = params[0] if is_method and params else None
    first = Bindings(env, params, self_name=self_name)
    first.walk(fnode.body)
    bindings = first
    aliases = first.collection_aliases()
    if aliases:  # a second pass: loops over `members = self.members` bind operators too
        bindings = Bindings(env, params, self_name=self_name)
        bindings.aliases = aliases
        bindings.walk(fnode.body)
    b = _Builder(src, env, module, located, bindings, dynamic)
    if helper:
        rebinds = Rebinds()
        rebinds.walk(fnode.body)
        open_params = frozenset(params[1 if is_method else 0:]) - rebinds.names
        b.open_params = open_params | rebinds.open_loop_names(open_params)
    statements = b.block(fnode.body)
    mod = sys.modules.get(src.function.__module__)
    return Skeleton(
        qualname=src.qualname, filename=src.filename,
        display_path=display_path(src.filename, getattr(mod, "__name__", None)),
        first_line=src.first_line, params=params, statements=statements, node=fnode,
        sites=types.MappingProxyType(b.sites),
        lines=types.MappingProxyType(located.lines), source_sha256=src.sha256,
        source_text=src.text, statement_of=types.MappingProxyType(b.statement_of),
        effects=types.MappingProxyType(b.effects),
        helpers=tuple(b.helpers), barriers=tuple(b.barriers), is_method=is_method,
        functions=types.MappingProxyType(b.functions), contexts=frozenset(b.contexts),
        context_guards=tuple(b.context_guards.items()), function=src.function)
