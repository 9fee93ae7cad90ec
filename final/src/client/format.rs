//! What list verbs print: Docker's tables for people, one JSON document for scripts.
//!
//! Tables are Docker's: upper-case headers, columns three spaces apart, ids cut to 12 hex
//! digits, times as "5 minutes ago", sizes in decimal units. They are for reading, and their
//! shape may change. `--format json` is the stable interface: one JSON document (an array for
//! `ps`, `images` and `inspect`, an object for `version` and `info`) holding the daemon's own
//! objects, so a script reads exactly the API's field names. (Docker's `--format json` prints
//! one object per line for lists; one document is easier to parse and to pipe into `jq`.)

use std::io::Write;

use serde_json::Value;

use super::error::Failure;

/// How to print a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
}

impl Format {
    /// Parses `--format` (absent = table). Go templates are not supported, and saying so
    /// beats printing something else.
    pub fn parse(flag: Option<&str>) -> Result<Format, Failure> {
        match flag {
            None | Some("table") => Ok(Format::Table),
            Some("json") | Some("{{json .}}") => Ok(Format::Json),
            Some(other) => Err(Failure::new(format!(
                "unsupported --format {other:?}: use 'table' or 'json' (Go templates are not \
                 supported)"
            ))),
        }
    }
}

/// Prints one JSON document, pretty and newline-terminated.
pub fn print_json(out: &mut dyn Write, value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(format!("encoding JSON: {e}")))?;
    writeln!(out, "{text}").map_err(|e| Failure::new(format!("writing the output: {e}")))
}

/// Lays rows out in columns, the first row being the header.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count();
                line.push_str(&" ".repeat(pad + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The short id: 12 hex digits, without `sha256:`.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// Cuts `text` to `max` characters, ending in `…` when cut (Docker's `ps` does this to
/// commands).
pub fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// "5 minutes ago" for a unix time (Docker's words, from chapter 2).
pub fn ago(created: u64) -> String {
    format!("{} ago", berth_images::text::human_duration(created))
}

/// The string at `key`, or "".
pub fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

/// One `ps` row from a `GET /containers/json` entry.
pub fn container_row(container: &Value) -> Vec<String> {
    let command = format!("\"{}\"", ellipsis(text(container, "Command"), 20));
    let created = container["Created"].as_u64().map(ago).unwrap_or_default();
    let ports: Vec<String> = container["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| {
            let private = port["PrivatePort"].as_u64().unwrap_or(0);
            let kind = port["Type"].as_str().unwrap_or("tcp");
            match port["PublicPort"].as_u64() {
                Some(public) => {
                    let ip = port["IP"]
                        .as_str()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or("0.0.0.0");
                    format!("{ip}:{public}->{private}/{kind}")
                }
                None => format!("{private}/{kind}"),
            }
        })
        .collect();
    let names: Vec<&str> = container["Names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| name.trim_start_matches('/'))
        .collect();
    vec![
        short_id(text(container, "Id")),
        text(container, "Image").to_owned(),
        command,
        created,
        text(container, "Status").to_owned(),
        ports.join(", "),
        names.join(","),
    ]
}

/// The `ps` header.
pub const PS_HEADER: [&str; 7] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// `images` rows from a `GET /images/json` entry: one per tag, or one `<none>` row.
pub fn image_rows(image: &Value) -> Vec<Vec<String>> {
    let id = short_id(text(image, "Id"));
    let created = image["Created"].as_u64().map(ago).unwrap_or_default();
    let size = berth_images::text::human_size(image["Size"].as_u64().unwrap_or(0));
    let tags: Vec<&str> = image["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let tags = if tags.is_empty() {
        vec!["<none>:<none>"]
    } else {
        tags
    };
    tags.into_iter()
        .map(|tag| {
            // A registry port is not a tag: split at the last ':' after the last '/'.
            let (repo, tag) = match tag.rsplit_once(':') {
                Some((repo, t)) if !t.contains('/') => (repo, t),
                _ => (tag, "<none>"),
            };
            vec![
                repo.to_owned(),
                tag.to_owned(),
                id.clone(),
                created.clone(),
                size.clone(),
            ]
        })
        .collect()
}

/// The `images` header.
pub const IMAGES_HEADER: [&str; 5] = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];

/// A header as a row.
pub fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn formats_are_table_or_json_only() {
        assert_eq!(Format::parse(None).unwrap(), Format::Table);
        assert_eq!(Format::parse(Some("json")).unwrap(), Format::Json);
        let error = Format::parse(Some("{{.ID}}")).unwrap_err();
        assert!(error.message.contains("{{.ID}}"), "{error}");
    }

    #[test]
    fn tables_align_columns_three_spaces_apart() {
        let rows = vec![
            header(&["A", "LONGER", "C"]),
            vec!["xyz".into(), "1".into(), "".into()],
        ];
        assert_eq!(table(&rows), "A     LONGER   C\nxyz   1\n");
    }

    #[test]
    fn ps_rows_read_like_dockers() {
        let container = json!({
            "Id": "0123456789abcdef0123",
            "Names": ["/web"],
            "Image": "busybox",
            "Command": "sh -c 'while true; do date; sleep 1; done'",
            "Created": 0,
            "State": "running",
            "Status": "Up 5 minutes",
            "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                      {"PrivatePort": 53, "Type": "udp"}],
        });
        let row = container_row(&container);
        assert_eq!(row[0], "0123456789ab");
        // 19 characters and an ellipsis: 20 in all.
        assert_eq!(row[2], "\"sh -c 'while true; …\"");
        assert!(row[3].ends_with(" ago"), "{}", row[3]);
        assert_eq!(row[5], "0.0.0.0:8080->80/tcp, 53/udp");
        assert_eq!(row[6], "web");
    }

    #[test]
    fn image_rows_split_tags_after_the_registry_port() {
        let image = json!({
            "Id": "sha256:abcdef0123456789",
            "RepoTags": ["busybox:latest", "localhost:5000/team/bb:1.0"],
            "Created": 0,
            "Size": 4_261_000,
        });
        let rows = image_rows(&image);
        assert_eq!(rows[0][..3], ["busybox", "latest", "abcdef012345"]);
        assert_eq!(rows[1][..2], ["localhost:5000/team/bb", "1.0"]);
        assert_eq!(rows[1][4], "4.26MB");
        let dangling = image_rows(&json!({"Id": "sha256:ff", "RepoTags": []}));
        assert_eq!(dangling[0][..2], ["<none>", "<none>"]);
    }
}
