//! Isolation as seen from inside: each check of `common::checks` against `ch01`, and all of
//! them against a plain `unshare` + `chroot` stand-in, where they must fail.

mod common;

use common::{Runner, checks};

macro_rules! isolation_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                if let Err(evidence) = checks::$check(&Runner::ch01()) {
                    panic!("{evidence}");
                }
            }
        )*

        #[test]
        fn every_check_is_listed() {
            let names: Vec<&str> = checks::ALL.iter().map(|(name, _)| *name).collect();
            assert_eq!(names, [$(stringify!($check)),*]);
        }
    };
}

isolation_tests!(
    pid_is_one,
    proc_lists_only_the_container,
    host_root_is_unreachable,
    mount_table_has_the_new_root,
    network_has_only_lo_and_it_is_up,
    dev_is_minimal_and_works,
    sys_is_read_only,
    environment_is_clean,
    hostname_is_the_given_one,
);

/// The checks prove something only if they can fail: `unshare` + `chroot` gives the same
/// namespaces but no `pivot_root`, no fresh `/proc`, `/sys` or `/dev`, no `lo` up and the
/// host's environment, so each check but the hostname one must catch it. (The stand-in does
/// set the hostname in its new UTS namespace, which is all that check asks.)
#[test]
fn the_checks_fail_on_an_unshare_chroot_standin() {
    let standin = Runner::chroot_standin();
    let mut passed = Vec::new();
    for (name, check) in checks::ALL {
        if check(&standin).is_ok() {
            passed.push(*name);
        }
    }
    assert_eq!(
        passed,
        ["hostname_is_the_given_one"],
        "these checks passed on the chroot stand-in, so they do not test what they claim"
    );
}
