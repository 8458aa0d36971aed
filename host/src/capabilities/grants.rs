//! What one plugin may do: an access level per interface and, for tables, which tables and
//! columns. Computed at load from the plugin's manifest and the operator's policy; checked
//! on every host call.

use std::collections::BTreeMap;
use std::fmt;

use crate::backend::model::{Field, Row, TableInfo};

/// A WIT interface of `clay:api` that a plugin can import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Interface {
    Workspaces,
    Folders,
    Resources,
    Workbooks,
    Tables,
    Credits,
    Log,
    Config,
}

impl Interface {
    pub const ALL: [Interface; 8] = [
        Interface::Workspaces,
        Interface::Folders,
        Interface::Resources,
        Interface::Workbooks,
        Interface::Tables,
        Interface::Credits,
        Interface::Log,
        Interface::Config,
    ];

    /// The interface's WIT name, e.g. `tables`.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Workspaces => "workspaces",
            Interface::Folders => "folders",
            Interface::Resources => "resources",
            Interface::Workbooks => "workbooks",
            Interface::Tables => "tables",
            Interface::Credits => "credits",
            Interface::Log => "log",
            Interface::Config => "config",
        }
    }

    pub fn from_name(name: &str) -> Option<Interface> {
        Interface::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Parses an import name such as `clay:api/tables@0.1.0`. `types` has no functions and
    /// needs no grant, so it maps to `None` like any non-Clay import.
    pub fn from_import(import: &str) -> Option<Interface> {
        let rest = import.strip_prefix("clay:api/")?;
        Interface::from_name(rest.split('@').next().unwrap_or(rest))
    }

    /// Runtime services every plugin gets without asking.
    pub fn always_granted(self) -> bool {
        matches!(self, Interface::Log | Interface::Config)
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clay:api/{}", self.name())
    }
}

/// How much of an interface a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// Which tables and columns a plugin may touch. A table must match every allow-list (the
/// manifest's and the policy's, each by id or name); a column must match the allow-list,
/// if there is one, and no deny-list entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableScope {
    pub table_lists: Vec<Vec<String>>,
    pub columns: Option<Vec<String>>,
    pub denied_columns: Vec<String>,
}

fn names(list: &[String], id: &str, name: &str) -> bool {
    list.iter()
        .any(|entry| entry == id || entry.eq_ignore_ascii_case(name))
}

impl TableScope {
    pub fn is_unrestricted(&self) -> bool {
        self.table_lists.is_empty() && self.columns.is_none() && self.denied_columns.is_empty()
    }

    /// Whether some columns are hidden from the plugin (otherwise rows pass whole).
    pub fn restricts_columns(&self) -> bool {
        self.columns.is_some() || !self.denied_columns.is_empty()
    }

    pub fn allows_table(&self, table: &TableInfo) -> bool {
        self.allows_table_named(&table.id, &table.name)
    }

    /// [`TableScope::allows_table`] from a table's id and name alone (a resource listing).
    pub fn allows_table_named(&self, id: &str, name: &str) -> bool {
        self.table_lists.iter().all(|list| names(list, id, name))
    }

    /// Whether only some tables are granted (column lists do not hide tables).
    pub fn restricts_tables(&self) -> bool {
        !self.table_lists.is_empty()
    }

    pub fn allows_field(&self, field: &Field) -> bool {
        let allowed = self
            .columns
            .as_ref()
            .is_none_or(|list| names(list, &field.id, &field.name));
        allowed && !names(&self.denied_columns, &field.id, &field.name)
    }

    /// The table as the plugin may see it: only granted columns.
    pub fn visible(&self, table: &TableInfo) -> TableInfo {
        let mut table = table.clone();
        table.fields.retain(|f| self.allows_field(f));
        table
    }

    /// Drops the cells of columns the plugin may not see.
    pub fn strip(&self, table: &TableInfo, row: &mut Row) {
        if !self.restricts_columns() {
            return;
        }
        row.cells.retain(|c| {
            table
                .field(&c.field_id)
                .is_some_and(|f| self.allows_field(f))
        });
    }

    /// How the scope reads in an error message.
    pub fn describe_tables(&self) -> String {
        match self.table_lists.as_slice() {
            [] => "any table".to_string(),
            lists => lists
                .iter()
                .map(|l| l.join(", "))
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }
}

/// The effective grants of one plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Grants {
    by_interface: BTreeMap<Interface, Access>,
    pub tables: TableScope,
}

impl Grants {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, interface: Interface, access: Access) -> Self {
        self.by_interface.insert(interface, access);
        self
    }

    pub fn with_tables(mut self, scope: TableScope) -> Self {
        self.tables = scope;
        self
    }

    pub fn get(&self, interface: Interface) -> Option<Access> {
        self.by_interface.get(&interface).copied()
    }

    /// Whether `access` to `interface` is granted; `log` and `config` are always readable.
    pub fn allows(&self, interface: Interface, access: Access) -> bool {
        if interface.always_granted() && access == Access::Read {
            return true;
        }
        self.get(interface).is_some_and(|granted| granted >= access)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Interface, Access)> + '_ {
        self.by_interface.iter().map(|(i, a)| (*i, *a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::model::{FieldKind, TableKind};

    fn field(id: &str, name: &str) -> Field {
        Field {
            id: id.into(),
            name: name.into(),
            kind: FieldKind::Text,
            action: None,
        }
    }

    fn leads() -> TableInfo {
        TableInfo {
            id: "t_1".into(),
            name: "Leads".into(),
            kind: TableKind::People,
            workspace_id: 1,
            workbook_id: None,
            first_view_id: None,
            views: vec![],
            fields: vec![field("f_1", "Email"), field("f_2", "Phone")],
        }
    }

    #[test]
    fn a_table_must_be_on_every_list_by_id_or_name() {
        let t = leads();
        let mut scope = TableScope::default();
        assert!(scope.allows_table(&t));
        scope.table_lists.push(vec!["leads".into()]);
        assert!(scope.allows_table(&t), "names match case-insensitively");
        scope.table_lists.push(vec!["t_1".into()]);
        assert!(scope.allows_table(&t));
        scope.table_lists.push(vec!["Accounts".into()]);
        assert!(!scope.allows_table(&t));
    }

    #[test]
    fn columns_are_allowed_then_denied() {
        let t = leads();
        let scope = TableScope {
            columns: Some(vec!["Email".into(), "f_2".into()]),
            denied_columns: vec!["phone".into()],
            ..TableScope::default()
        };
        let visible = scope.visible(&t);
        assert_eq!(visible.fields.len(), 1);
        assert_eq!(visible.fields[0].name, "Email");
    }
}
