//! `berth stats`: what containers use, computed from the daemon's counters as `docker stats`
//! computes it.
//!
//! The daemon sends raw counters (`GET /containers/{id}/stats`), never percentages: CPU time
//! only grows, so a share of the machine is the difference between two readings (`cpu_stats`
//! and `precpu_stats`) of the container's time over the same difference of the machine's,
//! times its CPUs. Memory in use leaves out the page cache the kernel can drop at once
//! (`inactive_file`), as the docker CLI does since 19.03. The client does this arithmetic;
//! the daemon just reads files.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_daemon::http::ClientRequest;
use serde_json::Value;

use super::api::Api;
use super::error::Failure;
use super::format;

/// The columns, as `docker stats` prints them.
const HEADER: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

/// `berth stats [--no-stream] [CONTAINER...]`: every running container when none is named.
pub fn stats(api: &Api, no_stream: bool, containers: &[String]) -> Result<u8, Failure> {
    let ids: Vec<String> = if containers.is_empty() {
        api.containers(false)?
            .iter()
            .map(|c| format::text(c, "Id").to_owned())
            .collect()
    } else {
        containers.to_vec()
    };
    if no_stream {
        let mut rows = vec![format::header(&HEADER)];
        for id in &ids {
            let request =
                ClientRequest::get(&format!("/containers/{id}/stats")).query("stream", "0");
            rows.push(row(&api.json(&request)?));
        }
        let _ = io::stdout()
            .lock()
            .write_all(format::table(&rows).as_bytes());
        return Ok(0);
    }
    stream(api, &ids)
}

/// The streaming view: one reader per container, the table redrawn every second until
/// every stream has ended (the containers were removed) or the user interrupts.
fn stream(api: &Api, ids: &[String]) -> Result<u8, Failure> {
    let latest: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
    let mut readers = Vec::new();
    for id in ids {
        let response = api
            .call(&ClientRequest::get(&format!("/containers/{id}/stats")).query("stream", "1"))?
            .error_for_status()?;
        let (latest, id) = (Arc::clone(&latest), id.clone());
        readers.push(std::thread::spawn(move || {
            for object in response.json_stream::<Value>() {
                let Ok(object) = object else { break };
                latest
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), object);
            }
        }));
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let mut rows = vec![format::header(&HEADER)];
        {
            let latest = latest.lock().unwrap_or_else(|p| p.into_inner());
            rows.extend(ids.iter().filter_map(|id| latest.get(id)).map(row));
        }
        // Clear the screen and go home, as `docker stats` redraws.
        let mut out = io::stdout().lock();
        let _ = write!(out, "\x1b[2J\x1b[H{}", format::table(&rows));
        let _ = out.flush();
        if readers.iter().all(|r| r.is_finished()) {
            return Ok(0);
        }
    }
}

/// One row of the table from one stats object.
fn row(stats: &Value) -> Vec<String> {
    let memory = memory_usage(&stats["memory_stats"]);
    let limit = stats["memory_stats"]["limit"].as_u64().unwrap_or(0);
    let memory_percent = if limit > 0 {
        memory as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (read, written) = block_io(&stats["blkio_stats"]);
    vec![
        format::short_id(format::text(stats, "id")),
        format::text(stats, "name")
            .trim_start_matches('/')
            .to_owned(),
        format!("{:.2}%", cpu_percent(stats)),
        format!("{} / {}", binary_size(memory), binary_size(limit)),
        format!("{memory_percent:.2}%"),
        // Chapter 7's: no network counters yet.
        "--".to_owned(),
        format!(
            "{} / {}",
            berth_images::text::human_size(read),
            berth_images::text::human_size(written)
        ),
        stats["pids_stats"]["current"]
            .as_u64()
            .unwrap_or(0)
            .to_string(),
    ]
}

// ANCHOR: cpu_percent
/// The container's CPU use between the two readings, in percent of one CPU (a container
/// busy on two CPUs shows 200%).
fn cpu_percent(stats: &Value) -> f64 {
    let number = |v: &Value| v.as_u64().unwrap_or(0) as f64;
    let (now, before) = (&stats["cpu_stats"], &stats["precpu_stats"]);
    let cpu =
        number(&now["cpu_usage"]["total_usage"]) - number(&before["cpu_usage"]["total_usage"]);
    let system = number(&now["system_cpu_usage"]) - number(&before["system_cpu_usage"]);
    let cpus = match now["online_cpus"].as_u64() {
        Some(n) if n > 0 => n as f64,
        _ => now["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0.0, |a| a.len() as f64),
    };
    if cpu > 0.0 && system > 0.0 {
        cpu / system * cpus * 100.0
    } else {
        0.0
    }
}
// ANCHOR_END: cpu_percent

/// Memory in use without the inactive page cache (`total_inactive_file` in v1's keys,
/// `inactive_file` in v2's).
fn memory_usage(memory: &Value) -> u64 {
    let usage = memory["usage"].as_u64().unwrap_or(0);
    let cache = ["total_inactive_file", "inactive_file"]
        .iter()
        .find_map(|key| memory["stats"][key].as_u64())
        .unwrap_or(0);
    if cache < usage { usage - cache } else { usage }
}

/// Bytes read and written, over every device.
fn block_io(blkio: &Value) -> (u64, u64) {
    let mut totals = (0, 0);
    for entry in blkio["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let value = entry["value"].as_u64().unwrap_or(0);
        match entry["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => totals.0 += value,
            Some("write") => totals.1 += value,
            _ => {}
        }
    }
    totals
}

/// Binary units with four significant digits, as Docker's `units.BytesSize`: `64MiB`,
/// `1.523MiB`, `0B`.
fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    // %.4g: four significant digits, trailing zeros dropped.
    let decimals = 3usize.saturating_sub(value.max(1.0).log10().floor() as usize);
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(64 << 20), "64MiB");
        assert_eq!(binary_size(1_597_000), "1.523MiB");
        assert_eq!(binary_size(1536), "1.5KiB");
    }

    #[test]
    fn cpu_and_memory_as_the_docker_cli_computes_them() {
        let stats = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000u64},
                          "system_cpu_usage": 4_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 500_000_000u64},
                             "system_cpu_usage": 2_000_000_000u64},
            "memory_stats": {"usage": 10_000, "limit": 100_000,
                             "stats": {"total_inactive_file": 2_000}},
        });
        // 1 s of CPU time in 2 s of the machine's (two CPUs, 1 s each): one CPU's worth.
        assert_eq!(cpu_percent(&stats), 100.0);
        assert_eq!(memory_usage(&stats["memory_stats"]), 8_000);
        let stopped = json!({"cpu_stats": {"cpu_usage": {"total_usage": 0}},
                             "precpu_stats": {"cpu_usage": {"total_usage": 0}}});
        assert_eq!(cpu_percent(&stopped), 0.0);
    }
}
