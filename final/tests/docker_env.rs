//! Issue 12, bug 5: `docker run -e NAME` with `NAME` unset where the CLI runs. The CLI then
//! sends the bare name; dockerd removes the image's variable of that name from the container
//! and keeps the name, as given, in inspect's `Config.Env` (checked against dockerd 20.10:
//! `-e FOO -e PATH -e BAR=1` gives `["FOO","PATH","BAR=1"]` and a container without `PATH`).

mod support;

use support::Daemon;

#[test]
fn a_bare_env_name_unsets_the_image_variable_and_stays_in_inspect() {
    let daemon = Daemon::builder().label("env-unset").start();
    daemon
        .docker(&["load", "-i", "/var/cache/berth/fixtures/images/busybox.tar"])
        .ok();
    let mut run = daemon.docker_command(&[
        "run",
        "--name",
        "bare",
        "-e",
        "PATH",
        "-e",
        "NOT_SET_ANYWHERE",
        "-e",
        "BAR=1",
        "busybox",
        "/bin/busybox",
        "env",
    ]);
    // Unset on the client's side: the CLI sends "PATH" and "NOT_SET_ANYWHERE" without a value.
    run.env_remove("PATH").env_remove("NOT_SET_ANYWHERE");
    let out = support::run(run, "docker run -e PATH (unset)", None);
    let env = out.ok();
    assert!(
        !env.lines().any(|l| l.starts_with("PATH=")),
        "the image's PATH is still set:\n{env}"
    );
    assert!(env.lines().any(|l| l == "BAR=1"), "{env}");
    assert!(!env.contains("NOT_SET_ANYWHERE"), "{env}");

    let config_env = daemon.docker(&["inspect", "-f", "{{json .Config.Env}}", "bare"]);
    let config_env: Vec<String> = serde_json::from_str(config_env.ok().trim()).unwrap();
    for name in ["PATH", "NOT_SET_ANYWHERE", "BAR=1"] {
        assert!(
            config_env.iter().any(|e| e == name),
            "{name} is not in Config.Env as given: {config_env:?}"
        );
    }
    assert!(
        !config_env.iter().any(|e| e.starts_with("PATH=")),
        "{config_env:?}"
    );

    // An empty name is refused, naming the variable (the CLI refuses it itself; docker-py
    // does not).
    let answer = support::api::request(
        &daemon.socket(),
        "POST",
        "/containers/create",
        &[("Content-Type", "application/json")],
        br#"{"Image":"busybox","Env":["=x"]}"#,
    )
    .unwrap();
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .text()
            .contains(r#"invalid environment variable \"=x\""#),
        "{}",
        answer.text()
    );
}
