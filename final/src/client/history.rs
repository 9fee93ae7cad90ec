//! `berth history IMAGE`: the steps an image was built from, newest first.
//!
//! An image's config keeps one history entry per build step (its command, time, comment);
//! the daemon pairs them with the layers' sizes (`GET /images/{name}/history`). Only the
//! newest step is the image itself: the others have no image of their own, and Docker shows
//! them as `<missing>`.

use std::io::{self, Write};

use berth_daemon::http::ClientRequest;
use berth_images::text::human_size;
use serde_json::Value;

use super::api::Api;
use super::error::Failure;
use super::format;

/// `history`'s header.
const HEADER: [&str; 5] = ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"];

/// `berth history [--no-trunc] IMAGE`.
pub fn history(api: &Api, image: &str, no_trunc: bool) -> Result<u8, Failure> {
    let steps = api.json(&ClientRequest::get(&format!("/images/{image}/history")))?;
    let mut rows = vec![format::header(&HEADER)];
    rows.extend(
        steps
            .as_array()
            .into_iter()
            .flatten()
            .map(|step| history_row(step, no_trunc)),
    );
    let _ = io::stdout()
        .lock()
        .write_all(format::table(&rows).as_bytes());
    Ok(0)
}

/// One row, as the docker CLI writes it (commands cut to 45 characters).
pub fn history_row(step: &Value, no_trunc: bool) -> Vec<String> {
    let id = format::text(step, "Id");
    let id = if id == "<missing>" || no_trunc {
        id.to_owned()
    } else {
        format::short_id(id)
    };
    let created = step["Created"]
        .as_u64()
        .filter(|&t| t > 0)
        .map(format::ago)
        .unwrap_or_else(|| "N/A".to_owned());
    let created_by = format::text(step, "CreatedBy").replace('\t', " ");
    let created_by = if no_trunc {
        created_by
    } else {
        format::ellipsis(&created_by, 45)
    };
    vec![
        id,
        created,
        created_by,
        human_size(step["Size"].as_u64().unwrap_or(0)),
        format::text(step, "Comment").to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_cut_ids_and_commands() {
        let step = json!({"Id": "sha256:0123456789abcdef", "Created": 1,
                          "CreatedBy": "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789 in /",
                          "Size": 4_261_000, "Comment": ""});
        let row = history_row(&step, false);
        assert_eq!(row[0], "0123456789ab");
        assert_eq!(row[2].chars().count(), 45);
        assert!(row[2].ends_with('…'));
        assert_eq!(row[3], "4.26MB");
        let missing = json!({"Id": "<missing>", "Created": 0, "CreatedBy": "CMD", "Size": 0});
        assert_eq!(history_row(&missing, false)[..2], ["<missing>", "N/A"]);
    }
}
