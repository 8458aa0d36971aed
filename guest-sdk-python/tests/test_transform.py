"""Rows, outcomes and the transformer glue, mirroring ``guest-sdk/src/transform.rs``'s tests."""

import math
from typing import Sequence

import pytest

import kiln_sdk
from kiln_sdk import Batch, ConfigError, Error, Json, Outcome, Row
from kiln_sdk import _codec
from kiln_sdk import transform as tr
from kiln_sdk.testing import MockWorkspace, make_batch, row_with, table_with_columns
from kiln_sdk.types import Cell, CellStatus, Row as Record, TransformContext


def test_cells_are_found_by_id_by_name_in_any_case_and_the_first_of_a_field_wins() -> None:
    table = table_with_columns("Leads", ["Email", "Full Name", "Phone"])
    batch = make_batch(
        table,
        [
            # Out of order, a field the table does not have, a field twice.
            Record(
                "r_1",
                [
                    Cell("f_9", "stray"),
                    Cell("f_2", "555"),
                    Cell("f_0", "a@b.io"),
                    Cell("f_0", "second"),
                ],
            ),
            Record("r_2", [Cell("f_1", "Ada")]),
        ],
    )
    r1, r2 = batch
    assert r1["Email"] == "a@b.io" and r1["EMAIL"] == "a@b.io" and r1["f_0"] == "a@b.io"
    assert r1.get("Phone") == "555"
    assert r1["Full Name"] is None and r1.get("Full Name", "-") == "-"
    assert r1.get("f_9") is None
    with pytest.raises(KeyError, match="table `Leads` has no column `f_9`"):
        r1["f_9"]
    assert r2.text("full name") == "Ada" and r2.get("Email") is None
    assert "Email" in r1 and "Email" not in r2

    # A write of what is there is no change; the row's own cells decide, not another's.
    wire = batch.resolve(
        [
            r1 and kiln_sdk.set({"Email": "a@b.io", "full name": "Grace"}),
            kiln_sdk.set({"Full Name": "Ada"}),
        ]
    )
    assert wire[0] == _codec.WireOutcome.set_cells([(1, "Grace")])
    assert wire[1] == _codec.WireOutcome.unchanged()


def test_a_column_name_equal_to_another_columns_id_finds_the_id() -> None:
    table = table_with_columns("Leads", ["f_1", "Name"])
    batch = make_batch(table, [row_with(table, "r_1", {"f_1": "by name", "Name": "by id"})])
    assert batch[0]["f_1"] == "by id"
    assert batch.field("name").id == "f_1"  # type: ignore[union-attr]
    assert batch.has_column("F_1") and not batch.has_column("nope")


def test_outcomes_resolve_like_the_rust_sdk() -> None:
    table = table_with_columns("Leads", ["Email", "Name"])
    batch = make_batch(table, [row_with(table, f"r_{i}", {"Email": "a@b.io"}) for i in range(7)])
    wire = batch.resolve(
        [
            kiln_sdk.unchanged(),
            kiln_sdk.set({"name": "Ada", "Email": "a@b.io"}),
            kiln_sdk.delete(),
            kiln_sdk.error("no"),
            # Set, set again: the last write wins and moves to the end.
            kiln_sdk.unchanged().set("Email", "x@y.z").set("Name", "N").set("Email", "w@y.z"),
            # A later write of the current value undoes an earlier change: the last write wins.
            kiln_sdk.set({"Email": "x@y.z"}).set("Email", "a@b.io"),
            # An unknown column fails the row, whatever else it sets.
            kiln_sdk.set({"Email": "x@y.z", "Nope": 1}),
        ]
    )
    assert wire == [
        _codec.WireOutcome.unchanged(),
        _codec.WireOutcome.set_cells([(1, "Ada")]),
        _codec.WireOutcome.delete(),
        _codec.WireOutcome.error("no"),
        _codec.WireOutcome.set_cells([(1, "N"), (0, "w@y.z")]),
        _codec.WireOutcome.unchanged(),
        _codec.WireOutcome.error("table `Leads` has no column `Nope`"),
    ]


def test_setting_on_a_deleted_or_failed_row_does_nothing() -> None:
    assert kiln_sdk.delete().set("Email", "x").kind == "delete"
    assert kiln_sdk.error("e").set("Email", "x") == kiln_sdk.error("e")
    assert kiln_sdk.unchanged().is_unchanged and not kiln_sdk.set({"A": 1}).is_unchanged


def test_values_are_typed_as_clay_types_them() -> None:
    o = kiln_sdk.set(
        {"n": 3, "f": 2.5, "b": True, "t": "x", "z": None, "j": {"a": [1]}, "l": [1, "é"]}
    )
    assert o.cells == (
        ("n", 3.0),
        ("f", 2.5),
        ("b", True),
        ("t", "x"),
        ("z", None),
        ("j", Json('{"a":[1]}')),
        ("l", Json('[1,"é"]')),
    )
    assert isinstance(o.cells[0][1], float)
    assert kiln_sdk.set(Email="x").cells == (("Email", "x"),)
    assert kiln_sdk.set_cells({"A": 1}) == kiln_sdk.set({"A": 1})
    with pytest.raises(TypeError, match="cell value"):
        kiln_sdk.set({"A": object()})
    with pytest.raises(TypeError, match="column"):
        kiln_sdk.unchanged().set(3, "x")  # type: ignore[arg-type]


def test_a_boolean_is_not_the_number_one_and_json_is_not_text() -> None:
    table = table_with_columns("T", ["A", "B"])
    batch = make_batch(table, [row_with(table, "r", {"A": 1, "B": "[]"})])
    wire = batch.resolve([kiln_sdk.set({"A": True, "B": Json("[]")})])
    assert wire[0] == _codec.WireOutcome.set_cells([(0, True), (1, Json("[]"))])
    assert batch.resolve([kiln_sdk.set({"A": 1.0, "B": "[]"})])[0].kind == "unchanged"


def test_every_row_gets_one_outcome_and_a_short_or_long_answer_fails_rows() -> None:
    table = table_with_columns("Leads", ["Email"])
    batch = make_batch(table, [row_with(table, f"r_{i}", {}) for i in range(3)])
    wire = batch.resolve([kiln_sdk.unchanged(), None])
    assert wire[0].kind == "unchanged"
    assert (
        wire[1]
        == wire[2]
        == _codec.WireOutcome.error("the plugin returned no outcome for this row")
    )
    too_many = batch.resolve([kiln_sdk.unchanged()] * 4)
    assert all(
        w.kind == "error" and "4 outcomes for a batch of 3" in (w.message or "") for w in too_many
    )
    with pytest.raises(TypeError, match="return kiln_sdk.set"):
        batch.resolve(["unchanged"])  # type: ignore[list-item]


def test_a_row_keeps_its_statuses_stamps_and_values_of_every_kind() -> None:
    table = table_with_columns("Leads", ["Score", "Ok", "Data", "Empty"])
    record = Record(
        "r_1",
        [
            Cell("f_0", 7.5, CellStatus.error("ERROR_X")),
            Cell("f_1", True),
            Cell("f_2", Json('{"k": 1}'), CellStatus.success()),
            Cell("f_3", None),
        ],
        created_at=1,
        updated_at=None,
    )
    row = make_batch(table, [record])[0]
    assert row.to_record() == record
    assert row.number("score") == 7.5 and row.text("Ok") == "true"
    assert row.status("Score") == CellStatus.error("ERROR_X") and row.status("Ok") is None
    assert row.status("Score").is_error  # type: ignore[union-attr]
    assert row.json("Data") == {"k": 1} and row.json("Ok", "no") == "no"
    assert row["Data"] == Json('{"k": 1}') and row.text("Data") == '{"k": 1}'
    assert (row.id, row.created_at, row.updated_at, row.index) == ("r_1", 1, None, 0)
    assert row["Empty"] is None and row.text("Empty") is None and row.number("Empty") is None


@pytest.mark.parametrize(
    "value, text",
    [
        (3.0, "3"),
        (-0.0, "0"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (1e15, "1000000000000000"),
        (1.2345678901234566e25, "12345678901234566000000000"),
        (math.nan, "NaN"),
        (-math.inf, "-inf"),
        (False, "false"),
        ("x", "x"),
        (Json("[1]"), "[1]"),
        (None, None),
    ],
)
def test_text_formats_numbers_as_rust_does(value: object, text: object) -> None:
    assert tr.cell_text(value) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text, number",
    [
        (" 42 ", 42.0),
        ("-1.5e3", -1500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("inf", math.inf),
        ("1_000", None),
        ("1,5", None),
        ("", None),
        ("\x1c1", None),
    ],
)
def test_number_parses_text_as_rusts_f64_does(text: str, number: object) -> None:
    table = table_with_columns("T", ["A"])
    row = make_batch(table, [row_with(table, "r", {"A": text})])[0]
    assert row.number("A") == number


class Lower(kiln_sdk.Transformer):
    """Mirrors the scaffold: trims and lower-cases a column."""

    def setup(self) -> None:
        self.column = self.config.get("column", "Email")

    def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
        email = row.text(self.column)
        if email is None:
            return kiln_sdk.unchanged()
        if not email.strip():
            return kiln_sdk.error("the email is blank")
        return kiln_sdk.set({self.column: email.strip().lower()})


def context(table: object, n: int) -> TransformContext:
    return TransformContext(workspace_id=1, table=table, batch_index=0, total_rows=n, dry_run=False)  # type: ignore[arg-type]


def test_the_buffer_the_host_reads_says_what_resolve_says() -> None:
    table = table_with_columns("Leads", ["Email"])
    rows = [
        row_with(table, "r_1", {"Email": " A@B.io"}),
        row_with(table, "r_2", {"Email": " "}),
        row_with(table, "r_3", {}),
    ]
    ws = MockWorkspace()
    with ws.install():
        from kiln_sdk.testing import encode_rows

        out = tr.run(Lower(), encode_rows(table.fields, rows), context(table, 3))
    assert _codec.read_outcomes(out, 3) == [
        _codec.WireOutcome.set_cells([(0, "a@b.io")]),
        _codec.WireOutcome.error("the email is blank"),
        _codec.WireOutcome.unchanged(),
    ]


class Strict(kiln_sdk.Transformer):
    starts = 0

    def setup(self) -> None:
        Strict.starts += 1
        self.limit = self.config.get_int("limit")

    def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
        return kiln_sdk.unchanged()


def test_a_plugin_that_cannot_start_fails_every_row_and_is_tried_again() -> None:
    ws = MockWorkspace()
    t = ws.add_table("Leads", ["Email"])
    ws.add_row(t, {"Email": "a"})
    ws.add_row(t, {"Email": "b"})
    out = ws.run_transform(Strict(), "Leads", config={"limit": "lots"}, batch_size=1)
    assert [r.message for r in out] == [
        "the plugin could not start: config key `limit` has value `lots`: expected a whole number, e.g. 3"
    ] * 2
    assert Strict.starts == 2  # once per batch until it starts
    out = ws.run_transform(Strict, "Leads")
    assert (
        out[0].message
        == "the plugin could not start: config key `limit` is not set: it has no default; set it in kiln.toml or with -c"
    )
    assert ws.run_transform(Strict, "Leads", config={"limit": 3}).errors == []


class Boom(kiln_sdk.Transformer):
    def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
        raise Error(
            "a kiln_sdk.Error in a row is still a bug: Rust's transform cannot fail a row by returning Err"
        )


def test_an_exception_in_a_row_is_not_swallowed() -> None:
    ws = MockWorkspace()
    t = ws.add_table("Leads", ["Email"])
    ws.add_row(t, {"Email": "a"})
    with pytest.raises(Error, match="still a bug"):
        ws.run_transform(Boom(), t)


class WholeBatch(kiln_sdk.Transformer):
    def transform_batch(self, batch: Batch) -> Sequence[Outcome]:
        if batch.dry_run:
            return [kiln_sdk.error(f"dry {batch.batch_index}/{batch.total_rows}")] * len(batch)
        return [kiln_sdk.delete() if r.index % 2 else kiln_sdk.unchanged() for r in batch]


def test_a_batch_level_transformer_sees_the_context() -> None:
    ws = MockWorkspace()
    t = ws.add_table("Leads", ["Email"])
    ids = [ws.add_row(t, {"Email": str(i)}) for i in range(5)]
    out = ws.run_transform(WholeBatch(), t, batch_size=2, dry_run=True)
    assert [r.message for r in out] == ["dry 0/5", "dry 0/5", "dry 1/5", "dry 1/5", "dry 2/5"]
    assert len(ws.rows(t)) == 5
    out = ws.run_transform(WholeBatch(), t, batch_size=2)
    assert [r.kind for r in out] == ["unchanged", "delete", "unchanged", "delete", "unchanged"]
    assert [r.id for r in ws.rows(t)] == [ids[0], ids[2], ids[4]]


def test_a_transformer_that_overrides_nothing_says_what_to_override() -> None:
    table = table_with_columns("T", ["A"])
    with pytest.raises(NotImplementedError, match="must override transform_row"):
        kiln_sdk.Transformer().transform_batch(make_batch(table, [row_with(table, "r", {})]))


def test_config_errors_read_like_rusts() -> None:
    assert str(ConfigError("k", "v", "why")) == "config key `k` has value `v`: why"
