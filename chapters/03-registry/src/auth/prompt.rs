//! Asking for a user name and a password, as `docker login` does.
//!
//! A password is typed with the terminal's echo turned off (`termios`, the `ECHO` flag), and
//! echo comes back whatever happens, or the user's shell would stay blind. Without a terminal
//! (a script, a pipe) there is nobody to ask: the answer must come from `--password-stdin`,
//! which reads one line, so that the password never appears in `ps` or the shell's history.

use std::io::{self, BufRead, IsTerminal, Write};

use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};

/// Why nothing could be asked.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Standard input is not a terminal.
    #[error(
        "cannot ask for the {what}: stdin is not a terminal (use --username and --password-stdin)"
    )]
    NotATerminal {
        /// `username` or `password`.
        what: &'static str,
    },
    /// Reading the answer, or switching echo, failed.
    #[error("reading the {what}: {source}")]
    Read {
        /// `username` or `password`.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
}

/// Asks for the user name on the terminal.
pub fn username() -> Result<String, PromptError> {
    ask("Username: ", "username", true).map(|name| name.trim().to_owned())
}

/// Asks for the password on the terminal, without echoing it.
pub fn password() -> Result<String, PromptError> {
    ask("Password: ", "password", false)
}

/// Reads the password from the first line of stdin (`--password-stdin`).
pub fn password_from_stdin() -> Result<String, PromptError> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|source| PromptError::Read {
            what: "password from stdin",
            source,
        })?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

fn ask(question: &str, what: &'static str, echo: bool) -> Result<String, PromptError> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(PromptError::NotATerminal { what });
    }
    let failed = |source| PromptError::Read { what, source };
    eprint!("{question}");
    let _ = io::stderr().flush();
    let saved = if echo {
        None
    } else {
        let saved = tcgetattr(&stdin).map_err(|e| failed(e.into()))?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(|e| failed(e.into()))?;
        Some(saved)
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        // Echo comes back whatever the read did; the newline typed was not echoed either.
        let restored = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
        eprintln!();
        restored.map_err(|e| failed(e.into()))?;
    }
    read.map_err(failed)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
