//! Deleting a removed image's files: many at once, because on a disk each one waits.
//!
//! `docker rmi` ends with dockerd deleting a layer's directory tree, one `unlinkat` after
//! another. On a tmpfs that is free. On the ext4 disks of these machines (no journal, mounted
//! with `discard`), freeing a file's blocks sends the device a discard and waits for it: about
//! 0.5 ms for each small file that has reached the disk, so a 20,000-file image takes seconds
//! to delete however few system calls the deletion makes. The device, though, takes many
//! requests at once: `scripts/bench/deletion.py` deleted 4,000 flushed 4 KB files in 2.97 s on
//! one thread, 1.26 s on four, 0.61 s on eight and 0.86 s on sixteen (medians of three, load
//! 10). [`delete_tree`] therefore walks the tree with eight threads that share a queue of
//! directories, each unlinking the files of the directory it took, and removes the emptied
//! directories last, deepest first.
//!
//! It only ever deletes what a store has already moved out of sight (under `tmp/`, see
//! `collect_garbage`): if it is interrupted, the store is whole and the next `Store::open`
//! finishes the job. Symlinks are removed, never followed: `DirEntry::file_type` does not
//! follow them, so only real directories are entered.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// How many threads delete at once: enough to keep the device busy with discards while each
/// thread waits for its own (they wait, they do not use the CPU); sixteen were slower here.
const DELETERS: usize = 8;

/// The directories still to list, and how many threads are listing one (and may yet add
/// more); the walk is over when both are zero.
#[derive(Default)]
struct Queue {
    pending: Vec<PathBuf>,
    busy: usize,
    failed: bool,
}

/// What the threads share.
#[derive(Default)]
struct Walk {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Every directory taken from the queue, in the order taken: a directory is taken only
    /// after its parent, so the reverse order removes children first.
    listed: Mutex<Vec<PathBuf>>,
    error: Mutex<Option<(PathBuf, io::Error)>>,
}

// ANCHOR: delete_tree
/// Deletes `path` and everything under it, as `fs::remove_dir_all` does, with a few threads
/// (see the module docs). A missing `path` is no error; a file or symlink there is unlinked.
/// On failure, the error names the path it concerns; what was not deleted yet stays.
pub fn delete_tree(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(meta) if !meta.is_dir() => return ignore_missing(fs::remove_file(path)),
        Ok(_) => {}
    }
    let walk = Walk::default();
    guard(&walk.queue).pending.push(path.to_path_buf());
    std::thread::scope(|scope| {
        for _ in 0..DELETERS {
            scope.spawn(|| walk.work());
        }
    });
    if let Some((at, error)) = walk
        .error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(io::Error::new(
            error.kind(),
            format!("deleting {}: {error}", at.display()),
        ));
    }
    let listed = walk
        .listed
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    for dir in listed.iter().rev() {
        ignore_missing(fs::remove_dir(dir))?;
    }
    Ok(())
}
// ANCHOR_END: delete_tree

impl Walk {
    /// One thread: take a directory, unlink its files, queue its subdirectories; until the
    /// queue is empty and nobody can add to it, or something failed.
    fn work(&self) {
        loop {
            let dir = {
                let mut queue = guard(&self.queue);
                loop {
                    if queue.failed {
                        return;
                    }
                    if let Some(dir) = queue.pending.pop() {
                        queue.busy += 1;
                        break dir;
                    }
                    if queue.busy == 0 {
                        return;
                    }
                    queue = self
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            guard(&self.listed).push(dir.clone());
            let result = self.empty_files_of(&dir);
            let mut queue = guard(&self.queue);
            queue.busy -= 1;
            if let Err(failure) = result {
                queue.failed = true;
                guard(&self.error).get_or_insert(failure);
            }
            self.wake.notify_all();
        }
    }

    /// Unlinks the files, symlinks and nodes of `dir` and queues its subdirectories.
    fn empty_files_of(&self, dir: &Path) -> Result<(), (PathBuf, io::Error)> {
        let at = |path: &Path| {
            let path = path.to_path_buf();
            move |error| (path, error)
        };
        let entries = match fs::read_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => other.map_err(at(dir))?,
        };
        for entry in entries {
            let entry = entry.map_err(at(dir))?;
            let path = entry.path();
            // The type from the directory entry (or `lstat`): a symlink is a symlink here,
            // whatever it points at.
            if entry.file_type().map_err(at(&path))?.is_dir() {
                guard(&self.queue).pending.push(path);
                self.wake.notify_one();
            } else {
                ignore_missing(fs::remove_file(&path)).map_err(at(&path))?;
            }
        }
        Ok(())
    }
}

/// Something else deleted it first (a store's cleanup racing a daemon's): gone is the goal.
fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// A lock that a panicking thread cannot spoil: the data is a list of paths, valid whatever
/// happened.
fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn deletes_a_deep_wide_tree_with_links_and_nodes() {
        let dir = berth_tests::test_dir("delete-tree");
        let tree = dir.path().join("tree");
        for a in 0..6 {
            for b in 0..5 {
                let leaf = tree.join(format!("a{a}/b{b}/c/d"));
                fs::create_dir_all(&leaf).unwrap();
                for f in 0..10 {
                    fs::write(leaf.join(format!("f{f}")), b"data").unwrap();
                }
                fs::hard_link(leaf.join("f0"), leaf.join("hard")).unwrap();
                symlink("../../..", leaf.join("up")).unwrap();
            }
        }
        nix::unistd::mkfifo(&tree.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        // A directory its owner may not write: root deletes it anyway, as `rm -rf` does.
        fs::set_permissions(tree.join("a0/b0"), fs::Permissions::from_mode(0o500)).unwrap();
        delete_tree(&tree).unwrap();
        assert!(!tree.exists(), "the tree is gone");
        assert!(dir.path().exists(), "its parent stays");
        // Deleting what is not there is no error.
        delete_tree(&tree).unwrap();
    }

    #[test]
    fn symlinks_are_removed_never_followed() {
        let dir = berth_tests::test_dir("delete-tree-symlinks");
        let outside = dir.path().join("outside");
        fs::create_dir_all(outside.join("sub")).unwrap();
        fs::write(outside.join("keep"), b"precious").unwrap();
        fs::write(outside.join("sub/keep"), b"precious").unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("x")).unwrap();
        symlink(&outside, tree.join("to-dir")).unwrap();
        symlink(outside.join("keep"), tree.join("x/to-file")).unwrap();
        symlink("../../outside/sub", tree.join("x/relative")).unwrap();
        delete_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert_eq!(fs::read(outside.join("keep")).unwrap(), b"precious");
        assert_eq!(fs::read(outside.join("sub/keep")).unwrap(), b"precious");

        // A symlink given as the tree itself is unlinked; its target stays.
        let link = dir.path().join("link");
        symlink(&outside, &link).unwrap();
        delete_tree(&link).unwrap();
        assert!(fs::symlink_metadata(&link).is_err());
        assert!(outside.join("sub/keep").exists());
    }

    #[test]
    fn a_failure_names_its_path_and_leaves_the_rest() {
        let dir = berth_tests::test_dir("delete-tree-failure");
        let tree = dir.path().join("tree");
        let stuck = tree.join("stuck");
        fs::create_dir_all(&stuck).unwrap();
        fs::write(stuck.join("file"), b"x").unwrap();
        // An immutable directory: not even root may unlink what is in it.
        let immutable = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&stuck)
            .status()
            .is_ok_and(|s| s.success());
        if !immutable {
            eprintln!("skipped: this filesystem has no immutable flag");
            return;
        }
        let result = delete_tree(&tree);
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&stuck)
            .status();
        let error = result.expect_err("an immutable directory cannot be emptied");
        assert!(
            error.to_string().contains("stuck/file"),
            "the error names the file: {error}"
        );
        assert!(tree.exists(), "nothing above the failure is removed");
        delete_tree(&tree).unwrap();
        assert!(!tree.exists());
    }
}
