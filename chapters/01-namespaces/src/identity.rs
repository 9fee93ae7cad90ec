//! Dropping root: the user the command runs as.
//!
//! An image may say `USER 1000:1000` or `USER nobody`; Docker then starts the command as that
//! user, with that group and the user's supplementary groups. The order matters: supplementary
//! groups, then the group, then the user, because once we are no longer root the kernel lets
//! us change neither groups nor ids. The names were resolved by the caller (chapter 2 reads the
//! image's `/etc/passwd`); the kernel only knows numbers.

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

use crate::failure::{Failure, Step};

/// Numeric ids for the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups; Docker gives the user's groups from the image's `/etc/group`.
    pub groups: Vec<u32>,
}

/// The ids, converted for the kernel by the parent, since the child must not allocate.
#[derive(Debug)]
pub(crate) struct UserPlan {
    uid: Uid,
    gid: Gid,
    groups: Vec<libc::gid_t>,
}

/// [`Failure::item`] values of [`Step::SetUser`].
pub(crate) mod item {
    pub const GROUPS: u16 = 0;
    pub const GID: u16 = 1;
    pub const UID: u16 = 2;
}

impl UserPlan {
    pub fn new(user: &User) -> Self {
        UserPlan {
            uid: Uid::from_raw(user.uid),
            gid: Gid::from_raw(user.gid),
            groups: user.groups.clone(),
        }
    }

    // ANCHOR: drop_root
    /// Becomes the user: groups first, then the group, then the user.
    ///
    /// With the system calls themselves, not glibc's `setgroups`/`setgid`/`setuid`. The kernel
    /// changes the ids of the calling thread only, so glibc's wrappers then signal every other
    /// thread of the process to do the same, and wait for each. Our child was made by a raw
    /// `clone`, which glibc does not see: cloned from a multi-threaded daemon (`docker exec`),
    /// the child's copy of glibc still lists the daemon's threads, signals them, and waits
    /// forever for answers that never come (seen here: a hung exec in one run out of ten).
    /// The child has one thread, so the raw call is the whole change.
    pub fn apply(&self) -> Result<(), Failure> {
        let fail = |item| move |errno| Failure::new(Step::SetUser, item, errno);
        let groups = &self.groups;
        // SAFETY: plain system calls; the group list is a live slice of gid_t.
        unsafe {
            check(libc::syscall(
                libc::SYS_setgroups,
                groups.len(),
                groups.as_ptr(),
            ))
            .map_err(fail(item::GROUPS))?;
            check(libc::syscall(libc::SYS_setgid, self.gid.as_raw())).map_err(fail(item::GID))?;
            check(libc::syscall(libc::SYS_setuid, self.uid.as_raw())).map_err(fail(item::UID))
        }
    }
    // ANCHOR_END: drop_root

    /// What item `item` of the step was doing, for error messages.
    pub fn describe(&self, item: u16) -> String {
        match item {
            item::GROUPS => format!("setting the supplementary groups to {:?}", self.groups),
            item::GID => format!("setting the group id to {}", self.gid),
            _ => format!("setting the user id to {}", self.uid),
        }
    }
}

// ANCHOR: become_root
/// In a user namespace just made or joined: becomes its root, uid and gid 0 in every slot.
///
/// `clone(CLONE_NEWUSER)` and `setns` change the namespace, not the ids: the process keeps the
/// host ids it had. Rootless that is harmless (the caller's id is the one mapped to 0), but real
/// root is host uid 0, which a remapped map (`0 100000 65536`) leaves out: the kernel would
/// refuse to create any file for an id it cannot map (EOVERFLOW, seen on `/dev`'s tmpfs). runc's
/// nsexec makes the same two calls. Capabilities stay: they belong to the namespace, and the
/// kernel drops them only when a uid that was root in it goes, and host uid 0 never was.
pub(crate) fn become_root() -> Result<(), Failure> {
    let fail = |item| move |errno| Failure::new(Step::BecomeRoot, item, errno);
    // SAFETY: plain system calls with integer arguments (raw, for the reason in `apply`).
    unsafe {
        check(libc::syscall(libc::SYS_setresgid, 0, 0, 0)).map_err(fail(item::GID))?;
        check(libc::syscall(libc::SYS_setresuid, 0, 0, 0)).map_err(fail(item::UID))
    }
}
// ANCHOR_END: become_root

/// What item `item` of [`Step::BecomeRoot`] was doing, for error messages.
pub(crate) fn describe_become_root(item: u16) -> &'static str {
    match item {
        item::GID => "taking gid 0 of the user namespace (the gid map must map 0)",
        _ => "taking uid 0 of the user namespace (the uid map must map 0)",
    }
}

/// A raw system call's result: `Ok` or the errno it left (no allocation, for the child).
fn check(result: libc::c_long) -> Result<(), Errno> {
    if result < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}
