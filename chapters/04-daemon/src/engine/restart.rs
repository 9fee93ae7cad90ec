//! Restart policies: what the engine does when a container's process ends by itself.
//!
//! `docker run --restart always` asks the daemon, not the user, to start the container again
//! whenever it exits. Docker's four policies are `no` (the default), `on-failure[:N]` (only
//! after a non-zero exit, at most N times), `always`, and `unless-stopped` (as `always`, except
//! after the user stopped it). Three rules keep this from fighting the user, and they are
//! moby's (`restartmanager` and the daemon's `restore`):
//!
//! - a container the user stopped or killed is not restarted: the user asked for the exit;
//! - a container that crashes at once is not restarted at once: the delay starts at 100 ms and
//!   doubles with each restart (at most a minute), and goes back to 100 ms once a run lasted
//!   10 seconds;
//! - when the daemon starts, it starts again the `always` containers (even those the user
//!   stopped: that stop lasted until the daemon's restart), the `unless-stopped` ones the user
//!   did not stop, and the `on-failure` ones that failed and have retries left.
//!
//! The policy is written once, in the container's record (slot [`SLOT`]); what changes between
//! runs, how often it was restarted and whether the user stopped it, is in `restart.json`
//! next to `state.json` ([`Memory`]), so that a restarted daemon still knows both.

use std::path::Path;
use std::time::Duration;

use berth_images::container::ContainerRecord;
use serde::{Deserialize, Serialize};

/// The record's slot holding a container's [`RestartPolicy`] (absent for `no`).
pub const SLOT: &str = "restart";

/// The file, in the container's directory, where [`Memory`] is kept.
const FILE: &str = "restart.json";

/// The first delay before a restart; it doubles with each restart (moby's `defaultTimeout`).
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay between two restarts.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay to [`FIRST_DELAY`].
pub const STABLE_RUN: Duration = Duration::from_secs(10);

// ANCHOR: policy
/// `HostConfig.RestartPolicy`: when the engine starts a container again after it exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never (`--restart no`, the default).
    #[default]
    No,
    /// After a non-zero exit; at most `max_retries` times in a row (0: no limit).
    OnFailure {
        /// `--restart on-failure:N`'s N; 0 = no limit.
        max_retries: u32,
    },
    /// After every exit, unless the user stopped it (then again when the daemon starts).
    Always,
    /// As `Always`, except that a container the user stopped stays stopped, also when the
    /// daemon starts.
    UnlessStopped,
}
// ANCHOR_END: policy

/// Why a restart policy was refused: moby's words, which clients show as they are.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A name that is none of Docker's four.
    #[error(
        "invalid restart policy: unknown policy '{0}'; use one of 'no', 'always', \
         'on-failure', or 'unless-stopped'"
    )]
    Unknown(String),
    /// A retry count with another policy than `on-failure`.
    #[error("invalid restart policy: maximum retry count can only be used with 'on-failure'")]
    RetriesWithout,
    /// A negative (or absurd) retry count.
    #[error("invalid restart policy: maximum retry count cannot be negative")]
    NegativeRetries,
}

impl RestartPolicy {
    /// Docker's `{"Name": name, "MaximumRetryCount": max}`, checked as moby checks it.
    pub fn parse(name: &str, max_retries: i64) -> Result<RestartPolicy, PolicyError> {
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => {
                let max_retries =
                    u32::try_from(max_retries).map_err(|_| PolicyError::NegativeRetries)?;
                return Ok(RestartPolicy::OnFailure { max_retries });
            }
            other => return Err(PolicyError::Unknown(other.to_owned())),
        };
        if max_retries != 0 {
            return Err(PolicyError::RetriesWithout);
        }
        Ok(policy)
    }

    /// Docker's name for it, as inspect shows it.
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// `MaximumRetryCount` as inspect shows it.
    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => *max_retries,
            _ => 0,
        }
    }

    /// The policy a container was created with (`no` if its record has none).
    pub fn of(record: &ContainerRecord) -> RestartPolicy {
        record
            .slots
            .get(SLOT)
            .and_then(|slot| serde_json::from_value(slot.clone()).ok())
            .unwrap_or_default()
    }

    // ANCHOR: decide
    /// Whether a container that just exited with `exit_code` is started again, given what
    /// the engine remembers of it.
    pub fn restarts_after_exit(&self, exit_code: i32, memory: &Memory) -> bool {
        if memory.manually_stopped {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure { max_retries } => {
                exit_code != 0 && (*max_retries == 0 || memory.restart_count < *max_retries)
            }
        }
    }

    /// Whether a container found exited when the daemon starts is started again.
    pub fn restarts_with_daemon(&self, exit_code: i32, memory: &Memory) -> bool {
        match self {
            // The user's stop lasted until now.
            RestartPolicy::Always => true,
            _ => self.restarts_after_exit(exit_code, memory),
        }
    }
    // ANCHOR_END: decide
}

/// What the engine remembers of a container between its runs (`restart.json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// How many times the engine started it again since the user last started it
    /// (`RestartCount` in inspect).
    pub restart_count: u32,
    /// The user stopped or killed it since they last started it.
    pub manually_stopped: bool,
}

impl Memory {
    /// Reads it from the container's directory; a container never restarted nor stopped has
    /// none (and a damaged file counts as none: the worst outcome is one restart too many).
    pub fn load(container_dir: &Path) -> Memory {
        std::fs::read(container_dir.join(FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes it atomically.
    pub fn save(&self, container_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        berth_images::store::atomic::write_fast(&container_dir.join(FILE), &json)
    }
}

// ANCHOR: backoff
/// The delay before the next restart, given the last one and how long the run lasted
/// (moby's `restartmanager`): 100 ms, doubling, at most a minute, and 100 ms again after a
/// run of 10 seconds or more.
pub fn next_delay(last: Option<Duration>, ran_for: Duration) -> Duration {
    match last {
        Some(last) if ran_for < STABLE_RUN => (last * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}
// ANCHOR_END: backoff

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_policies_parse_and_bad_ones_are_refused_with_mobys_words() {
        assert_eq!(RestartPolicy::parse("", 0), Ok(RestartPolicy::No));
        assert_eq!(RestartPolicy::parse("always", 0), Ok(RestartPolicy::Always));
        assert_eq!(
            RestartPolicy::parse("on-failure", 3),
            Ok(RestartPolicy::OnFailure { max_retries: 3 })
        );
        assert_eq!(
            RestartPolicy::parse("always", 2),
            Err(PolicyError::RetriesWithout)
        );
        assert_eq!(
            RestartPolicy::parse("on-failure", -1),
            Err(PolicyError::NegativeRetries)
        );
        let unknown = RestartPolicy::parse("sometimes", 0).unwrap_err();
        assert!(unknown.to_string().contains("'sometimes'"), "{unknown}");
    }

    #[test]
    fn the_user_stop_wins_and_on_failure_counts() {
        let fresh = Memory::default();
        let stopped = Memory {
            manually_stopped: true,
            ..Memory::default()
        };
        assert!(RestartPolicy::Always.restarts_after_exit(0, &fresh));
        assert!(!RestartPolicy::Always.restarts_after_exit(137, &stopped));
        assert!(!RestartPolicy::No.restarts_after_exit(1, &fresh));
        let twice = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(!twice.restarts_after_exit(0, &fresh));
        assert!(twice.restarts_after_exit(1, &fresh));
        let used = Memory {
            restart_count: 2,
            ..Memory::default()
        };
        assert!(!twice.restarts_after_exit(1, &used));
        // A daemon start lifts the user's stop for `always` only.
        assert!(RestartPolicy::Always.restarts_with_daemon(0, &stopped));
        assert!(!RestartPolicy::UnlessStopped.restarts_with_daemon(0, &stopped));
        assert!(RestartPolicy::UnlessStopped.restarts_with_daemon(0, &fresh));
    }

    #[test]
    fn the_delay_doubles_up_to_a_minute_and_resets_after_a_stable_run() {
        let quick = Duration::from_millis(5);
        let first = next_delay(None, quick);
        assert_eq!(first, FIRST_DELAY);
        assert_eq!(next_delay(Some(first), quick), Duration::from_millis(200));
        assert_eq!(next_delay(Some(Duration::from_secs(50)), quick), MAX_DELAY);
        assert_eq!(next_delay(Some(MAX_DELAY), STABLE_RUN), FIRST_DELAY);
    }
}
