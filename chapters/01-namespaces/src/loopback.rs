//! Bringing up `lo` in the container's new network namespace.
//!
//! A new network namespace has exactly one device, the loopback `lo`, and it starts *down*:
//! without this step even `ping 127.0.0.1` inside the container fails. `ip link set lo up` does
//! the same thing through netlink; the older `SIOCSIFFLAGS` ioctl needs only a socket and a
//! fixed-size struct, which suits the child, which must not allocate (see `child.rs`).
//! Chapter 6 adds a veth pair for real networking.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

// ANCHOR: loopback
/// Sets the `IFF_UP` flag on `lo`.
pub(crate) fn bring_up() -> Result<(), Errno> {
    // SAFETY: plain syscalls on a socket we own and a zeroed, correctly sized `ifreq`.
    unsafe {
        let raw = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if raw < 0 {
            return Err(Errno::last());
        }
        let socket = OwnedFd::from_raw_fd(raw);

        let mut request: libc::ifreq = std::mem::zeroed();
        for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(Errno::last());
        }
        request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}
// ANCHOR_END: loopback
