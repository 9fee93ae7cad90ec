//! Health checks: a command the engine runs inside a running container, again and again, to
//! learn whether the program in it still works.
//!
//! A process can run and be useless (a web server stuck in a loop). `docker run --health-cmd`
//! (or an image's `HEALTHCHECK`) names a probe; the engine runs it every `interval` as an exec
//! (chapter 1's `enter`, as `docker exec` does), gives it `timeout` to finish, and keeps the
//! last five results. The container is `starting` until a probe succeeds, `healthy` after a
//! success, `unhealthy` after `retries` failures in a row; failures during the
//! `start_period` do not count while it is still starting (a slow program gets time to come
//! up). Each change of status is a `health_status: ...` event. The rules and the numbers are
//! moby's (`daemon/health.go`).

use std::collections::VecDeque;
use std::time::Duration;

use berth_images::container::ContainerRecord;
use serde::{Deserialize, Serialize};

/// The record's slot holding a container's [`HealthConfig`] (absent without a check).
pub const SLOT: &str = "health";

/// How many results are kept (moby's `maxLogEntries`).
pub const KEPT_RESULTS: usize = 5;
/// How much of a probe's output is kept (moby's `maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;
/// Defaults for what the user did not say, as moby's.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The default time a probe may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default number of failures in a row that make a container unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;

// ANCHOR: config
/// `Config.Healthcheck`: the probe and its timing. Durations of zero mean the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["CMD", prog, args...]`, `["CMD-SHELL", "command line"]`, or `["NONE"]` (disabled).
    pub test: Vec<String>,
    /// Time between two probes.
    pub interval: Duration,
    /// Time a probe may take before it counts as failed.
    pub timeout: Duration,
    /// Failures in a row before the container is unhealthy.
    pub retries: u32,
    /// Time after the start during which failures do not count while still `starting`.
    pub start_period: Duration,
}
// ANCHOR_END: config

impl HealthConfig {
    /// The program and arguments of the probe; `None` for `NONE` (or nothing to run).
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first()? {
            (kind, args) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
            (kind, [line]) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), line.clone()])
            }
            _ => None,
        }
    }

    /// The interval, or the default.
    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }

    /// The timeout, or the default.
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }

    /// The retries, or the default.
    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }

    /// The check a container was created with, if it has one that runs something.
    pub fn of(record: &ContainerRecord) -> Option<HealthConfig> {
        record
            .slots
            .get(SLOT)
            .and_then(|slot| serde_json::from_value::<HealthConfig>(slot.clone()).ok())
            .filter(|config| config.command().is_some())
    }
}

fn or_default(value: Duration, default: Duration) -> Duration {
    if value.is_zero() { default } else { value }
}

/// `State.Health.Status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No probe has succeeded yet.
    Starting,
    /// The last probe succeeded.
    Healthy,
    /// `retries` probes in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's word for it (`docker ps` and the `health` filter use it too).
    pub fn name(&self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe's result (`State.Health.Log[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// When it started, RFC 3339 with nanoseconds.
    pub start: String,
    /// When it ended.
    pub end: String,
    /// Its exit code; -1 if it timed out or could not run.
    pub exit_code: i32,
    /// The first [`MAX_OUTPUT`] bytes of its output (stdout and stderr).
    pub output: String,
}

/// `State.Health`: where a container's checks stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Starting, healthy or unhealthy.
    pub status: HealthStatus,
    /// Failures in a row that counted.
    pub failing_streak: u32,
    /// The last [`KEPT_RESULTS`] probes, oldest first.
    pub log: VecDeque<Probe>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: VecDeque::new(),
        }
    }
}

impl Health {
    // ANCHOR: record
    /// Takes in a probe's result; `in_start_period` if it started within the start period.
    /// The new status, if it changed.
    pub fn record(
        &mut self,
        probe: Probe,
        retries: u32,
        in_start_period: bool,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if probe.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push_back(probe);
        while self.log.len() > KEPT_RESULTS {
            self.log.pop_front();
        }
        (self.status != before).then_some(self.status)
    }
    // ANCHOR_END: record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(exit_code: i32) -> Probe {
        Probe {
            start: String::new(),
            end: String::new(),
            exit_code,
            output: String::new(),
        }
    }

    #[test]
    fn tests_as_docker_writes_them() {
        let config = |test: &[&str]| HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..HealthConfig::default()
        };
        assert_eq!(
            config(&["CMD-SHELL", "true"]).command(),
            Some(vec!["/bin/sh".into(), "-c".into(), "true".into()])
        );
        assert_eq!(
            config(&["CMD", "test", "-f", "/x"])
                .command()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(config(&["NONE"]).command(), None);
        assert_eq!(config(&[]).command(), None);
        assert_eq!(config(&["CMD"]).interval(), DEFAULT_INTERVAL);
    }

    #[test]
    fn status_follows_mobys_rules() {
        let mut health = Health::default();
        // Failures in the start period do not count while starting.
        assert_eq!(health.record(probe(1), 2, true), None);
        assert_eq!(health.failing_streak, 0);
        assert_eq!(
            health.record(probe(0), 2, true),
            Some(HealthStatus::Healthy)
        );
        assert_eq!(health.record(probe(1), 2, false), None);
        assert_eq!(
            health.record(probe(1), 2, false),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(health.failing_streak, 2);
        for _ in 0..10 {
            health.record(probe(1), 2, false);
        }
        assert_eq!(health.log.len(), KEPT_RESULTS);
    }
}
