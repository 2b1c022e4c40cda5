//! Principal search (RFC 3744 §9.4): the principals of one organization whose display name,
//! e-mail address or kind match, found through indexes and compared under i;unicode-casemap.
//!
//! SQLite's own `LIKE` folds ASCII only, so both sides are folded with [`CASEMAP_FN`], the
//! function CardDAV's card index uses (`vcard::unicode_casemap`), registered on every
//! connection. The candidates come from the organization's indexes (members by
//! `memberships` primary key, rooms and teams by `principals_by_org`), never a table scan.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, params_from_iter, types::Value};

use super::{map_err, rows};
use crate::store::{Principal, PrincipalField, PrincipalSearch, PrincipalTerm, SearchMatch, StoreResult};
use crate::vcard::unicode_casemap;

/// The SQL name of the i;unicode-casemap fold (RFC 4790 §9.3).
pub const CASEMAP_FN: &str = "davit_casemap";

/// Registers [`CASEMAP_FN`] on a connection: text in, folded text out, NULL stays NULL.
pub fn register_casemap(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        CASEMAP_FN,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| Ok(ctx.get::<Option<String>>(0)?.map(|s| unicode_casemap(&s))),
    )
}

/// The principals in scope, as one indexed set: the viewer, the organization's members and
/// its rooms and teams. `?1` is the viewer, `?2` the organization (NULL: nobody else).
const SCOPE: &str = "WITH scope(principal_id) AS (
        SELECT ?1
        UNION SELECT user_id FROM memberships WHERE org_id = ?2
        UNION SELECT id FROM principals WHERE org_id = ?2
    )";

pub fn search_principals(conn: &Connection, search: &PrincipalSearch) -> StoreResult<Vec<Principal>> {
    let (sql, values) = search_query(search);
    let mut stmt = conn.prepare(&sql).map_err(map_err)?;
    let found = stmt.query_map(params_from_iter(values), rows::principal).map_err(map_err)?;
    found.collect::<Result<_, _>>().map_err(map_err)
}

/// The SQL of a search and its parameters.
pub(crate) fn search_query(search: &PrincipalSearch) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = vec![Value::Integer(search.viewer), search.organization.into()];
    let conditions: Vec<String> = search.terms.iter().map(|t| condition(t, &mut values)).collect();
    let filter = match (conditions.is_empty(), search.all_of) {
        (true, _) => String::from("1"),
        (false, true) => conditions.join(" AND "),
        (false, false) => conditions.join(" OR "),
    };
    values.push(Value::Integer(i64::try_from(search.limit).unwrap_or(i64::MAX)));
    let sql = format!(
        "{SCOPE} SELECT {} FROM scope JOIN principals p ON p.id = scope.principal_id WHERE {filter}
         ORDER BY p.display_name COLLATE NOCASE, p.id LIMIT ?{}",
        rows::PRINCIPAL_COLUMNS,
        values.len()
    );
    (sql, values)
}

/// One term as SQL; its text goes into `values` as a bound parameter, never into the SQL.
fn condition(term: &PrincipalTerm, values: &mut Vec<Value>) -> String {
    match term {
        PrincipalTerm::Text { field, text, how } => {
            values.push(Value::Text(like_pattern(text, *how)));
            let column = match field {
                PrincipalField::DisplayName => "p.display_name",
                PrincipalField::Email => "p.email",
                PrincipalField::MailtoAddress => "'mailto:' || p.email",
            };
            format!("{CASEMAP_FN}({column}) LIKE ?{} ESCAPE '\\'", values.len())
        }
        PrincipalTerm::Kind(kinds) if kinds.is_empty() => String::from("0"),
        // Kind names are constants of ours, so they may be written into the SQL.
        PrincipalTerm::Kind(kinds) => {
            let names: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
            format!("p.kind IN ({})", names.join(", "))
        }
    }
}

/// A `LIKE … ESCAPE '\'` pattern for the folded text: its own `%`, `_` and `\` are literal.
fn like_pattern(text: &str, how: SearchMatch) -> String {
    let escaped = unicode_casemap(text).replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    match how {
        SearchMatch::Contains => format!("%{escaped}%"),
        SearchMatch::StartsWith => format!("{escaped}%"),
        SearchMatch::EndsWith => format!("%{escaped}"),
        SearchMatch::Equals => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_wildcards_and_fold() {
        assert_eq!(like_pattern("MÜller", SearchMatch::Contains), "%mu\u{308}ller%");
        assert_eq!(like_pattern("50%_a\\b", SearchMatch::StartsWith), "50\\%\\_a\\\\b%");
        assert_eq!(like_pattern("x", SearchMatch::EndsWith), "%x");
        assert_eq!(like_pattern("X", SearchMatch::Equals), "x");
    }
}
