//! Exercise mode, end to end: for each chapter, the skeleton compiles and the chapter's own
//! tests fail on it, each marked function with its own `todo!` panic.
//!
//! That the same tests pass on the real code is the normal suite's job; here we check the
//! other half of the bargain a workshop relies on: a learner who has not written a function
//! yet is told so by a failing test, with the hint, and nothing else is broken.
//!
//! Every chapter's copy is built in `target/exercise`, a target directory of its own, so the
//! registry dependencies are built once and reused. Cargo names a workspace crate's artifacts
//! without its path, so copies built there at the same time would overwrite each other's
//! `libberth_images-*.rlib` (and a chapter 2 test could run against chapter 3's unstubbed
//! copy of it): one lock file makes the chapters, and two runs of this test by two engineers
//! on one machine, take turns.
//!
//! Most marked functions are covered by the chapter's unit tests (`--lib`, quick, no root).
//! A function only an integration test reaches (`pivot_root` runs inside a container, after
//! the other ch01 exercises) is checked in a second step: the same copy is stubbed again with
//! `--only` that function, and one named integration test is run.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::exercise::{Exercise, exercises, make_skeleton, stub_chapter};
use xtask::workspace::{Chapter, chapters, find_chapter, root};

/// Which tests reveal which exercise.
struct Plan {
    /// The chapter.
    chapter: u32,
    /// The functions the chapter's unit tests (`cargo test --lib`) must report as todo.
    unit: &'static [&'static str],
    /// Functions reached only by an integration test: (function, test target, test name).
    integration: &'static [(&'static str, &'static str, &'static str)],
}

const PLANS: [Plan; 5] = [
    Plan {
        chapter: 1,
        unit: &["clone_flags", "new"],
        integration: &[("pivot_root", "lifecycle", "the_exit_code_passes_through")],
    },
    Plan {
        chapter: 2,
        unit: &["classify", "verify"],
        integration: &[(
            "mount_options",
            "run",
            "whiteouts_and_opaque_directories_from_inside",
        )],
    },
    Plan {
        chapter: 3,
        unit: &["matches"],
        integration: &[("fetch", "auth", "anonymous_pull_with_a_token")],
    },
    Plan {
        chapter: 4,
        unit: &["start_chunk", "matches"],
        integration: &[],
    },
    Plan {
        chapter: 5,
        unit: &["parse_size", "shares_to_weight", "find"],
        integration: &[],
    },
];

/// A copy of the workspace for one chapter, removed on drop (also when the test fails),
/// made and built under the exclusive lock on `target/exercise`.
struct Copy {
    dir: PathBuf,
    _lock: File,
}

impl Copy {
    fn new(chapter: &Chapter) -> Copy {
        let base = root().join("target/exercise");
        fs::create_dir_all(&base).unwrap();
        let lock_path = base.join("exercise.lock");
        let lock = File::create(&lock_path).unwrap();
        // SAFETY: flock on a descriptor we own; it is released when the file is closed.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "locking {}", lock_path.display());
        let dir = base.join(format!("ch{:02}", chapter.number));
        // A copy left by a run that was killed before its drop ran.
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap();
        }
        Copy { dir, _lock: lock }
    }

    /// `cargo ARGS` in the copy; returns (success, stdout + stderr).
    fn cargo(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(&self.dir)
            .env("CARGO_TARGET_DIR", root().join("target/exercise"))
            // A short panic message: the todo! text is what we look for.
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Asserts that `output` shows the `todo!` panic of `exercise`.
fn assert_todo_panic(output: &str, exercise: &Exercise, what: &str) {
    let panic = format!("not yet implemented: {}", exercise.todo_message());
    assert!(
        output.contains(&panic),
        "{what}: expected a test to fail with `{panic}`; the output was:\n{output}"
    );
}

fn check_chapter(number: u32) {
    let workspace = root();
    let all = chapters(&workspace).unwrap();
    let chapter = find_chapter(&all, number).unwrap();
    let plan = PLANS.iter().find(|p| p.chapter == number).unwrap();
    let marked = exercises(&workspace, chapter).unwrap();

    // Every marked function is covered by the plan: a new marker needs a test that finds it.
    let names: BTreeSet<&str> = marked.iter().map(|e| e.function.name.as_str()).collect();
    let planned: BTreeSet<&str> = plan
        .unit
        .iter()
        .copied()
        .chain(plan.integration.iter().map(|(f, _, _)| *f))
        .collect();
    assert_eq!(
        names, planned,
        "chapter {number}: the EXERCISE markers and this test's plan disagree"
    );
    assert!(
        (2..=4).contains(&marked.len()),
        "chapter {number} should mark 2 to 4 functions, it marks {}",
        marked.len()
    );

    let copy = Copy::new(chapter);
    let stubbed = make_skeleton(&workspace, chapter, &copy.dir, None).unwrap();
    assert_eq!(stubbed.len(), marked.len());
    // The solutions are gone from the copy, the originals untouched.
    for exercise in &stubbed {
        let original =
            fs::read_to_string(workspace.join(&chapter.dir).join(&exercise.file)).unwrap();
        let skeleton =
            fs::read_to_string(copy.dir.join(&chapter.dir).join(&exercise.file)).unwrap();
        let body = &original[exercise.function.body.clone()];
        assert!(
            !skeleton.contains(body),
            "{} still has its body",
            exercise.function.name
        );
        assert!(
            !original.contains("todo!(\""),
            "the original must not be stubbed"
        );
    }

    // The skeleton compiles, tests included, and without a warning.
    let (ok, output) = copy.cargo(&["test", "-p", &chapter.package, "--no-run"]);
    assert!(
        ok,
        "chapter {number}'s skeleton does not compile:\n{output}"
    );
    // Cargo sums up a crate's warnings as "warning: `berth-images` (lib) generated 2 warnings".
    let summary = format!("warning: `{}` (", chapter.package);
    assert!(
        !output.contains(&summary),
        "chapter {number}'s skeleton compiles with warnings:\n{output}"
    );

    // Its unit tests fail, each unit-covered function with its own todo! panic.
    let (ok, output) = copy.cargo(&["test", "-p", &chapter.package, "--lib"]);
    assert!(
        !ok,
        "chapter {number}'s unit tests pass on the skeleton:\n{output}"
    );
    for name in plan.unit {
        for exercise in stubbed.iter().filter(|e| e.function.name == *name) {
            assert_todo_panic(&output, exercise, &format!("chapter {number} --lib"));
        }
    }

    // Each integration-only function, stubbed alone, fails its integration test.
    for (name, target, test) in plan.integration {
        let only = [name.to_string()];
        let stubbed = stub_chapter(&workspace, chapter, &copy.dir, Some(&only)).unwrap();
        assert_eq!(stubbed.len(), 1);
        let (ok, output) = copy.cargo(&[
            "test",
            "-p",
            &chapter.package,
            "--test",
            target,
            "--",
            "--exact",
            test,
        ]);
        assert!(!ok, "{target}::{test} passes without {name}:\n{output}");
        assert!(
            output.contains("1 failed"),
            "{target}::{test} did not run:\n{output}"
        );
        assert_todo_panic(&output, &stubbed[0], &format!("{target}::{test}"));
    }
}

#[test]
fn chapter01_skeleton_compiles_and_its_tests_fail() {
    check_chapter(1);
}

#[test]
fn chapter02_skeleton_compiles_and_its_tests_fail() {
    check_chapter(2);
}

#[test]
fn chapter03_skeleton_compiles_and_its_tests_fail() {
    check_chapter(3);
}

#[test]
fn chapter04_skeleton_compiles_and_its_tests_fail() {
    check_chapter(4);
}

#[test]
fn chapter05_skeleton_compiles_and_its_tests_fail() {
    check_chapter(5);
}

/// The instructions name every function and the command to run next.
#[test]
fn the_instructions_say_what_to_run() {
    let workspace = root();
    let all = chapters(&workspace).unwrap();
    let chapter = find_chapter(&all, 2).unwrap();
    let marked = exercises(&workspace, chapter).unwrap();
    let text = xtask::exercise::instructions(chapter, Path::new("/tmp/ex"), &marked);
    assert!(text.contains("cargo test -p berth-images --lib"), "{text}");
    for exercise in &marked {
        assert!(text.contains(&exercise.function.hint), "{text}");
    }
}

/// Bad input leaves nothing behind: an unknown chapter, an unknown `--only` name, an output
/// directory that is not empty.
#[test]
fn bad_requests_are_refused_before_copying() {
    let workspace = root();
    let all = chapters(&workspace).unwrap();
    let error = find_chapter(&all, 42).unwrap_err().to_string();
    assert!(
        error.contains("there is no chapter 42: the chapters are 1, 2"),
        "{error}"
    );

    let chapter = find_chapter(&all, 1).unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let error = make_skeleton(&workspace, chapter, &target, Some(&["nope".to_owned()]))
        .unwrap_err()
        .to_string();
    assert!(error.contains("no exercise function \"nope\""), "{error}");
    assert!(!target.exists(), "nothing is copied for a refused request");

    fs::write(out.path().join("work.txt"), "a learner's work").unwrap();
    let error = make_skeleton(&workspace, chapter, out.path(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("already exists and is not empty"), "{error}");
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);
}
