//! `container prune`, `image prune`, `system prune` and `system df`: what takes disk space,
//! and removing what nothing uses.
//!
//! In Docker the daemon decides what is unused and deletes it (`POST /containers/prune`,
//! `/images/prune`, `/networks/prune`, `/build/prune`) and measures (`GET /system/df`); the
//! CLI asks for confirmation first, sends the user's filters, and prints Docker's report:
//! what was deleted, then `Total reclaimed space`.

use std::io::{self, BufRead, Write};

use berth_daemon::http::ClientRequest;
use berth_images::text::human_size;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::api::Api;
use super::error::Failure;
use super::filters;
use super::format;

/// Prune flags shared by the prune verbs.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Only what matches, e.g. `until=24h`, `label=env=test` (repeatable).
    #[arg(long = "filter", value_name = "NAME=VALUE")]
    pub filters: Vec<String>,
}

/// `berth container ...`.
#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove all stopped containers.
    Prune(PruneArgs),
}

/// `berth image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Remove unused images (dangling ones only, unless -a).
    Prune {
        /// Every image no container uses, not just dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Confirmation and filters.
        #[command(flatten)]
        prune: PruneArgs,
    },
    /// Show the layers an image was built from.
    History {
        /// Do not cut the CREATED BY column.
        #[arg(long)]
        no_trunc: bool,
        /// The image.
        image: String,
    },
}

/// `berth system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show the disk space images, containers, volumes and the build cache take.
    Df,
    /// Remove stopped containers, unused networks, dangling (or -a: unused) images and the
    /// build cache.
    Prune {
        /// Every unused image, not just dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Confirmation and filters.
        #[command(flatten)]
        prune: PruneArgs,
    },
}

/// Asks `warning` + "Are you sure...?" unless `force`; only `y` or `yes` goes on.
fn confirmed(force: bool, warning: &str) -> bool {
    if force {
        return true;
    }
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = io::stdout().flush();
    let mut answer = String::new();
    if io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Sends one prune request and returns its answer.
fn prune(api: &Api, path: &str, filters: Option<String>) -> Result<Value, Failure> {
    let mut request = ClientRequest::post(path);
    if let Some(filters) = filters {
        request = request.query("filters", filters);
    }
    Ok(api.json(&request)?)
}

/// The lines of a prune report for one kind (`Deleted Containers:` and the ids), if any.
fn deleted_section(title: &str, lines: Vec<String>) -> String {
    if lines.is_empty() {
        return String::new();
    }
    format!("{title}:\n{}\n\n", lines.join("\n"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// `untagged: NAME` and `deleted: ID` lines of an image prune.
fn image_lines(answer: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in answer["ImagesDeleted"].as_array().into_iter().flatten() {
        if let Some(name) = entry["Untagged"].as_str() {
            lines.push(format!("untagged: {name}"));
        }
        if let Some(id) = entry["Deleted"].as_str() {
            lines.push(format!("deleted: {id}"));
        }
    }
    lines
}

fn reclaimed(answer: &Value) -> u64 {
    answer["SpaceReclaimed"].as_u64().unwrap_or(0)
}

fn cancelled(what: &str) -> Result<u8, Failure> {
    eprintln!("{what} has been cancelled");
    Ok(0)
}

/// `berth container prune`.
pub fn containers(api: &Api, args: &PruneArgs) -> Result<u8, Failure> {
    let filters = filters::query(&args.filters, &[])?;
    if !confirmed(
        args.force,
        "WARNING! This will remove all stopped containers.",
    ) {
        return cancelled("container prune");
    }
    let answer = prune(api, "/containers/prune", filters)?;
    println!(
        "{}Total reclaimed space: {}",
        deleted_section("Deleted Containers", strings(&answer["ContainersDeleted"])),
        human_size(reclaimed(&answer))
    );
    Ok(0)
}

/// `berth image prune [-a]`.
pub fn images(api: &Api, all: bool, args: &PruneArgs) -> Result<u8, Failure> {
    let dangling = if all { "false" } else { "true" };
    let filters = filters::query(&args.filters, &[("dangling", dangling)])?;
    let warning = if all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !confirmed(args.force, warning) {
        return cancelled("image prune");
    }
    let answer = prune(api, "/images/prune", filters)?;
    println!(
        "{}Total reclaimed space: {}",
        deleted_section("Deleted Images", image_lines(&answer)),
        human_size(reclaimed(&answer))
    );
    Ok(0)
}

/// `berth system prune [-a]`: containers, networks, images, build cache, in Docker's order.
pub fn system(api: &Api, all: bool, args: &PruneArgs) -> Result<u8, Failure> {
    let images = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    let warning = format!(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by \
         at least one container\n  - {images}\n  - unused build cache\n"
    );
    if !confirmed(args.force, &warning) {
        return cancelled("system prune");
    }
    let plain = filters::query(&args.filters, &[])?;
    let dangling = if all { "false" } else { "true" };
    let mut report = String::new();
    let mut total = 0;

    let answer = prune(api, "/containers/prune", plain.clone())?;
    report.push_str(&deleted_section(
        "Deleted Containers",
        strings(&answer["ContainersDeleted"]),
    ));
    total += reclaimed(&answer);
    let answer = prune(api, "/networks/prune", plain.clone())?;
    report.push_str(&deleted_section(
        "Deleted Networks",
        strings(&answer["NetworksDeleted"]),
    ));
    let answer = prune(
        api,
        "/images/prune",
        filters::query(&args.filters, &[("dangling", dangling)])?,
    )?;
    report.push_str(&deleted_section("Deleted Images", image_lines(&answer)));
    total += reclaimed(&answer);
    let answer = prune(api, "/build/prune", plain)?;
    report.push_str(&deleted_section(
        "Deleted build cache objects",
        strings(&answer["CachesDeleted"]),
    ));
    total += reclaimed(&answer);
    println!("{report}Total reclaimed space: {}", human_size(total));
    Ok(0)
}

/// `berth system df`.
pub fn df(api: &Api) -> Result<u8, Failure> {
    let usage = api.json(&ClientRequest::get("/system/df"))?;
    let _ = io::stdout()
        .lock()
        .write_all(format::table(&df_rows(&usage)).as_bytes());
    Ok(0)
}

/// `reclaimable (percent%)`, Docker's RECLAIMABLE cell.
fn reclaimable_cell(reclaimable: u64, total: u64) -> String {
    if total == 0 {
        return human_size(reclaimable);
    }
    format!(
        "{} ({}%)",
        human_size(reclaimable),
        reclaimable * 100 / total
    )
}

/// `system df`'s table, computed from `GET /system/df` as the docker CLI does.
pub fn df_rows(usage: &Value) -> Vec<Vec<String>> {
    let list = |key: &str| usage[key].as_array().cloned().unwrap_or_default();
    let number = |v: &Value, key: &str| v[key].as_i64().unwrap_or(0).max(0) as u64;

    let images = list("Images");
    let layers = number(usage, "LayersSize");
    let in_use: Vec<&Value> = images
        .iter()
        .filter(|i| number(i, "Containers") > 0)
        .collect();
    let used: u64 = in_use
        .iter()
        .map(|i| number(i, "Size").saturating_sub(number(i, "SharedSize")))
        .sum();

    let containers = list("Containers");
    let active = |c: &&Value| {
        matches!(
            format::text(c, "State"),
            "running" | "paused" | "restarting"
        )
    };
    let rw: u64 = containers.iter().map(|c| number(c, "SizeRw")).sum();
    let idle_rw: u64 = containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| number(c, "SizeRw"))
        .sum();

    let volumes = list("Volumes");
    let volume_size = |v: &Value| number(&v["UsageData"], "Size");
    let volume_used = |v: &&Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
    let volume_total: u64 = volumes.iter().map(volume_size).sum();
    let volume_idle: u64 = volumes
        .iter()
        .filter(|v| !volume_used(v))
        .map(volume_size)
        .sum();

    let cache = list("BuildCache");
    let cache_total: u64 = cache.iter().map(|c| number(c, "Size")).sum();
    let cache_idle: u64 = cache
        .iter()
        .filter(|c| c["InUse"].as_bool() != Some(true))
        .map(|c| number(c, "Size"))
        .sum();

    vec![
        format::header(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]),
        vec![
            "Images".into(),
            images.len().to_string(),
            in_use.len().to_string(),
            human_size(layers),
            reclaimable_cell(layers.saturating_sub(used), layers),
        ],
        vec![
            "Containers".into(),
            containers.len().to_string(),
            containers.iter().filter(active).count().to_string(),
            human_size(rw),
            reclaimable_cell(idle_rw, rw),
        ],
        vec![
            "Local Volumes".into(),
            volumes.len().to_string(),
            volumes.iter().filter(volume_used).count().to_string(),
            human_size(volume_total),
            reclaimable_cell(volume_idle, volume_total),
        ],
        vec![
            "Build Cache".into(),
            cache.len().to_string(),
            cache
                .iter()
                .filter(|c| c["InUse"].as_bool() == Some(true))
                .count()
                .to_string(),
            human_size(cache_total),
            human_size(cache_idle),
        ],
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn df_counts_what_is_in_use_as_docker_does() {
        let usage = json!({
            "LayersSize": 1000,
            "Images": [{"Size": 600, "SharedSize": 100, "Containers": 1},
                       {"Size": 500, "SharedSize": 100, "Containers": 0}],
            "Containers": [{"State": "running", "SizeRw": 10},
                           {"State": "exited", "SizeRw": 30}],
            "Volumes": [{"UsageData": {"Size": 50, "RefCount": 0}}],
            "BuildCache": [],
        });
        let rows = df_rows(&usage);
        assert_eq!(rows[1], ["Images", "2", "1", "1kB", "500B (50%)"]);
        assert_eq!(rows[2], ["Containers", "2", "1", "40B", "30B (75%)"]);
        assert_eq!(rows[3], ["Local Volumes", "1", "0", "50B", "50B (100%)"]);
        assert_eq!(rows[4], ["Build Cache", "0", "0", "0B", "0B"]);
    }

    #[test]
    fn prune_reports_list_what_went() {
        let answer = json!({"ImagesDeleted": [{"Untagged": "a:1"}, {"Deleted": "sha256:ff"}]});
        assert_eq!(
            deleted_section("Deleted Images", image_lines(&answer)),
            "Deleted Images:\nuntagged: a:1\ndeleted: sha256:ff\n\n"
        );
        assert_eq!(deleted_section("Deleted Containers", vec![]), "");
    }
}
