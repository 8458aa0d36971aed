"""The mock workspace, mirroring ``guest-sdk/src/testing/tests.rs``, and every Clay call
through the :data:`kiln_sdk.clay` facade."""

import re
from pathlib import Path
from typing import Tuple

import pytest

import kiln_sdk
from kiln_sdk import Batch, ClayError, ClayErrorKind, NoWorkspace, Row, clay, log, walk
from kiln_sdk.testing import DEFAULT_NOW, MockWorkspace, decode_outcomes
from kiln_sdk.types import (
    CellInput,
    CellStatus,
    LogLevel,
    MemberStatus,
    NewRow,
    ResourceKind,
    ResourceRef,
    Role,
    RunMode,
    RunTarget,
    StatusKind,
    TimeRange,
)


def leads(ws: MockWorkspace) -> Tuple[str, str]:
    t = ws.add_table("Leads", ["Email"])
    f = ws.add_action_column(t, "Phone", "find-mobile", "lusha", None, 2.0, ["Email"])
    return t, f


def test_enrichment_runs_fill_cells_charge_the_actor_and_skip_rows_already_done() -> None:
    ws = MockWorkspace("Acme")
    maya = ws.add_member("maya@acme.io", "Maya", Role.ADMIN, MemberStatus.ACTIVE)
    ws.act_as(maya)
    t, f = leads(ws)
    a = ws.add_row(t, {"Email": "a@b.io"})
    blank = ws.add_row(t, {"Email": " "})
    with ws.install():
        view = clay.tables.get(t).first_view_id
        assert view is not None
        everything = RunTarget.view_top(view)
        first = clay.tables.run_column(t, [f], everything)
        assert (first.mode, first.record_count, first.credits_spent) == (RunMode.BULK, 1, 2.0)
        assert ws.value(t, a, "Phone") == "find-mobile(a@b.io)"
        phone = ws.cell(t, blank, "Phone")
        assert phone is not None and phone.value is None
        assert phone.status is not None and phone.status.kind is StatusKind.RUN_CONDITION_NOT_MET

        # Done rows are not charged again unless forced.
        again = clay.tables.run_column(t, [f], everything)
        assert again.mode is RunMode.NONE and ws.credits_spent == 2.0
        clay.tables.run_column(t, [f], everything, force=True)
        assert ws.credits_spent == 4.0 and ws.credit_balance == 10_000.0 - 4.0

        period = TimeRange(0, ws.now + 1)
        report = clay.credits.workspace_report(1, period)
        assert all(e.kind != "user" for e in report.entities)
        spent = clay.credits.member_usage(1, period, [maya])
        assert (spent[0].user_id, spent[0].credits, spent[0].action_executions) == (maya, 4.0, 2)
        by_type = clay.credits.integration_report(1, period)
        assert (
            by_type.entities[0].id == "lusha" and by_type.entities[0].subentities[0].name == "Maya"
        )
        assert (
            clay.credits.spend_by_member(1, period, clay.credits.permissions(1))[maya].credits
            == 4.0
        )


def test_a_run_that_would_overdraw_the_pool_spends_nothing() -> None:
    ws = MockWorkspace("Acme")
    t, f = leads(ws)
    r = ws.add_row(t, {"Email": "a@b.io"})
    ws.set_credit_balance(1.0)
    with ws.install(), pytest.raises(ClayError) as e:
        clay.tables.run_column(t, [f], RunTarget.records([r]))
    assert e.value.kind is ClayErrorKind.BUDGET_EXHAUSTED
    assert ws.credits_spent == 0.0 and ws.cell(t, r, "Phone") is None


def test_a_removed_owners_integration_fails_like_clay() -> None:
    ws = MockWorkspace("Acme")
    sam = ws.add_member("sam@acme.io", "Sam", Role.MEMBER, MemberStatus.REMOVED)
    aa = ws.add_integration("Hunter", "hunter", sam)
    t = ws.add_table("Leads", ["Email"])
    f = ws.add_action_column(t, "Work", "find-work-email", "hunter", aa, 1.0, ["Email"])
    with ws.install(), pytest.raises(ClayError) as e:
        clay.tables.run_column(t, [f], RunTarget.records([]))
    assert e.value.kind is ClayErrorKind.UPSTREAM


def test_rows_follow_clays_limits_and_ids_make_adds_idempotent() -> None:
    ws = MockWorkspace("Acme")
    t = ws.add_table("Leads", ["Email"])
    email = ws.field_id(t, "email")
    assert email is not None
    row = NewRow([CellInput(email, "x@y.io")], id="r_client")
    with ws.install():
        clay.tables.add_rows(t, [row])
        clay.tables.add_rows(t, [row])
        assert clay.tables.count_rows(t) == 1
        with pytest.raises(ClayError, match="between 1 and 50"):
            clay.tables.add_rows(t, [row] * 51)
        with pytest.raises(ClayError, match="at most 200"):
            clay.tables.read_records(t, [f"r_{i}" for i in range(201)])
        with pytest.raises(ClayError, match="no field f_nope"):
            clay.tables.add_rows(t, [NewRow([CellInput("f_nope", None)])])
        assert clay.tables.count_rows(t) == 1
        added = clay.tables.add_rows(t, [NewRow([CellInput(email, 3)])])
        assert added[0].id.startswith("r_") and added[0].cells[0].value == 3.0
        assert [r.id for r in clay.tables.read_records(t, ["r_client", "r_nope"])] == ["r_client"]


def test_trashing_a_folder_hides_what_it_contains() -> None:
    ws = MockWorkspace("Acme")
    folder = ws.add_folder("Outbound")
    wb = ws.add_workbook("Q3", folder)
    t = ws.add_table("Leads", ["Email"], workbook_id=wb)
    with ws.install():
        with pytest.raises(ClayError) as e:
            clay.folders.create(1, "Outbound")
        assert e.value.kind is ClayErrorKind.CONFLICT
        assert [
            r.kind for r in clay.resources.list(1, ResourceRef(folder, ResourceKind.FOLDER))
        ] == [ResourceKind.WORKBOOK]
        clay.folders.delete(1, [folder])
        assert clay.resources.list(1) == []
        assert clay.resources.search(1, "leads") == []
        with pytest.raises(ClayError) as e:
            clay.tables.get(t)
        assert e.value.kind is ClayErrorKind.NOT_FOUND
    assert all(r.deleted for r in ws.resources())


def test_calling_clay_without_a_workspace_says_how_to_fix_it() -> None:
    with pytest.raises(NoWorkspace, match="no mock workspace installed.*MockWorkspace"):
        clay.workspaces.list()


def test_leaving_the_with_block_uninstalls_the_workspace() -> None:
    ws = MockWorkspace("Acme")
    with ws.install():
        assert clay.workspaces.list()[0].name == "Acme"
    with pytest.raises(NoWorkspace):
        clay.workspaces.list()
    installed = ws.install()
    assert clay.workspaces.list()[0].credit_balance == 10_000.0
    installed.uninstall()
    installed.uninstall()
    with pytest.raises(NoWorkspace):
        clay.workspaces.list()


def test_every_clay_function_answers_and_is_recorded() -> None:
    ws = MockWorkspace("Acme")
    maya = ws.add_member("maya@acme.io", "Maya", Role.ADMIN)
    ws.act_as(maya)
    ws.add_integration_type("hunter", "Hunter.io")
    aa = ws.add_integration("Hunter (team)", "hunter", maya)
    shared = ws.add_shared_integration("Clay Hunter", "hunter")
    sales = ws.add_folder("Sales")
    wb = ws.add_workbook("Leads", sales)
    t = ws.add_table("Leads 2026", ["Email"], workbook_id=wb)
    ws.record_table_usage(maya, "hunter", t, 12.0, ws.now - 1)
    ws.record_usage(None, "clearbit", 7.0, ws.now - 1)
    period = TimeRange(0, ws.now)
    with ws.install():
        assert clay.workspaces.list()[0].id == ws.workspace_id
        f = clay.folders.create(1, "Q3", sales)
        assert f.parent_folder_id == sales
        b = clay.workbooks.create(1, "Outbound", True, f.id)
        assert b.id.startswith("wb_") and b.auto_run
        clay.workbooks.delete(b.id)
        clay.folders.delete(1, [f.id], permanent=True)
        assert [r.name for r in clay.resources.search(1, "LEADS")] == ["Leads", "Leads 2026"]
        assert [r.kind for r in clay.resources.list(1, kinds=[ResourceKind.FOLDER])] == [
            ResourceKind.FOLDER
        ]
        view = clay.tables.get(t).views[0].id
        assert clay.tables.record_ids(t, view) == []
        source = clay.tables.add_webhook_source(t, "Signups")
        assert source.url is not None and clay.tables.list_sources(t) == [source]
        clay.tables.delete_source(source.id)
        clay.tables.add_rows(t, [NewRow([CellInput(ws.field_id(t, "Email") or "", "a@b.io")])])
        ids = clay.tables.record_ids(t, view)
        clay.tables.delete_rows(t, ids)
        clay.tables.add_rows(t, [NewRow([])])
        clay.tables.delete_all_rows(t, view)
        assert clay.tables.count_rows(t) == 0
        report = clay.credits.workspace_report(1, period)
        assert (report.entities[0].id, report.entities[0].kind, report.entities[0].credits) == (
            sales,
            "folder",
            12.0,
        )
        assert report.entities[0].subentities[0].id == wb and report.unattributed_credits == 7.0
        assert clay.credits.user_report(1, period, [maya]).unattributed_credits == 0.0
        assert (
            clay.credits.integration_specific_report(1, period, ["clearbit"]).unattributed_credits
            == 7.0
        )
        assert [e.id for e in clay.credits.integration_report(1, period).entities] == [
            "clearbit",
            "hunter",
        ]
        assert {r.name for r in clay.credits.user_resources(1, [maya])} >= {
            "Sales",
            "Leads",
            "Leads 2026",
        }
        integrations = clay.credits.integrations(1)
        assert [(i.id, i.shared) for i in integrations] == [(aa, False), (shared, True)]
        assert clay.credits.get_integration_type("hunter").name == "Hunter.io"
        assert len(clay.credits.list_integration_types()) == 2
        with pytest.raises(ClayError):
            clay.credits.get_integration_type("nope")
        with pytest.raises(ClayError, match="workspace 9"):
            clay.credits.permissions(9)
        assert clay.credits.member_usage(1, period, [maya])[0].credits == 12.0
        assert clay.tables.read_records(t, []) == []
        with pytest.raises(ClayError, match="at least one enrichment column"):
            clay.tables.run_column(t, [], RunTarget.records([]))
    assert ws.calls[:3] == ["workspaces::list", "folders::create", "workbooks::create"]
    assert set(ws.calls) == {f"{i}::{f}" for i, f in wit_functions() if i not in ("log", "config")}


def wit_functions() -> list:
    """Every function of every clay:api interface, snake_case, read from wit/clay.wit."""
    wit = (Path(__file__).resolve().parents[2] / "wit" / "clay.wit").read_text()
    out, interface = [], None
    for line in wit.splitlines():
        m = re.match(r"\s*interface ([a-z-]+) \{", line)
        if m:
            interface = m.group(1)
        m = re.match(r"\s*%?([a-z-]+): func\(", line)
        if m:
            out.append((interface, m.group(1).replace("-", "_")))
    return out


def test_the_facade_has_every_function_of_the_wit() -> None:
    functions = wit_functions()
    assert len(functions) == 31
    for interface, function in functions:
        assert callable(getattr(getattr(clay, interface), function)), f"{interface}.{function}"


def test_results_are_copies_the_plugin_cannot_change_the_workspace_through() -> None:
    ws = MockWorkspace("Acme")
    t = ws.add_table("Leads", ["Email"])
    with ws.install():
        clay.tables.get(t).fields.clear()
        assert len(clay.tables.get(t).fields) == 1


def test_failures_logs_and_the_clock() -> None:
    ws = MockWorkspace("Acme")
    ws.fail("workspaces::list", ClayError.denied("workspaces"))
    ws.set_now(42)
    ws.set_config("k", "v")
    with ws.install():
        assert clay.config.all() == [("k", "v")] and clay.config.get("k") == "v"
        assert clay.config.get("nope") is None
        clay.log.log(LogLevel.DEBUG, "via the interface")
        with pytest.raises(ClayError, match="denied: workspaces"):
            clay.workspaces.list()
        log.warn("3 rows skipped")
        log.info("done")
    assert ws.now == 42 and DEFAULT_NOW == 1_800_000_000_000
    assert ws.logs == [
        (LogLevel.DEBUG, "via the interface"),
        (LogLevel.WARN, "3 rows skipped"),
        (LogLevel.INFO, "done"),
    ]


def test_walk_reads_whole_workspaces_and_tables() -> None:
    ws = MockWorkspace("Acme")
    sales = ws.add_folder("Sales")
    wb = ws.add_workbook("Q3", sales)
    t1 = ws.add_table("Leads", ["Email"], workbook_id=wb)
    t2 = ws.add_table("Top", ["Name"])
    aa = ws.add_integration("Hunter", "hunter")
    f = ws.add_action_column(t1, "Work", "find-work-email", "hunter", aa, 1.0, ["Email"])
    ids = [ws.add_row(t1, {"Email": f"{i}@b.io"}) for i in range(450)]
    with ws.install():
        tables = walk.all_tables(1)
        assert sorted(t.id for t in tables) == sorted([t1, t2])
        view = ws.table(t1).first_view_id or ""
        assert [r.id for r in walk.all_rows(t1, view)] == ids
        (ref,) = walk.columns_using(tables, aa)
        assert str(ref) == f"Leads / Work ({t1}/{f})"
    assert ws.calls.count("tables::read_records") == 3


class Upper(kiln_sdk.Transformer):
    def setup(self) -> None:
        self.column = self.config.get("column", "Name")
        self.suffix = self.config.get("suffix", "")

    def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
        text = row.text(self.column)
        return (
            kiln_sdk.unchanged()
            if text is None
            else kiln_sdk.set({self.column: text.upper() + self.suffix})
        )


def test_run_transform_applies_effects_and_reads_results_by_column_name() -> None:
    ws = MockWorkspace()
    t = ws.add_table("People", ["Name", "Email"])
    ada = ws.add_row(t, {"Name": "ada"}, statuses={"Name": CellStatus.pending()})
    nobody = ws.add_row(t, {"Email": "x"})
    out = ws.run_transform(Upper(), "people")
    assert out.by_id(ada)["Name"] == "ADA" and "Email" not in out.by_id(ada)
    assert out.by_id(ada).is_set and out.by_id(nobody).is_unchanged
    assert out.changed == [out.by_id(ada)] and out.errors == []
    cell = ws.cell(t, ada, "Name")
    assert cell is not None and (cell.value, cell.status) == ("ADA", None)
    with pytest.raises(KeyError):
        out.by_id("r_nope")


def test_manifest_defaults_then_workspace_settings_then_the_runs_config(tmp_path: Path) -> None:
    manifest = tmp_path / "kiln.toml"
    manifest.write_text(
        'name = "x"\n[config.suffix]\ndefault = "!"\n[config.column]\ndefault = "Name"\n'
    )
    ws = MockWorkspace()
    t = ws.add_table("People", ["Name", "Nick"])
    r = ws.add_row(t, {"Name": "ada", "Nick": "a"})
    assert ws.run_transform(Upper(), t, manifest=manifest, dry_run=True).by_id(r)["Name"] == "ADA!"
    ws.set_config("suffix", "?")
    assert ws.run_transform(Upper(), t, manifest=manifest, dry_run=True).by_id(r)["Name"] == "ADA?"
    out = ws.run_transform(
        Upper(), t, manifest=manifest, config={"column": "Nick", "suffix": ""}, dry_run=True
    )
    assert out.by_id(r).cells == {"Nick": "A"}
    assert ws.value(t, r, "Name") == "ada"  # dry runs change nothing


def test_a_column_the_plugin_may_not_see_cannot_be_set() -> None:
    ws = MockWorkspace()
    t = ws.add_table("People", ["Name", "Secret"])
    r = ws.add_row(t, {"Name": "ada", "Secret": "s"})

    class Snoop(kiln_sdk.Transformer):
        def transform_row(self, row: Row, ctx: Batch) -> kiln_sdk.Outcome:
            assert row.get("Secret") is None and not ctx.has_column("Secret")
            return kiln_sdk.set({"Secret": "x"})

    out = ws.run_transform(Snoop(), t, columns=["Name"])
    assert out.by_id(r).message == "table `People` has no column `Secret`"
    assert ws.value(t, r, "Secret") == "s"


def test_the_host_refuses_a_cell_past_the_batchs_fields() -> None:
    from kiln_sdk import _codec
    from kiln_sdk.types import Field, Row as Record

    buf = _codec.write_outcomes(
        [_codec.WireOutcome.set_cells([(3, "x")]), _codec.WireOutcome.unchanged()]
    )
    out = decode_outcomes(buf, [Record("r_1"), Record("r_2"), Record("r_3")], [Field("f_a", "A")])
    assert (
        out[0].message
        == "refused: the plugin set cell #3, but the batch has 1 columns; nothing was changed for this row"
    )
    assert out[1].is_unchanged
    assert out[2].message == "the plugin returned no outcome for this row"


def test_plugins_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(TypeError, match="not a kiln_sdk.Transformer"):
        MockWorkspace().run_transform(object(), "x")
    with pytest.raises(TypeError, match="not a kiln_sdk.Auditor"):
        MockWorkspace().run_audit(Upper())
