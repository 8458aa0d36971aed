"""The glue a component runs: ``plugin_of``, the ``transform`` and ``audit`` exports, the
conversions to and from componentize-py's bindings, stdout/stderr to ``log``, and crashes.

The bindings are the real ones componentize-py 0.25.1 generates (``tests/bindings``), with
each imported function replaced by a fake host."""

import shutil
import sys
import types as pytypes
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

import kiln_sdk
from kiln_sdk import (
    AuditScope,
    Auditor,
    Batch,
    Clay,
    Error,
    MissingCapability,
    Report,
    Row,
    Severity,
    Subject,
    _guest,
    _host,
    _runtime,
    finding,
)
from kiln_sdk import types as sdk
from kiln_sdk.testing import encode_rows, row_with, table_with_columns

BINDINGS = Path(__file__).parent / "bindings"


class FakeHost:
    """The bindings, on ``sys.path`` for one test, with the host's functions faked."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs: List[Tuple[str, str]] = []
        self.config: List[Tuple[str, str]] = []

    def module(self, name: str) -> Any:
        return sys.modules[f"wit_world.imports.{name}"]

    @property
    def t(self) -> Any:
        return self.module("types")

    def install(self) -> None:
        log = self.module("log")
        log.log = lambda level, message: self.logs.append((level.name, message))
        self.module("config").all = lambda: list(self.config)
        self.module("config").get = lambda key: dict(self.config).get(key)


def _purge() -> None:
    for name in list(sys.modules):
        if name in ("wit_world", "componentize_py_types") or name.startswith("wit_world."):
            del sys.modules[name]
    _host._modules.clear()


@pytest.fixture
def host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FakeHost]:
    root = tmp_path / "bindings"
    shutil.copytree(BINDINGS, root)
    for missing in getattr(request, "param", ()):
        (root / "wit_world" / "imports" / f"{missing}.py").unlink()
    _purge()
    monkeypatch.syspath_prepend(str(root))
    fake = FakeHost(root)
    backend = _host.HostBackend()  # preloads, as _guest does at build time
    fake.install()
    monkeypatch.setattr(_runtime, "_host", backend)
    monkeypatch.setattr(_runtime, "live", False)
    monkeypatch.setattr(_runtime, "pending", [])
    yield fake
    _purge()


def module(name: str, own: dict, imported: Any = None) -> pytypes.ModuleType:
    """A module ``name`` defining the classes of ``own`` and importing those of ``imported``."""
    m = pytypes.ModuleType(name)
    for k, v in own.items():
        v.__module__ = name
        setattr(m, k, v)
    for k, v in (imported or {}).items():
        setattr(m, k, v)
    return m


class Lower(kiln_sdk.Transformer):
    def setup(self) -> None:
        self.column = self.config.get("column", "Email")
        print("setting up", self.column)

    def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
        email = row.text(self.column)
        return (
            kiln_sdk.unchanged()
            if email is None
            else kiln_sdk.set({self.column: email.strip().lower()})
        )


# ---- plugin_of ----


def test_plugin_of_finds_the_one_plugin_class_defined_in_the_module() -> None:
    class Base(kiln_sdk.Transformer):
        pass

    class Leaf(Base):
        def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
            return kiln_sdk.unchanged()

    app = module(
        "app",
        {"Base": Base, "Leaf": Leaf},
        {"Imported": Lower, "Transformer": kiln_sdk.Transformer},
    )
    assert type(_guest.plugin_of(app)) is Leaf
    assert kiln_sdk.Transformer.__module__ == "kiln_sdk.transform"


@pytest.mark.parametrize(
    "classes, message",
    [
        ({}, "defines no plugin"),
        (
            {
                "A": type("A", (kiln_sdk.Auditor,), {"audit": lambda s, a, b: Report()}),
                "B": type("B", (kiln_sdk.Auditor,), {"audit": lambda s, a, b: Report()}),
            },
            r"more than one plugin \(A, B\)",
        ),
        ({"T": type("T", (kiln_sdk.Transformer,), {})}, "T must override transform_row"),
        ({"A": type("A", (kiln_sdk.Auditor,), {})}, "A must override audit"),
        (
            {
                "Needs": type(
                    "Needs",
                    (kiln_sdk.Transformer,),
                    {"__init__": lambda self, x: None, "transform_row": lambda s, r, c: None},
                )
            },
            "kiln creates Needs with no arguments.*setup",
        ),
    ],
)
def test_plugin_of_says_what_is_wrong(classes: dict, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        _guest.plugin_of(module("app", classes, {"Lower": Lower}))


# ---- transform ----


def transform_context(t: Any, table: sdk.TableInfo, rows: int, dry_run: bool = False) -> Any:
    return t.TransformContext(
        workspace_id=1,
        table=t.TableInfo(
            id=table.id,
            name=table.name,
            kind=t.TableKind.SPREADSHEET,
            workspace_id=1,
            workbook_id=None,
            first_view_id="gv_1",
            views=[t.View("gv_1", "Default view")],
            fields=[t.Field(f.id, f.name, t.FieldKind.TEXT, None) for f in table.fields],
        ),
        batch_index=0,
        total_rows=rows,
        dry_run=dry_run,
    )


def test_transform_runs_a_batch_from_the_bindings_and_print_goes_to_the_log(host: FakeHost) -> None:
    table = table_with_columns("Leads", ["Email"])
    rows = [row_with(table, "r_1", {"Email": " A@B.io "}), row_with(table, "r_2", {})]
    host.config = [("column", "Email")]
    out_stream = _guest.LogWriter(sdk.LogLevel.INFO, "<stdout>")
    plugin = Lower()
    real_stdout = sys.stdout
    sys.stdout = out_stream
    try:
        print("held until the first call")  # as at build time: no host answers yet
        assert host.logs == [] and _runtime.held_lines() == [
            (sdk.LogLevel.INFO, "held until the first call")
        ]
        answer = _guest.transform(
            plugin, encode_rows(table.fields, rows), transform_context(host.t, table, 2)
        )
        print("partial", end="")
        out_stream.flush()
    finally:
        sys.stdout = real_stdout
    from kiln_sdk import _codec

    assert _codec.read_outcomes(answer, 2) == [
        _codec.WireOutcome.set_cells([(0, "a@b.io")]),
        _codec.WireOutcome.unchanged(),
    ]
    assert host.logs == [
        ("INFO", "held until the first call"),
        ("INFO", "setting up Email"),
        ("INFO", "partial"),
    ]


def test_a_crash_is_logged_with_its_traceback_and_re_raised(host: FakeHost) -> None:
    class Crashes(kiln_sdk.Transformer):
        def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
            raise ValueError("boom")

    table = table_with_columns("Leads", ["Email"])
    with pytest.raises(ValueError, match="boom"):
        _guest.transform(
            Crashes(),
            encode_rows(table.fields, [row_with(table, "r", {})]),
            transform_context(host.t, table, 1),
        )
    ((level, message),) = host.logs
    assert level == "ERROR"
    assert message.startswith(
        "the plugin raised an exception and stopped:\nTraceback (most recent call last):\n"
    )
    assert "in transform_row" in message and message.endswith("ValueError: boom")


def test_the_wrong_world_is_named(host: FakeHost) -> None:
    class A(Auditor):
        def audit(self, scope: AuditScope, clay: Clay) -> Report:
            return Report()

    with pytest.raises(TypeError, match='world = "transformer".*kiln_sdk.Auditor'):
        _guest.transform(A(), b"", None)


# ---- audit ----


class Admins(Auditor):
    def audit(self, scope: AuditScope, clay: Clay) -> Report:
        members = clay.credits.permissions(scope.workspace_id)
        report = Report(f"{len(members)} members")
        for m in members:
            if m.role is sdk.Role.ADMIN and m.status is sdk.MemberStatus.ACTIVE:
                report.push(
                    finding(
                        Severity.HIGH, "seat.admin", Subject.member(m.user_id or m.email, m.name)
                    )
                    .message(f"{m.name} is an admin")
                    .evidence("role", m.role_name)
                    .evidence("days", scope.now - scope.period.start)
                )
        return report


def scope(t: Any) -> Any:
    return t.AuditScope(workspace_id=1, period=t.TimeRange(0, 86_400_000), now=86_400_000)


def test_audit_reads_clay_through_the_bindings_and_returns_their_report(host: FakeHost) -> None:
    t = host.t
    seen = []

    def permissions(workspace_id: int) -> list:
        seen.append(workspace_id)
        return [
            t.Member(
                "1000",
                "maya@acme.io",
                "Maya",
                t.Role.ADMIN,
                "workspace-admin",
                t.MemberStatus.ACTIVE,
            ),
            t.Member(
                None,
                "sam@acme.io",
                "Sam",
                t.Role.SALES_REP,
                "workspace-sales-rep",
                t.MemberStatus.PENDING,
            ),
        ]

    host.module("credits").permissions = permissions
    report = _guest.audit(Admins(), scope(t))
    assert seen == [1]
    assert isinstance(report, t.AuditReport) and report.summary == "2 members"
    (f,) = report.findings
    assert f.severity is t.Severity.HIGH and f.subject == t.Subject(
        t.SubjectKind.MEMBER, "1000", "Maya"
    )
    assert f.evidence == [("role", "workspace-admin"), ("days", "86400000")]


def test_errors_become_the_audits_clay_error(host: FakeHost) -> None:
    from componentize_py_types import Err

    t = host.t

    def denied(workspace_id: int) -> list:
        raise Err(t.ClayError_Denied("credits"))

    host.module("credits").permissions = denied
    with pytest.raises(Err) as e:
        _guest.audit(Admins(), scope(t))
    assert e.value.value == t.ClayError_Denied("credits")

    class Complains(Auditor):
        def audit(self, scope: AuditScope, clay: Clay) -> Report:
            raise Error("no Leads table")

    with pytest.raises(Err) as e:
        _guest.audit(Complains(), scope(t))
    assert e.value.value == t.ClayError_Invalid("no Leads table")
    assert host.logs == []  # an Error is an answer, not a crash


@pytest.mark.parametrize("host", [("credits",)], indirect=True)
def test_an_interface_the_manifest_does_not_request_says_what_to_add(host: FakeHost) -> None:
    with pytest.raises(MissingCapability) as e:
        kiln_sdk.clay.credits.permissions(1)
    assert str(e.value) == (
        'the plugin calls clay `credits` but its kiln.toml does not request it; add `credits = "read"` under [capabilities]'
    )
    with pytest.raises(MissingCapability, match='`tables = "write"`'):
        # tables is there in this world; the message still asks for write for a write.
        raise MissingCapability("tables", "write")
    from componentize_py_types import Err

    with pytest.raises(Err) as err:
        _guest.audit(Admins(), scope(host.t))
    assert (
        "credits" in err.value.value.value and type(err.value.value).__name__ == "ClayError_Invalid"
    )


@pytest.mark.parametrize("host", [("tables", "workbooks")], indirect=True)
def test_a_write_call_asks_for_write(host: FakeHost) -> None:
    with pytest.raises(MissingCapability, match='add `workbooks = "write"`'):
        kiln_sdk.clay.workbooks.delete("wb_1")
    with pytest.raises(MissingCapability, match='add `tables = "read"`'):
        kiln_sdk.clay.tables.get("t_1")


# ---- conversions ----


def test_values_cross_into_the_bindings_and_back(host: FakeHost) -> None:
    t = host.t
    calls = []

    def add_rows(table_id: str, rows: list) -> list:
        calls.append(rows)
        return [
            t.Row(
                "r_1",
                [
                    t.Cell("f_1", t.CellValue_Text("x"), None),
                    t.Cell("f_2", t.CellValue_Number(2.0), t.CellStatus_Error("ERROR_X")),
                    t.Cell("f_3", t.CellValue_Boolean(True), t.CellStatus_RunConditionNotMet()),
                    t.Cell("f_4", t.CellValue_Json("{}"), t.CellStatus_Success()),
                    t.Cell("f_5", t.CellValue_Null(), t.CellStatus_Pending()),
                ],
                5,
                None,
            )
        ]

    def run_column(table_id: str, field_ids: list, target: Any, force: bool) -> Any:
        calls.append(target)
        return t.RunResult(t.RunMode.BULK, 3, 1.5)

    def list_resources(workspace_id: int, parent: Any, kinds: list) -> list:
        calls.append((parent, kinds))
        return [t.Resource("wb_1", "Q3", t.ResourceKind.WORKBOOK, "f_1", None, None, 7, False)]

    host.module("tables").add_rows = add_rows
    host.module("tables").run_column = run_column
    host.module("resources").list = list_resources
    host.module("credits").member_usage = lambda ws, r, ids: (
        calls.append(r) or [t.MemberCredits("1", 2.5, 3)]
    )
    c = kiln_sdk.clay
    (row,) = c.tables.add_rows(
        "t_1",
        [
            sdk.NewRow(
                [sdk.CellInput("f_1", v) for v in ("x", 2, True, None, sdk.Json("[]"))], id="r_x"
            )
        ],
    )
    assert calls[0] == [
        t.NewRow(
            "r_x",
            [
                t.CellInput("f_1", t.CellValue_Text("x")),
                t.CellInput("f_1", t.CellValue_Number(2.0)),
                t.CellInput("f_1", t.CellValue_Boolean(True)),
                t.CellInput("f_1", t.CellValue_Null()),
                t.CellInput("f_1", t.CellValue_Json("[]")),
            ],
        )
    ]
    assert row == sdk.Row(
        "r_1",
        [
            sdk.Cell("f_1", "x"),
            sdk.Cell("f_2", 2.0, sdk.CellStatus.error("ERROR_X")),
            sdk.Cell("f_3", True, sdk.CellStatus.run_condition_not_met()),
            sdk.Cell("f_4", sdk.Json("{}"), sdk.CellStatus.success()),
            sdk.Cell("f_5", None, sdk.CellStatus.pending()),
        ],
        created_at=5,
    )
    assert c.tables.run_column("t_1", ["f_1"], sdk.RunTarget.view_top("gv_1", 10)) == sdk.RunResult(
        sdk.RunMode.BULK, 3, 1.5
    )
    c.tables.run_column("t_1", ["f_1"], sdk.RunTarget.records(["r_1"]), True)
    assert calls[1] == t.RunTarget_ViewTop(t.ViewTopRecords("gv_1", 10))
    assert calls[2] == t.RunTarget_Records(["r_1"])
    (res,) = c.resources.list(
        1, sdk.ResourceRef("f_1", sdk.ResourceKind.FOLDER), [sdk.ResourceKind.WORKBOOK]
    )
    assert calls[3] == (t.ResourceRef("f_1", t.ResourceKind.FOLDER), [t.ResourceKind.WORKBOOK])
    assert (
        res.kind is sdk.ResourceKind.WORKBOOK
        and res.updated_at == 7
        and res.ref() == sdk.ResourceRef("wb_1", sdk.ResourceKind.WORKBOOK)
    )
    assert c.credits.member_usage(1, sdk.TimeRange(0, 9), ["1"]) == [sdk.MemberCredits("1", 2.5, 3)]
    assert calls[4] == t.TimeRange(0, 9)


def test_every_clay_error_case_converts_both_ways(host: FakeHost) -> None:
    t = host.t
    for kind in kiln_sdk.ClayErrorKind:
        e = kiln_sdk.ClayError(kind, 5 if kind is kiln_sdk.ClayErrorKind.RATE_LIMITED else "m")
        wit = _host.clay_error_to_wit(e)
        assert type(wit).__module__ == t.__name__
        assert _host.clay_error_from_wit(wit) == e


def test_config_and_log_reach_the_host(host: FakeHost) -> None:
    host.config = [("a", "1"), ("b", "x")]
    kiln_sdk.log.info("at build time")  # no host answers then: held for the first call
    assert host.logs == [] and _runtime.held_lines() == [(sdk.LogLevel.INFO, "at build time")]
    _runtime.go_live()
    assert kiln_sdk.Config.from_host() == kiln_sdk.Config({"a": "1", "b": "x"})
    assert kiln_sdk.clay.config.get("b") == "x"
    kiln_sdk.log.debug("quiet")
    kiln_sdk.log.error("loud")
    assert host.logs == [("INFO", "at build time"), ("DEBUG", "quiet"), ("ERROR", "loud")]
    assert _runtime.held_lines() is None


def test_settings_read_at_build_time_say_where_to_read_them(host: FakeHost) -> None:
    with pytest.raises(RuntimeError, match="read self.config in setup"):
        kiln_sdk.Config.from_host()
