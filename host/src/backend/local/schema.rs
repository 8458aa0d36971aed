//! The workspace file's schema. Rows keep their cells as one JSON document: Clay's cells
//! are sparse and typed per value, and a row is always read and written whole.

pub(super) const VERSION: i64 = 2;

/// What takes a file of an older version to this one, step by step: (from, SQL).
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    // 1 → 2: Clay-managed shared integrations (`isSharedPublicKey`).
    (
        1,
        "ALTER TABLE integrations ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;",
    ),
];

pub(super) const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    credit_pool REAL NOT NULL
);
CREATE TABLE members (
    user_id TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL
);
-- Folders, workbooks and tables: one tree.
CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id TEXT,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    auto_run INTEGER NOT NULL DEFAULT 0,
    table_kind TEXT
);
CREATE INDEX resources_parent ON resources(parent_id);
CREATE TABLE views (
    id TEXT PRIMARY KEY,
    table_id TEXT NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE fields (
    id TEXT PRIMARY KEY,
    table_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    position INTEGER NOT NULL,
    action TEXT
);
CREATE INDEX fields_table ON fields(table_id, position);
-- seq keeps insertion order, which is the order Clay returns record ids in.
CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    table_id TEXT NOT NULL,
    source_id TEXT,
    cells TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX records_table ON records(table_id, seq);
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    table_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    url TEXT,
    records_received INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE integration_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    provider_name TEXT NOT NULL,
    authentication_type TEXT NOT NULL
);
CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    type_id TEXT NOT NULL,
    owner_id TEXT,
    created_at INTEGER NOT NULL,
    -- Clay-managed, shared by the workspace: owned by nobody, never orphaned.
    shared INTEGER NOT NULL DEFAULT 0
);
-- One row per credit-spending action execution.
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    user_id TEXT,
    integration_id TEXT,
    package_id TEXT NOT NULL,
    table_id TEXT,
    field_id TEXT,
    credits REAL NOT NULL
);
CREATE INDEX ledger_at ON ledger(workspace_id, at);
"#;
