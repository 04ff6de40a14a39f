//! The embedded database's tables, and the check at open that every one
//! of them that already exists is plugbox's: a foreign `kv` or `kv_usage`
//! table (another program's file, an older layout) is refused with its
//! name, instead of failing every later write as if the disk were down.

use rusqlite::{Connection, OptionalExtension};

/// Creates what is missing; run after [`check`].
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS kv (
        ns TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        UNIQUE (ns, key)
    );
    CREATE INDEX IF NOT EXISTS kv_by_ns ON kv (ns);
    CREATE TABLE IF NOT EXISTS kv_usage (
        ns TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        keys INTEGER NOT NULL
    ) WITHOUT ROWID;
";

/// A table of [`SCHEMA`]: its columns (name, declared type) in order, and
/// the columns of the unique key its upserts (`ON CONFLICT`) rely on.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, &'static str)],
    key: &'static [&'static str],
}

const TABLES: &[Table] = &[
    Table {
        name: "kv",
        columns: &[("ns", "TEXT"), ("key", "TEXT"), ("value", "BLOB")],
        key: &["ns", "key"],
    },
    Table {
        name: "kv_usage",
        columns: &[("ns", "TEXT"), ("bytes", "INTEGER"), ("keys", "INTEGER")],
        key: &["ns"],
    },
];

/// Whether the database's tables that plugbox creates, where they exist
/// already, are the ones it created: `Ok(Err(why))` names the first that
/// is not, and what it has instead.
pub(super) fn check(conn: &Connection) -> rusqlite::Result<Result<(), String>> {
    for table in TABLES {
        let kind: Option<String> = conn
            .query_row(
                "SELECT type FROM sqlite_master WHERE name = ?1",
                [table.name],
                |r| r.get(0),
            )
            .optional()?;
        match kind.as_deref() {
            None => continue,
            Some("table") => {}
            Some(other) => {
                return Ok(Err(format!(
                    "its `{}` is {} {other}, not plugbox's table",
                    table.name,
                    if other == "index" { "an" } else { "a" }
                )));
            }
        }
        let columns: Vec<(String, String)> = conn
            .prepare("SELECT name, upper(type) FROM pragma_table_info(?1) ORDER BY cid")?
            .query_map([table.name], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let expected = table
            .columns
            .iter()
            .map(|&(n, t)| (n.to_string(), t.to_string()));
        if !columns.iter().cloned().eq(expected) {
            return Ok(Err(format!(
                "its table `{}` is not plugbox's: it has the columns `{}`, plugbox's has `{}`",
                table.name,
                list(columns.iter().map(|(n, t)| format!("{n} {t}"))),
                list(table.columns.iter().map(|(n, t)| format!("{n} {t}"))),
            )));
        }
        if !has_unique_key(conn, table)? {
            return Ok(Err(format!(
                "its table `{}` is not plugbox's: it has no unique key on `{}`",
                table.name,
                table.key.join(", ")
            )));
        }
    }
    Ok(Ok(()))
}

/// Whether `table` has a unique index (or primary key) on exactly its key.
fn has_unique_key(conn: &Connection, table: &Table) -> rusqlite::Result<bool> {
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1")?
        .query_map([table.name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for index in indexes {
        let columns: Vec<Option<String>> = conn
            .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?
            .query_map([&index], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if columns
            .iter()
            .map(Option::as_deref)
            .eq(table.key.iter().map(|&k| Some(k)))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
