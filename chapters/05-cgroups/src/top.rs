//! `docker top`: the container's processes, as the host's `ps` shows them.
//!
//! A container's processes are exactly those in its cgroup (`cgroup.procs`): however they
//! forked, they cannot leave it. dockerd does not list them itself: it runs the host's `ps`
//! with the arguments the user gave (`-ef` by default), and keeps the rows whose PID column
//! is one of the cgroup's pids. So `docker top c aux` shows what `ps aux` shows, host pids
//! and all.

use std::process::Command;

/// Why `ps` could not list the processes.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    #[error("running ps {args:?}: {source}")]
    Run {
        args: Vec<String>,
        source: std::io::Error,
    },
    #[error("ps {args:?} failed: {stderr}")]
    Failed { args: Vec<String>, stderr: String },
    #[error("Couldn't find PID field in ps output (ps {args:?})")]
    NoPidColumn { args: Vec<String> },
}

/// `ps`'s answer: the column titles, and one row per process of the container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// `UID`, `PID`, `PPID`, ... as `ps` names them.
    pub titles: Vec<String>,
    /// One row per process, a field per title (the last holds the rest of the line).
    pub processes: Vec<Vec<String>>,
}

// ANCHOR: top
/// Runs `ps` with `ps_args` (Docker's default `-ef` when empty) and keeps the rows of `pids`.
pub fn top(pids: &[i32], ps_args: &str) -> Result<Table, TopError> {
    let args: Vec<String> = if ps_args.trim().is_empty() {
        vec!["-ef".to_owned()]
    } else {
        ps_args.split_whitespace().map(str::to_owned).collect()
    };
    let output = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|source| TopError::Run {
            args: args.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(TopError::Failed {
            args,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    parse(&String::from_utf8_lossy(&output.stdout), pids).ok_or(TopError::NoPidColumn { args })
}
// ANCHOR_END: top

/// The rows of `ps` output whose PID column is in `pids`; `None` if there is no PID column.
fn parse(text: &str, pids: &[i32]) -> Option<Table> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_column = titles.iter().position(|t| t == "PID")?;
    let processes = lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pid: i32 = fields.get(pid_column)?.parse().ok()?;
            if !pids.contains(&pid) || fields.len() < titles.len() {
                return None;
            }
            // The last column (the command) may hold spaces: it takes the rest of the line.
            let last = titles.len() - 1;
            let mut row: Vec<String> = fields[..last].iter().map(|f| (*f).to_owned()).collect();
            row.push(fields[last..].join(" "));
            Some(row)
        })
        .collect();
    Some(Table { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_kept_by_pid_and_the_command_keeps_its_spaces() {
        let text = "UID   PID  PPID  C STIME TTY   TIME     CMD\n\
                    root    1     0  0 06:00 ?     00:00:01 /sbin/init\n\
                    root  420     1  0 06:01 ?     00:00:00 sleep 1000\n";
        let table = parse(text, &[420]).expect("a PID column");
        assert_eq!(table.titles.len(), 8);
        assert_eq!(
            table.processes,
            vec![vec![
                "root",
                "420",
                "1",
                "0",
                "06:01",
                "?",
                "00:00:00",
                "sleep 1000"
            ]]
        );
        assert!(parse("USER COMMAND\nroot init\n", &[1]).is_none());
    }
}
