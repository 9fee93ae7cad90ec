//! From a create request to chapter 2's record: Docker's "empty means the image's" rules.
//!
//! The Docker API sends `"Cmd": []`, `"Entrypoint": [""]`, `"User": ""` and means "the
//! image's" (or, for the entrypoint, "none"). Chapter 2's `RunOptions` knows only "not given"
//! (`None`, or an empty list for the command) and real values, so the rules are applied here,
//! once, and chapter 2 writes the container's one record (`config.json`) with everything the
//! request asked for.

use berth_images::container::RunOptions;

use super::CreateSpec;

/// The chapter 2 options for a create request.
pub fn run_options(spec: CreateSpec) -> RunOptions {
    let entrypoint = spec.entrypoint.map(|e| {
        e.into_iter()
            .filter(|arg| !arg.is_empty())
            .collect::<Vec<_>>()
    });
    RunOptions {
        name: spec.name,
        cmd: spec.cmd.unwrap_or_default(),
        env: spec.env,
        unset_env: spec.unset_env,
        user: spec.user.filter(|u| !u.is_empty()),
        workdir: spec.working_dir.filter(|w| !w.is_empty()),
        init: spec.init,
        group_add: spec.group_add,
        entrypoint,
        hostname: spec.hostname.filter(|h| !h.is_empty()),
        settings: spec.settings,
    }
}
