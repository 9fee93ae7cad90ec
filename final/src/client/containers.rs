//! The container verbs that are a single request each: `ps`, `logs`, `stop`, `kill`, `rm`,
//! and `inspect` (containers first, then images, as `docker inspect` does).

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_daemon::http::ClientError;
use serde_json::Value;

use super::api::Api;
use super::error::Failure;
use super::format::{self, Format};
use super::run::each;
use super::stream;

/// `berth ps`.
pub fn ps(api: &Api, all: bool, quiet: bool, format: Option<&str>) -> Result<u8, Failure> {
    let format = Format::parse(format)?;
    let containers = api.containers(all)?;
    let mut out = io::stdout().lock();
    if format == Format::Json {
        format::print_json(&mut out, &Value::Array(containers))?;
    } else if quiet {
        for container in &containers {
            let _ = writeln!(out, "{}", format::short_id(format::text(container, "Id")));
        }
    } else {
        let mut rows = vec![format::header(&format::PS_HEADER)];
        rows.extend(containers.iter().map(format::container_row));
        let _ = out.write_all(format::table(&rows).as_bytes());
    }
    Ok(0)
}

/// `logs` flags.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `-f`.
    pub follow: bool,
    /// `-t`.
    pub timestamps: bool,
    /// `--tail N`.
    pub tail: Option<String>,
    /// `--since WHEN`.
    pub since: Option<String>,
}

/// `berth logs`.
pub fn logs(api: &Api, container: &str, options: LogOptions) -> Result<u8, Failure> {
    let mut query = vec![
        ("stdout", "1".to_owned()),
        ("stderr", "1".to_owned()),
        ("tail", options.tail.unwrap_or_else(|| "all".to_owned())),
    ];
    if options.follow {
        query.push(("follow", "1".to_owned()));
    }
    if options.timestamps {
        query.push(("timestamps", "1".to_owned()));
    }
    if let Some(since) = &options.since {
        query.push(("since", since_seconds(since, now())?.to_string()));
    }
    let response = api.logs(container, &query)?;
    // Framed or raw? The daemon says so in Content-Type; only if it does not, ask whether the
    // container has a TTY (one more round trip).
    let tty = match response.header("content-type") {
        Some(t) if t.starts_with("application/vnd.docker.raw-stream") => true,
        Some(t) if t.starts_with("application/vnd.docker.multiplexed-stream") => false,
        _ => api.inspect_container(container)?["Config"]["Tty"]
            .as_bool()
            .unwrap_or(false),
    };
    let body = response.into_body();
    let (mut out, mut err) = (io::stdout().lock(), io::stderr());
    let copied = if tty {
        stream::copy_raw(body, &mut out)
    } else {
        stream::demux(body, &mut out, &mut err)
    };
    copied.map_err(|e| Failure::new(e.to_string()))?;
    Ok(0)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `--since` as unix seconds: a number of seconds, an RFC 3339 time, or a duration before
/// `now` (`90s`, `10m`, `1h30m`), as Docker accepts.
pub fn since_seconds(text: &str, now: u64) -> Result<u64, Failure> {
    let invalid = || {
        Failure::new(format!(
            "invalid --since {text:?}: use unix seconds, an RFC 3339 time or a duration such as \
             10m or 1h30m"
        ))
    };
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    if let Some(seconds) = berth_images::text::parse_rfc3339(text) {
        return Ok(seconds);
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(invalid()),
        };
        let value: u64 = number.parse().map_err(|_| invalid())?;
        total = total.saturating_add(value.saturating_mul(unit));
        number.clear();
    }
    // `0s` is now (`events --until 0s`); an empty text or a number without a unit is not.
    if !number.is_empty() || text.is_empty() {
        return Err(invalid());
    }
    Ok(now.saturating_sub(total))
}

/// `berth stop`.
pub fn stop(api: &Api, seconds: Option<u32>, containers: &[String]) -> Result<u8, Failure> {
    each(containers, |c| api.stop(c, seconds).map_err(Failure::from))
}

/// `berth kill`.
pub fn kill(api: &Api, signal: Option<&str>, containers: &[String]) -> Result<u8, Failure> {
    each(containers, |c| api.kill(c, signal).map_err(Failure::from))
}

/// `berth rm`.
pub fn remove(api: &Api, force: bool, containers: &[String]) -> Result<u8, Failure> {
    each(containers, |c| api.remove(c, force).map_err(Failure::from))
}

/// `berth inspect`: a JSON array of what was found; exit 1 if anything was not.
pub fn inspect(api: &Api, format: Option<&str>, names: &[String]) -> Result<u8, Failure> {
    if Format::parse(format)? != Format::Json && format.is_some() {
        return Err(Failure::new(
            "inspect prints JSON only: use --format json or no --format",
        ));
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match inspect_one(api, name)? {
            Some(object) => found.push(object),
            None => missing.push(name),
        }
    }
    format::print_json(&mut io::stdout().lock(), &Value::Array(found))?;
    for name in &missing {
        eprintln!("berth: Error: No such object: {name}");
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}

/// A container named `name`, else an image; `None` if neither exists.
fn inspect_one(api: &Api, name: &str) -> Result<Option<Value>, Failure> {
    let not_found = |e: &ClientError| matches!(e, ClientError::Api { status: 404, .. });
    match api.inspect_container(name) {
        Ok(container) => return Ok(Some(container)),
        Err(e) if not_found(&e) => {}
        Err(e) => return Err(e.into()),
    }
    match api.inspect_image(name) {
        Ok(image) => Ok(Some(image)),
        Err(e) if not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_times_and_durations() {
        let now = 1_700_000_000;
        assert_eq!(since_seconds("1699999000", now).unwrap(), 1_699_999_000);
        assert_eq!(since_seconds("10m", now).unwrap(), now - 600);
        assert_eq!(since_seconds("1h30m", now).unwrap(), now - 5400);
        assert_eq!(since_seconds("0s", now).unwrap(), now);
        assert_eq!(
            since_seconds("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000
        );
        for bad in ["", "m", "5x", "10m5", "-1"] {
            assert!(since_seconds(bad, now).is_err(), "{bad:?} accepted");
        }
    }
}
