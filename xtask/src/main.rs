//! `cargo xtask`: the workshop verbs. See the library's documentation for what each does.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use xtask::workspace::{self, find_chapter};
use xtask::{changes, exercise};

const USAGE: &str = "\
usage: cargo xtask <verb>

verbs:
  exercise N [--out DIR] [--only FN,FN]
                           copy the workspace into DIR (default: ../berth-exercise-chNN) with
                           chapter N's EXERCISE functions (or only those named) replaced by
                           todo!(hint)
  changes [--check]        regenerate book/src/changes/chapterNN.md from the code; with --check,
                           only say which pages are stale (exit status 1 if any)
  api-status               regenerate book/src/engine/api-status.md from berthd's router and
                           its HostConfig table (final/tests/api_status_page.rs checks it)
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<ExitCode> {
    let root = workspace::root();
    match args.first().map(String::as_str) {
        Some("exercise") => {
            let number: u32 = args
                .get(1)
                .context("exercise needs a chapter number, e.g. `cargo xtask exercise 1`")?
                .parse()
                .with_context(|| format!("{:?} is not a chapter number", args[1]))?;
            let mut out = None;
            let mut only: Option<Vec<String>> = None;
            let mut rest = args[2..].iter();
            while let Some(flag) = rest.next() {
                match flag.as_str() {
                    "--out" => {
                        out = Some(PathBuf::from(
                            rest.next().context("--out needs a directory")?,
                        ))
                    }
                    "--only" => {
                        let names = rest.next().context("--only needs function names")?;
                        only = Some(names.split(',').map(str::to_owned).collect());
                    }
                    other => bail!("unknown argument {other:?}\n\n{USAGE}"),
                }
            }
            let out = out.unwrap_or_else(|| {
                root.parent()
                    .unwrap_or(&root)
                    .join(format!("berth-exercise-ch{number:02}"))
            });
            let chapters = workspace::chapters(&root)?;
            let chapter = find_chapter(&chapters, number)?;
            let exercises = exercise::make_skeleton(&root, chapter, &out, only.as_deref())
                .with_context(|| format!("making the chapter {number} exercise"))?;
            print!("{}", exercise::instructions(chapter, &out, &exercises));
            Ok(ExitCode::SUCCESS)
        }
        Some("changes") => {
            let dir = root.join(changes::PAGES_DIR);
            if args.get(1).map(String::as_str) == Some("--check") {
                let stale = changes::stale_pages(&root, &dir)?;
                if stale.is_empty() {
                    println!("{} is up to date", changes::PAGES_DIR);
                    return Ok(ExitCode::SUCCESS);
                }
                eprintln!(
                    "stale in {}: {}\nrun `cargo xtask changes` and commit the result",
                    changes::PAGES_DIR,
                    stale.join(", ")
                );
                return Ok(ExitCode::FAILURE);
            }
            for path in changes::write_all(&root, &dir)? {
                let shown = path.strip_prefix(&root).unwrap_or(&path);
                println!("wrote {}", shown.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("api-status") => {
            // The page is made from berthd's router, so berthd's own test writes it.
            let status = std::process::Command::new(env!("CARGO"))
                .current_dir(&root)
                .args(["test", "-q", "-p", "berth", "--test", "api_status_page"])
                .env("BERTH_WRITE_API_STATUS", "1")
                .status()
                .context("running cargo test")?;
            if !status.success() {
                bail!("writing the API status page failed");
            }
            println!("wrote book/src/engine/api-status.md");
            Ok(ExitCode::SUCCESS)
        }
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => bail!("unknown verb {other:?}\n\n{USAGE}"),
    }
}
