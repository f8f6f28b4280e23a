//! The client's copy of the monitored tables, kept up to date from the server's
//! `update` notifications (RFC 7047 §4.1.6).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::datum::Uuid;

/// One row: column name to value (absent columns hold their default).
pub type Row = Map<String, Value>;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Replica {
    tables: BTreeMap<String, BTreeMap<Uuid, Row>>,
}

/// A `<table-updates>` object that is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed table updates: {0}")]
pub struct UpdateError(pub String);

impl Replica {
    pub fn clear(&mut self) {
        self.tables.clear();
    }

    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&Uuid, &Row)> {
        self.tables.get(table).into_iter().flatten()
    }

    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// Applies `<table-updates>`: `{table: {uuid: {"old": row, "new": row}}}`. A row
    /// update without `new` deletes the row; with it, its columns replace the row's (a
    /// modify may carry only the changed ones). Either all of it applies or none.
    pub fn apply_update(&mut self, updates: &Value) -> Result<(), UpdateError> {
        let tables = updates
            .as_object()
            .ok_or_else(|| UpdateError("not an object".into()))?;
        let mut changes: Vec<(&str, &str, Option<&Row>)> = Vec::new();
        for (table, rows) in tables {
            let rows = rows
                .as_object()
                .ok_or_else(|| UpdateError(format!("table {table}: not an object")))?;
            for (uuid, update) in rows {
                let update = update
                    .as_object()
                    .ok_or_else(|| UpdateError(format!("{table} row {uuid}: not an object")))?;
                let new = match update.get("new") {
                    None => None,
                    Some(Value::Object(row)) => Some(row),
                    Some(_) => {
                        return Err(UpdateError(format!(
                            "{table} row {uuid}: \"new\" is not an object"
                        )))
                    }
                };
                changes.push((table, uuid, new));
            }
        }
        for (table, uuid, new) in changes {
            let rows = self.tables.entry(table.to_string()).or_default();
            match new {
                None => {
                    rows.remove(uuid);
                }
                Some(cols) => {
                    let row = rows.entry(uuid.to_string()).or_default();
                    for (c, v) in cols {
                        row.insert(c.clone(), v.clone());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn insert_modify_delete() {
        let mut r = Replica::default();
        r.apply_update(
            &json!({"Bridge": {"u1": {"new": {"name": "br-int", "fail_mode": ["set", []]}}}}),
        )
        .unwrap();
        assert_eq!(r.row("Bridge", "u1").unwrap()["name"], "br-int");
        r.apply_update(&json!({"Bridge": {"u1": {"old": {"fail_mode": ["set", []]}, "new": {"fail_mode": "secure"}}}}))
            .unwrap();
        let row = r.row("Bridge", "u1").unwrap();
        assert_eq!(row["fail_mode"], "secure");
        assert_eq!(row["name"], "br-int");
        r.apply_update(&json!({"Bridge": {"u1": {"old": {"name": "br-int"}}}}))
            .unwrap();
        assert!(r.row("Bridge", "u1").is_none());
    }

    #[test]
    fn a_malformed_update_changes_nothing() {
        let mut r = Replica::default();
        r.apply_update(&json!({"Port": {"p": {"new": {"name": "a"}}}}))
            .unwrap();
        let before = r.clone();
        assert!(r
            .apply_update(&json!({"Port": {"p": {"new": {"name": "b"}}, "q": {"new": 3}}}))
            .is_err());
        assert_eq!(r, before);
        assert!(r.apply_update(&json!([1])).is_err());
    }
}
