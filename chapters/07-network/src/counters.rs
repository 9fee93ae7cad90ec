//! The traffic counters of a container's interfaces: the `networks` part of `docker stats`.
//!
//! The kernel counts every packet and byte each network device sends and receives, and the
//! devices of a namespace are seen from inside it. dockerd asks libnetwork, which asks the
//! container's sandbox for each of its interfaces' statistics over netlink; `docker stats`
//! sums them into NET I/O. `/proc/PID/net/dev` holds the same counters for the network
//! namespace PID is in, so reading it for the container's PID 1 needs no `setns` at all.
//! `lo` is left out, as dockerd leaves it out: it is not an interface of any network.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One interface's counters, under the names of Docker's `NetworkStats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Packets dropped on send.
    pub tx_dropped: u64,
}

/// Reading or parsing `/proc/PID/net/dev` failed.
#[derive(Debug, thiserror::Error)]
pub enum CountersError {
    /// The file could not be read (the process ended, or is not there).
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not in the kernel's format.
    #[error("{path}: line {line} is not an interface's counters: {text:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// The line.
        text: String,
    },
}

// ANCHOR: interface_counters
/// The counters of every interface but `lo` in the network namespace of process `pid`, by
/// the interface's name (`eth0`, `eth1`, ...).
pub fn interface_counters(pid: i32) -> Result<BTreeMap<String, InterfaceCounters>, CountersError> {
    let path = PathBuf::from(format!("/proc/{pid}/net/dev"));
    let text = std::fs::read_to_string(&path).map_err(|source| CountersError::Read {
        path: path.clone(),
        source,
    })?;
    parse(&text).map_err(|(line, text)| CountersError::Parse { path, line, text })
}

/// Parses the text of a `net/dev` file: two header lines, then `NAME: ` and sixteen numbers,
/// the receive side's eight (bytes, packets, errs, drop, fifo, frame, compressed, multicast)
/// and the send side's eight (bytes, packets, errs, drop, fifo, colls, carrier, compressed).
/// A bad line is returned with its number.
fn parse(text: &str) -> Result<BTreeMap<String, InterfaceCounters>, (usize, String)> {
    let mut all = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(2) {
        let bad = || (n + 1, line.to_owned());
        let (name, numbers) = line.split_once(':').ok_or_else(bad)?;
        let numbers: Vec<u64> = numbers
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        if numbers.len() != 16 {
            return Err(bad());
        }
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let counters = InterfaceCounters {
            rx_bytes: numbers[0],
            rx_packets: numbers[1],
            rx_errors: numbers[2],
            rx_dropped: numbers[3],
            tx_bytes: numbers[8],
            tx_packets: numbers[9],
            tx_errors: numbers[10],
            tx_dropped: numbers[11],
        };
        all.insert(name.to_owned(), counters);
    }
    Ok(all)
}
// ANCHOR_END: interface_counters

#[cfg(test)]
mod tests {
    use super::*;

    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     280       4    0    0    0     0          0         0      280       4    0    0    0     0       0          0
  eth0:    1396      16    1    2    0     0          0         0      796      10    3    4    0     0       0          0
";

    #[test]
    fn every_interface_but_lo_with_the_receive_and_send_sides_apart() {
        let all = parse(NET_DEV).unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["eth0"]);
        assert_eq!(
            all["eth0"],
            InterfaceCounters {
                rx_bytes: 1396,
                rx_packets: 16,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 796,
                tx_packets: 10,
                tx_errors: 3,
                tx_dropped: 4,
            }
        );
    }

    #[test]
    fn a_line_not_in_the_kernels_format_is_named() {
        let text = format!("{NET_DEV}  eth1: 1 2 3\n");
        assert_eq!(parse(&text), Err((5, "  eth1: 1 2 3".to_owned())));
    }

    #[test]
    fn this_processs_own_namespace_has_a_lo_it_leaves_out() {
        let all = interface_counters(std::process::id() as i32).unwrap();
        assert!(!all.contains_key("lo"), "{all:?}");
    }
}
