//! Capabilities: root's powers, cut into about forty pieces, and the fourteen Docker keeps.
//!
//! Since Linux 2.2, "root" is not one privilege but a set of capabilities: `CAP_CHOWN` to
//! change a file's owner, `CAP_SYS_ADMIN` to mount, `CAP_DAC_READ_SEARCH` to open files by
//! handle, `CAP_SYS_PTRACE`, `CAP_SYS_MODULE`... A process has five sets of them. The
//! **effective** set is what the kernel checks; **permitted** bounds what it may make
//! effective; **inheritable** and **ambient** are what may pass through `execve`; and the
//! **bounding** set caps what any later `execve` can ever give, even of a setuid-root
//! program. Docker's containers run as root with 14 capabilities (the list below) in the
//! bounding, permitted and effective sets, and none inheritable or ambient: enough to `chown`,
//! bind port 80 or `mknod`, not enough to mount, load a module or trace a host process.
//! (Docker before 20.10.14 filled the inheritable set too: then a program of the image with
//! *file* inheritable capabilities gained them in its permitted set across `execve`, even as
//! a non-root user, CVE-2022-24769. The probe against a real dockerd, `final/tests/
//! dockerd_probe.rs`, found that our first version still did.)
//!
//! Switching to a non-root user (`docker run -u 1000`) clears the permitted and effective
//! sets by itself; the bounding set is what stops a setuid binary in the image from getting
//! everything back. So the [`Capabilities`] step drops the bounding set first, while it is
//! still root with every capability (phase `BeforeUser`), then sets the other four.

use berth_namespaces::{ChildPhase, ChildStep};
use nix::errno::Errno;

/// Every capability of Linux 6.x, by number (`include/uapi/linux/capability.h`).
pub const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

// ANCHOR: defaults
/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DOCKER_DEFAULTS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];
// ANCHOR_END: defaults

/// A name that is not a capability.
#[derive(Debug, thiserror::Error)]
#[error("unknown capability {0:?} (expected a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)")]
pub struct UnknownCapability(pub String);

/// A set of capabilities, as the kernel keeps it: bit N is capability N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Every capability this crate knows.
    pub const ALL: CapSet = CapSet((1u64 << NAMES.len()) - 1);

    /// Docker's 14.
    pub fn docker_defaults() -> CapSet {
        let mut set = CapSet(0);
        for name in DOCKER_DEFAULTS {
            set.0 |= 1 << number(name).expect("the defaults are capability names");
        }
        set
    }

    /// Adds a capability by name (`NET_ADMIN`, `CAP_NET_ADMIN`, any case), or `ALL`.
    pub fn add(&mut self, name: &str) -> Result<(), UnknownCapability> {
        self.0 |= parse(name)?.0;
        Ok(())
    }

    /// Drops a capability by name, or `ALL`.
    pub fn drop(&mut self, name: &str) -> Result<(), UnknownCapability> {
        self.0 &= !parse(name)?.0;
        Ok(())
    }

    /// Whether `name` (a known capability) is in the set.
    pub fn has(&self, name: &str) -> bool {
        parse(name).is_ok_and(|set| set.0 & self.0 == set.0 && set.0 != 0)
    }

    /// The names in the set, `CAP_` prefixed, in number order.
    pub fn names(&self) -> Vec<String> {
        (0..NAMES.len())
            .filter(|bit| self.0 & (1 << bit) != 0)
            .map(|bit| format!("CAP_{}", NAMES[bit]))
            .collect()
    }
}

fn number(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

fn parse(name: &str) -> Result<CapSet, UnknownCapability> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(CapSet::ALL);
    }
    number(bare)
        .map(|bit| CapSet(1 << bit))
        .ok_or_else(|| UnknownCapability(name.to_owned()))
}

// ANCHOR: step
/// The child step that leaves the process `keep` and nothing else, and optionally sets
/// `no_new_privs` (after which no `execve` can gain a privilege: setuid bits and file
/// capabilities are ignored).
#[derive(Debug)]
pub struct Capabilities {
    keep: CapSet,
    no_new_privs: bool,
}

impl Capabilities {
    /// Prepares the step (in the parent: nothing to allocate later).
    pub fn new(keep: CapSet, no_new_privs: bool) -> Capabilities {
        Capabilities { keep, no_new_privs }
    }
}

impl ChildStep for Capabilities {
    fn name(&self) -> &str {
        "dropping capabilities"
    }

    fn phase(&self) -> ChildPhase {
        ChildPhase::BeforeUser
    }

    fn run(&self) -> Result<(), Errno> {
        // The bounding set first: dropping from it needs CAP_SETPCAP, which we still have.
        // Capabilities the running kernel does not know answer EINVAL: nothing to drop.
        for bit in 0..64u64 {
            if self.keep.0 & (1 << bit) == 0 {
                // SAFETY: prctl with integer arguments.
                let done = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, bit, 0, 0, 0) };
                if done != 0 && Errno::last() != Errno::EINVAL {
                    return Err(Errno::last());
                }
            }
        }
        // SAFETY: prctl with integer arguments.
        let cleared = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
        };
        if cleared != 0 {
            return Err(Errno::last());
        }
        capset(self.keep)?;
        if self.no_new_privs {
            // SAFETY: prctl with integer arguments.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(Errno::last());
            }
        }
        Ok(())
    }
}
// ANCHOR_END: step

/// `capset(2)`, version 3 (64-bit sets in two halves): effective = permitted = `set`,
/// inheritable empty (see the module documentation).
fn capset(set: CapSet) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| {
        let bits = (set.0 >> shift) as u32;
        Data {
            effective: bits,
            permitted: bits,
            inheritable: 0,
        }
    };
    let data = [half(0), half(32)];
    // SAFETY: the kernel reads one header and two data structs of the layout above.
    let done = unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) };
    if done != 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_and_without_the_prefix() {
        let mut set = CapSet::docker_defaults();
        assert_eq!(set.names().len(), 14);
        assert_eq!(set.0, 0xa80425fb, "Docker's CapEff");
        set.add("cap_net_admin").unwrap();
        assert!(set.has("NET_ADMIN"));
        set.drop("CAP_NET_ADMIN").unwrap();
        set.drop("chown").unwrap();
        assert!(!set.has("CHOWN"));
        set.drop("ALL").unwrap();
        assert_eq!(set, CapSet(0));
        set.add("all").unwrap();
        assert_eq!(set, CapSet::ALL);
        let err = set.add("NET_ADMN").unwrap_err();
        assert!(err.to_string().contains("\"NET_ADMN\""), "{err}");
    }
}
