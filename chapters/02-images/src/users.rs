//! `USER nobody`: turning the image's user names into the numbers the kernel needs.
//!
//! The names belong to the image, not the host: `nobody` may be 65534 here and 99 there. So,
//! like runc, we read the image's own `/etc/passwd` and `/etc/group` (found through the
//! layers as overlayfs would show them, see `overlay::find_in_image`).

use berth_namespaces::User;

/// Why a user could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in the image's /etc/passwd")]
    NoSuchUser(String),
    #[error("unable to find group {0}: no matching entries in the image's /etc/group")]
    NoSuchGroup(String),
}

/// A user as resolved, with the home directory Docker puts in `HOME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub user: User,
    pub home: String,
}

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`) against the image's files
/// (`passwd` and `group`: their contents, empty when the image has none).
///
/// As in Docker: a numeric uid needs no entry (then the group is 0 and `HOME` is `/`), a name
/// does; the supplementary groups are the groups that list the user.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let entry = entries
        .iter()
        .find(|f| f[0] == user_part || f[2] == user_part);
    let (uid, mut gid, name, home) = match (entry, user_part.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse()
                .map_err(|_| UserError::NoSuchUser(user_part.into()))?,
            f[3].parse().unwrap_or(0),
            Some(f[0]),
            f[5].to_owned(),
        ),
        (None, Ok(uid)) => (uid, 0, None, "/".to_owned()),
        (None, Err(_)) => return Err(UserError::NoSuchUser(user_part.into())),
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    if let Some(wanted) = group_part {
        let found = groups.iter().find(|f| f[0] == wanted || f[2] == wanted);
        gid = match (found, wanted.parse::<u32>()) {
            (Some(f), _) => f[2]
                .parse()
                .map_err(|_| UserError::NoSuchGroup(wanted.into()))?,
            (None, Ok(gid)) => gid,
            (None, Err(_)) => return Err(UserError::NoSuchGroup(wanted.into())),
        };
    }
    let mut supplementary = vec![gid];
    if let Some(name) = name {
        for f in &groups {
            if f[3].split(',').any(|member| member == name)
                && let Ok(g) = f[2].parse()
                && !supplementary.contains(&g)
            {
                supplementary.push(g);
            }
        }
    }
    Ok(ResolvedUser {
        user: User {
            uid,
            gid,
            groups: supplementary,
        },
        home,
    })
}

// ANCHOR: add_groups
/// Adds `docker run --group-add` groups to a resolved user's supplementary groups: a number
/// as is, a name looked up in `group` (the contents of the container's `/etc/group`), as
/// Docker does. A group the user has already is not repeated.
pub fn add_groups(user: &mut User, extra: &[String], group: &str) -> Result<(), UserError> {
    for wanted in extra {
        let gid = match wanted.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == wanted)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| UserError::NoSuchGroup(wanted.clone()))?,
        };
        if !user.groups.contains(&gid) {
            user.groups.push(gid);
        }
    }
    Ok(())
}
// ANCHOR_END: add_groups

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:alice\nalice:x:1000:\nnogroup:x:65534:\n";

    fn ids(spec: &str) -> (u32, u32, Vec<u32>, String) {
        let r = resolve(spec, PASSWD, GROUP).unwrap();
        (r.user.uid, r.user.gid, r.user.groups, r.home)
    }

    #[test]
    fn resolves_names_and_numbers() {
        assert_eq!(ids("nobody"), (65534, 65534, vec![65534], "/home".into()));
        assert_eq!(
            ids("alice"),
            (1000, 1000, vec![1000, 10], "/home/alice".into())
        );
        assert_eq!(
            ids("1000:wheel"),
            (1000, 10, vec![10], "/home/alice".into())
        );
        assert_eq!(ids("4242"), (4242, 0, vec![0], "/".into()));
        assert_eq!(ids("4242:77"), (4242, 77, vec![77], "/".into()));
    }

    #[test]
    fn added_groups_are_names_or_numbers() {
        let mut user = resolve("alice", PASSWD, GROUP).unwrap().user;
        let extra = ["wheel", "nogroup", "4242"].map(String::from);
        add_groups(&mut user, &extra, GROUP).unwrap();
        assert_eq!(user.groups, [1000, 10, 65534, 4242]);
        let err = add_groups(&mut user, &["staff".into()], GROUP).unwrap_err();
        assert_eq!(err, UserError::NoSuchGroup("staff".into()));
    }

    #[test]
    fn refuses_unknown_names() {
        assert_eq!(
            resolve("bob", PASSWD, GROUP),
            Err(UserError::NoSuchUser("bob".into()))
        );
        assert_eq!(
            resolve("alice:staff", PASSWD, GROUP),
            Err(UserError::NoSuchGroup("staff".into()))
        );
    }
}
