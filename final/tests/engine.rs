//! The engine through its Rust API (no HTTP): lifecycle, exit codes, attach (also before
//! start), terminals, waits, AutoRemove, logs, exec, and a daemon restart. Each test has its
//! own store and removes its containers, also when it fails.

mod engine_support;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use berth::engine::{
    AttachOptions, Engine, EngineError, ExecSpec, LogOptions, StartFailure, Status, StreamKind,
    WaitCondition,
};
use engine_support::{BERTHD, TestEngine, collect, no_input, run, within};
use nix::sys::signal::Signal;

fn all_streams() -> AttachOptions {
    AttachOptions {
        stdin: true,
        stdout: true,
        stderr: true,
        logs: false,
        detach_keys: String::new(),
    }
}

#[test]
fn exit_codes_are_dockers() {
    let t = TestEngine::new("exit-codes");
    let code = |cmd: &[&str]| run(&t, cmd, |_| {}, no_input()).map(|(code, _)| code);
    assert_eq!(code(&["true"]).unwrap(), 0);
    assert_eq!(code(&["sh", "-c", "exit 1"]).unwrap(), 1);
    match code(&["no-such-command"]) {
        Err(EngineError::Start {
            source: StartFailure { code, message },
            ..
        }) => {
            assert_eq!(code, 127, "{message}");
            assert!(message.contains("no-such-command"), "{message}");
        }
        other => panic!("a missing command must fail the start with 127: {other:?}"),
    }
    match code(&["/etc/passwd"]) {
        Err(EngineError::Start {
            source: StartFailure { code, .. },
            ..
        }) => assert_eq!(code, 126),
        other => panic!("a file that is not executable must fail with 126: {other:?}"),
    }

    // A killed container exits 128 + the signal.
    let id = t.create(&["sleep", "1000"], |_| {});
    t.engine.start(&id).unwrap();
    assert_eq!(t.engine.container(&id).unwrap().status, Status::Running);
    let waiter = t.engine.wait(&id, WaitCondition::NotRunning).unwrap();
    t.engine.kill(&id, Signal::SIGKILL).unwrap();
    assert_eq!(
        within("wait after kill", move || waiter.wait().unwrap()),
        137
    );
    let view = t.engine.container(&id).unwrap();
    assert_eq!(view.status, Status::Exited);
    assert_eq!(view.exit_code, Some(137));
    assert!(matches!(
        t.engine.kill(&id, Signal::SIGKILL),
        Err(EngineError::NotRunning(_))
    ));
}

#[test]
fn attach_before_start_sees_all_output_and_stdin() {
    let t = TestEngine::new("attach");
    // Separate streams, from the very first byte.
    let (code, out) = run(
        &t,
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        |_| {},
        no_input(),
    )
    .unwrap();
    assert_eq!(
        (code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );

    // Stdin sent before the start reaches `cat`; with StdinOnce its EOF ends cat.
    let (code, out) = run(
        &t,
        &["cat"],
        |spec| {
            spec.settings.open_stdin = true;
            spec.settings.stdin_once = true;
        },
        Box::new(&b"hello through stdin\n"[..]),
    )
    .unwrap();
    assert_eq!((code, out.stdout.as_str()), (0, "hello through stdin\n"));

    // Without OpenStdin, the container's stdin is /dev/null whatever the client sends.
    let (code, out) = run(&t, &["cat"], |_| {}, Box::new(&b"ignored\n"[..])).unwrap();
    assert_eq!((code, out.stdout.as_str()), (0, ""));
}

#[test]
fn stdin_stays_open_across_attaches_without_stdin_once() {
    let t = TestEngine::new("stdin-open");
    let id = t.create(&["cat"], |spec| spec.settings.open_stdin = true);
    t.engine.start(&id).unwrap();
    // A first client sends a line and goes (EOF): cat must still be running after it.
    let first = t.engine.attach(&id, all_streams()).unwrap();
    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let reader = theirs.try_clone().unwrap();
    let engine = Arc::clone(&t.engine);
    let seen = within("first attach", move || {
        let mut seen = String::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                ours.write_all(b"one\n").unwrap();
            });
            let _ = first.pump(Box::new(reader), &mut |_, bytes| {
                seen.push_str(&String::from_utf8_lossy(bytes));
                // Leave once the line came back: the client goes away.
                if seen.contains("one\n") {
                    Err(std::io::ErrorKind::BrokenPipe.into())
                } else {
                    Ok(())
                }
            });
        });
        drop(theirs);
        let _ = engine;
        seen
    });
    assert_eq!(seen, "one\n");
    assert_eq!(t.engine.container(&id).unwrap().status, Status::Running);
    t.engine.kill(&id, Signal::SIGKILL).unwrap();
}

#[test]
fn a_client_going_away_leaves_the_container_running() {
    let t = TestEngine::new("client-gone");
    let id = t.create(
        &["sh", "-c", "while :; do echo tick; sleep 0.05; done"],
        |_| {},
    );
    let session = t.engine.attach(&id, all_streams()).unwrap();
    let engine = Arc::clone(&t.engine);
    let start_id = id.clone();
    let pump = std::thread::spawn(move || {
        session.pump(no_input(), &mut |_, _| {
            Err(std::io::ErrorKind::BrokenPipe.into())
        })
    });
    engine.start(&start_id).unwrap();
    within("the pump to notice the client is gone", move || {
        pump.join().unwrap().unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    let view = t.engine.container(&id).unwrap();
    assert_eq!(
        view.status,
        Status::Running,
        "the container must outlive its client"
    );
    // And a new client still gets its output.
    let again = t.engine.attach(&id, all_streams()).unwrap();
    let got = within("a second attach", move || {
        let mut got = String::new();
        let _ = again.pump(no_input(), &mut |_, bytes| {
            got.push_str(&String::from_utf8_lossy(bytes));
            Err(std::io::ErrorKind::BrokenPipe.into())
        });
        got
    });
    assert!(got.starts_with("tick"), "{got:?}");
}

#[test]
fn a_tty_container_has_a_terminal_of_its_own() {
    let t = TestEngine::new("tty");
    let (code, out) = run(&t, &["tty"], |spec| spec.settings.tty = true, no_input()).unwrap();
    assert_eq!(code, 0);
    assert!(out.stdout.starts_with("/dev/pts/"), "{out:?}");
    assert!(out.stderr.is_empty(), "a TTY has one stream: {out:?}");

    let (_, out) = run(
        &t,
        &["stty", "size"],
        |spec| {
            spec.settings.tty = true;
            spec.settings.console_size = Some([30, 100]);
        },
        no_input(),
    )
    .unwrap();
    assert_eq!(out.stdout.trim(), "30 100");

    // `docker run -it` types before the start, when the terminal does not exist yet: the
    // monitor keeps those bytes for it (the terminal echoes them, then `read` gets them).
    let (code, out) = run(
        &t,
        &["sh", "-c", "read line; echo got $line"],
        |spec| {
            spec.settings.tty = true;
            spec.settings.open_stdin = true;
            spec.settings.stdin_once = true;
        },
        Box::new(&b"early\n"[..]),
    )
    .unwrap();
    assert_eq!((code, out.stdout.as_str()), (0, "early\r\ngot early\r\n"));
}

#[test]
fn a_tty_resizes_and_turns_ctrl_c_into_sigint() {
    let t = TestEngine::new("tty-interactive");
    let script = "trap 'echo got INT; exit 3' INT; echo ready; \
                  while :; do read line; eval \"$line\"; done";
    let id = t.create(&["sh", "-c", script], |spec| {
        spec.settings.tty = true;
        spec.settings.open_stdin = true;
    });
    let session = t.engine.attach(&id, all_streams()).unwrap();
    let (mut keyboard, theirs) = UnixStream::pair().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let pump = std::thread::spawn(move || {
        session.pump(Box::new(theirs), &mut |stream, bytes| {
            assert_eq!(stream, StreamKind::Stdout);
            let _ = tx.send(String::from_utf8_lossy(bytes).into_owned());
            Ok(())
        })
    });
    let waiter = t.engine.wait(&id, WaitCondition::NextExit).unwrap();
    t.engine.start(&id).unwrap();
    let mut screen = String::new();
    let expect = |needle: &str, screen: &mut String| {
        while !screen.contains(needle) {
            match rx.recv_timeout(engine_support::PATIENCE) {
                Ok(text) => screen.push_str(&text),
                Err(_) => panic!("never saw {needle:?}; the screen: {screen:?}"),
            }
        }
    };
    expect("ready", &mut screen);
    t.engine.resize(&id, 40, 120).unwrap();
    keyboard.write_all(b"stty size\n").unwrap();
    expect("40 120", &mut screen);
    keyboard.write_all(&[0x03]).unwrap();
    expect("got INT", &mut screen);
    assert_eq!(
        within("exit after Ctrl-C", move || waiter.wait().unwrap()),
        3
    );
    within("the session's end", move || pump.join().unwrap().unwrap());
}

#[test]
fn next_exit_and_removed_waits_with_auto_remove() {
    let t = TestEngine::new("auto-remove");
    let id = t.create(&["sh", "-c", "exit 5"], |spec| {
        spec.settings.auto_remove = true
    });
    // Both registered before the start.
    let next = t.engine.wait(&id, WaitCondition::NextExit).unwrap();
    let removed = t.engine.wait(&id, WaitCondition::Removed).unwrap();
    t.engine.start(&id).unwrap();
    assert_eq!(within("next-exit", move || next.wait().unwrap()), 5);
    assert_eq!(within("removed", move || removed.wait().unwrap()), 5);
    // `removed` is satisfied only once the container is gone.
    assert!(matches!(
        t.engine.container(&id),
        Err(EngineError::NoSuchContainer(_))
    ));
    assert!(!t.root().join("containers").join(&id).exists());

    // not-running on a created container returns at once.
    let id = t.create(&["true"], |_| {});
    let waiter = t.engine.wait(&id, WaitCondition::NotRunning).unwrap();
    assert_eq!(within("not-running", move || waiter.wait().unwrap()), 0);
}

#[test]
fn logs_select_and_follow() {
    let t = TestEngine::new("logs");
    let (code, _) = run(
        &t,
        &["sh", "-c", "echo one; echo two >&2; echo three"],
        |_| {},
        no_input(),
    )
    .unwrap();
    assert_eq!(code, 0);
    let id = t.engine.containers().unwrap()[0].record.id.clone();
    let lines = |options: LogOptions| -> Vec<(StreamKind, String)> {
        t.engine
            .logs(&id, options)
            .unwrap()
            .map(|l| {
                let l = l.unwrap();
                (l.stream, String::from_utf8(l.bytes).unwrap())
            })
            .collect()
    };
    let both = LogOptions {
        stdout: true,
        stderr: true,
        ..LogOptions::default()
    };
    // Each stream in its order (the two pipes are read apart, so their interleaving in the
    // log is not the program's).
    let all = lines(both.clone());
    let of = |kind| -> Vec<String> {
        all.iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, text)| text.clone())
            .collect()
    };
    assert_eq!(of(StreamKind::Stdout), ["one\n", "three\n"]);
    assert_eq!(of(StreamKind::Stderr), ["two\n"]);
    let stdout_only = LogOptions {
        stderr: false,
        ..both.clone()
    };
    assert_eq!(lines(stdout_only).len(), 2);
    let tail = LogOptions {
        tail: Some(1),
        ..both.clone()
    };
    assert_eq!(lines(tail), [all[2].clone()]);
    let future = LogOptions {
        since: Some(4_000_000_000.0),
        ..both.clone()
    };
    assert!(lines(future).is_empty());
    let past = LogOptions {
        until: Some(1.0),
        ..both.clone()
    };
    assert!(lines(past).is_empty());
    // Timestamps are RFC 3339 with nanoseconds.
    let first = t
        .engine
        .logs(&id, both.clone())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        first.time.len(),
        "2026-12-02T03:00:00.123456789Z".len(),
        "{}",
        first.time
    );
    assert!(first.time.ends_with('Z'));

    // Following a running container ends when it exits, with every line.
    let id = t.create(&["sh", "-c", "echo a; sleep 0.3; echo b"], |_| {});
    t.engine.start(&id).unwrap();
    let follow = t
        .engine
        .logs(
            &id,
            LogOptions {
                follow: true,
                ..both
            },
        )
        .unwrap();
    let got = within("logs --follow to end", move || {
        follow
            .map(|l| String::from_utf8(l.unwrap().bytes).unwrap())
            .collect::<String>()
    });
    assert_eq!(got, "a\nb\n");
}

#[test]
fn exec_runs_in_the_container_with_its_settings() {
    let t = TestEngine::new("exec");
    let id = t.create(&["sleep", "1000"], |spec| {
        spec.env = vec![("FROM_CONTAINER".into(), "c".into())];
        spec.hostname = Some("boxhost".into());
    });
    t.engine.start(&id).unwrap();
    let exec = |spec: ExecSpec| -> Result<(Option<i32>, engine_support::Output), EngineError> {
        let exec_id = t.engine.exec_create(&id, spec)?;
        let engine = Arc::clone(&t.engine);
        within("exec", move || {
            let session = engine.exec_start(&exec_id, false)?.expect("attached");
            let output = collect(session, no_input())?;
            // Recorded before the output ended.
            Ok((engine.exec(&exec_id)?.exit_code, output))
        })
    };
    let spec = |cmd: &[&str]| ExecSpec {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        attach_stdout: true,
        attach_stderr: true,
        ..ExecSpec::default()
    };
    let (code, out) = exec(ExecSpec {
        env: vec![("FROM_EXEC".into(), "e".into())],
        working_dir: Some("/tmp".into()),
        user: Some("nobody".into()),
        ..spec(&[
            "sh",
            "-c",
            "echo $FROM_CONTAINER $FROM_EXEC; pwd; id -u; hostname; echo $$ >&2",
        ])
    })
    .unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(out.stdout, "c e\n/tmp\n65534\nboxhost\n");
    // In the container's PID namespace: a small pid, not the host's.
    let pid: u32 = out.stderr.trim().parse().unwrap();
    assert!(
        pid < 100,
        "exec pid {pid} is not in the container's namespace"
    );

    let (code, _) = exec(spec(&["sh", "-c", "exit 7"])).unwrap();
    assert_eq!(code, Some(7));
    match exec(spec(&["no-such-command"])) {
        Err(EngineError::Start {
            source: StartFailure { code, .. },
            ..
        }) => assert_eq!(code, 127),
        other => panic!("expected a 127 start error: {other:?}"),
    }
    let (_, out) = exec(ExecSpec {
        tty: true,
        ..spec(&["tty"])
    })
    .unwrap();
    assert!(out.stdout.starts_with("/dev/pts/"), "{out:?}");

    // With stdin.
    let exec_id = t
        .engine
        .exec_create(
            &id,
            ExecSpec {
                attach_stdin: true,
                ..spec(&["cat"])
            },
        )
        .unwrap();
    let engine = Arc::clone(&t.engine);
    let out = within("exec with stdin", move || {
        let session = engine.exec_start(&exec_id, false).unwrap().unwrap();
        collect(session, Box::new(&b"piped\n"[..])).unwrap()
    });
    assert_eq!(out.stdout, "piped\n");

    // Not in a stopped container.
    t.engine.kill(&id, Signal::SIGKILL).unwrap();
    let waiter = t.engine.wait(&id, WaitCondition::NotRunning).unwrap();
    within("the kill", move || waiter.wait().unwrap());
    assert!(matches!(
        t.engine.exec_create(&id, spec(&["true"])),
        Err(EngineError::NotRunning(_))
    ));
}

#[test]
fn a_new_engine_adopts_running_containers() {
    let t = TestEngine::new("adopt");
    let id = t.create(&["sh", "-c", "echo started; exec sleep 1000"], |_| {});
    t.engine.start(&id).unwrap();
    let stdout = LogOptions {
        stdout: true,
        ..LogOptions::default()
    };
    let log = |engine: &Engine| -> String {
        let mut log = String::new();
        for line in engine.logs(&id, stdout.clone()).unwrap() {
            log.push_str(&String::from_utf8_lossy(&line.unwrap().bytes));
        }
        log
    };
    let deadline = std::time::Instant::now() + engine_support::PATIENCE;
    while log(&t.engine).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never printed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A second engine on the same store, as a restarted daemon would open it.
    let again = berth::engine::open(&t.root(), BERTHD.into()).unwrap();
    let view = again.container(&id).unwrap();
    assert_eq!(view.status, Status::Running);
    assert!(view.pid.is_some());
    let waiter = again.wait(&id, WaitCondition::NextExit).unwrap();
    again.kill(&id, Signal::SIGKILL).unwrap();
    assert_eq!(
        within("the adopted exit", move || waiter.wait().unwrap()),
        137
    );
    assert_eq!(log(&again), "started\n");
}

/// `docker run --rm busybox true` as the CLI drives it, with AutoRemove: create, attach,
/// wait for removal, start, pump. Returns the exit code.
fn run_rm(engine: &Arc<Engine>, cmd: &[&str]) -> i32 {
    let spec = berth::engine::CreateSpec {
        image: "busybox".into(),
        cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
        settings: berth_images::container::Settings {
            auto_remove: true,
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let id = engine.create(spec).unwrap().record.id;
    let options = AttachOptions {
        stdout: true,
        stderr: true,
        ..AttachOptions::default()
    };
    let session = engine.attach(&id, options).unwrap();
    let waiter = engine.wait(&id, WaitCondition::Removed).unwrap();
    let pump = std::thread::spawn(move || collect(session, no_input()).unwrap());
    engine.start(&id).unwrap();
    pump.join().unwrap();
    waiter.wait().unwrap()
}

#[test]
fn a_hundred_concurrent_runs_all_finish_and_leave_nothing() {
    let t = TestEngine::new("hundred");
    let engine = Arc::clone(&t.engine);
    let started = std::time::Instant::now();
    let codes = within("a hundred runs", move || {
        let runs: Vec<_> = (0..100)
            .map(|i| {
                let engine = Arc::clone(&engine);
                std::thread::spawn(move || {
                    run_rm(&engine, &["sh", "-c", &format!("exit {}", i % 3)])
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    eprintln!("100 concurrent run --rm: {:?}", started.elapsed());
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(*code, (i % 3) as i32);
    }
    assert!(t.engine.containers().unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(t.root().join("containers"))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "container directories left behind: {left:?}"
    );
}

#[test]
#[ignore = "a measurement, not a check: run with --run-ignored all --no-capture"]
fn run_rm_cost_is_reported() {
    // Not a pass/fail figure (the machine is shared): printed for the benchmark.
    let t = TestEngine::new("cost");
    run_rm(&t.engine, &["true"]); // warm the caches
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let started = std::time::Instant::now();
            assert_eq!(run_rm(&t.engine, &["/bin/true"]), 0);
            started.elapsed()
        })
        .collect();
    times.sort();
    eprintln!(
        "engine run --rm /bin/true: median {:?}, min {:?}",
        times[10], times[0]
    );
}

#[test]
fn stop_escalates_to_sigkill_and_remove_needs_force() {
    let t = TestEngine::new("stop");
    // `sleep` as PID 1 has no handler for SIGTERM, so the kernel drops it: only SIGKILL ends it.
    let id = t.create(&["sleep", "1000"], |_| {});
    t.engine.start(&id).unwrap();
    assert!(matches!(
        t.engine.remove(&id, false),
        Err(EngineError::RemoveRunning(_))
    ));
    let engine = Arc::clone(&t.engine);
    let stop_id = id.clone();
    let stopped = within("stop", move || {
        engine.stop(&stop_id, Some(Duration::from_millis(100)), None)
    });
    assert!(stopped.unwrap());
    assert_eq!(t.engine.container(&id).unwrap().exit_code, Some(137));
    assert!(
        !t.engine.stop(&id, None, None).unwrap(),
        "not running any more"
    );

    // A forced remove kills a running container first.
    let id = t.create(&["sleep", "1000"], |_| {});
    t.engine.start(&id).unwrap();
    let removed = t.engine.wait(&id, WaitCondition::Removed).unwrap();
    let engine = Arc::clone(&t.engine);
    let rm_id = id.clone();
    within("rm -f", move || engine.remove(&rm_id, true).unwrap());
    assert_eq!(within("removed", move || removed.wait().unwrap()), 137);
    assert!(matches!(
        t.engine.container(&id),
        Err(EngineError::NoSuchContainer(_))
    ));
}

#[test]
fn create_takes_dockers_entrypoint_rules_and_reports_missing_images() {
    let t = TestEngine::new("entrypoint");
    let (_, out) = run(
        &t,
        &["hello", "world"],
        |spec| spec.entrypoint = Some(vec!["echo".into(), "says".into()]),
        no_input(),
    )
    .unwrap();
    assert_eq!(out.stdout, "says hello world\n");
    let view = t.engine.containers().unwrap().remove(0);
    assert_eq!(view.record.entrypoint, ["echo", "says"]);
    assert_eq!(view.record.cmd, ["hello", "world"]);
    assert!(
        view.record.env.iter().any(|(k, _)| k == "PATH"),
        "{:?}",
        view.record.env
    );

    let missing = t.engine.create(berth::engine::CreateSpec {
        image: "no-such-image".into(),
        ..Default::default()
    });
    assert!(
        matches!(
            missing,
            Err(EngineError::Store(
                berth_images::store::StoreError::NoSuchImage(_)
            ))
        ),
        "{missing:?}"
    );
}

#[test]
fn attach_with_logs_replays_then_follows() {
    let t = TestEngine::new("attach-logs");
    let id = t.create(&["sh", "-c", "echo early; read x; echo late"], |spec| {
        spec.settings.open_stdin = true;
        spec.settings.stdin_once = true;
    });
    t.engine.start(&id).unwrap();
    // Wait for "early" in the log, then attach with a replay and release the container.
    let deadline = std::time::Instant::now() + engine_support::PATIENCE;
    let options = LogOptions {
        stdout: true,
        ..LogOptions::default()
    };
    while t
        .engine
        .logs(&id, options.clone())
        .unwrap()
        .next()
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "never printed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let session = t
        .engine
        .attach(
            &id,
            AttachOptions {
                logs: true,
                ..all_streams()
            },
        )
        .unwrap();
    let out = within("attach --logs", move || {
        collect(session, Box::new(&b"go\n"[..])).unwrap()
    });
    assert_eq!(out.stdout, "early\nlate\n");
}

#[test]
fn exec_detached_and_with_a_resizable_terminal() {
    let t = TestEngine::new("exec-more");
    let id = t.create(&["sleep", "1000"], |_| {});
    t.engine.start(&id).unwrap();

    let detached = t
        .engine
        .exec_create(
            &id,
            ExecSpec {
                cmd: vec!["sh".into(), "-c".into(), "exit 9".into()],
                ..ExecSpec::default()
            },
        )
        .unwrap();
    assert!(t.engine.exec_start(&detached, true).unwrap().is_none());
    let engine = Arc::clone(&t.engine);
    let code = within("the detached exec's exit", move || {
        loop {
            if let Some(code) = engine.exec(&detached).unwrap().exit_code {
                return code;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert_eq!(code, 9);

    let exec_id = t
        .engine
        .exec_create(
            &id,
            ExecSpec {
                cmd: vec!["sh".into()],
                tty: true,
                attach_stdin: true,
                attach_stdout: true,
                console_size: Some([10, 20]),
                ..ExecSpec::default()
            },
        )
        .unwrap();
    let session = t.engine.exec_start(&exec_id, false).unwrap().unwrap();
    assert!(session.tty);
    let (mut keyboard, theirs) = UnixStream::pair().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let pump = std::thread::spawn(move || {
        session.pump(Box::new(theirs), &mut |_, bytes| {
            let _ = tx.send(String::from_utf8_lossy(bytes).into_owned());
            Ok(())
        })
    });
    let mut screen = String::new();
    let expect = |needle: &str, screen: &mut String| {
        while !screen.contains(needle) {
            match rx.recv_timeout(engine_support::PATIENCE) {
                Ok(text) => screen.push_str(&text),
                Err(_) => panic!("never saw {needle:?}; the screen: {screen:?}"),
            }
        }
    };
    keyboard.write_all(b"stty size\n").unwrap();
    expect("10 20", &mut screen);
    t.engine.exec_resize(&exec_id, 50, 132).unwrap();
    keyboard.write_all(b"stty size; exit 4\n").unwrap();
    expect("50 132", &mut screen);
    within("the exec's end", move || pump.join().unwrap().unwrap());
    assert_eq!(t.engine.exec(&exec_id).unwrap().exit_code, Some(4));
}

#[test]
fn a_new_engine_removes_auto_remove_containers_that_exited_meanwhile() {
    let t = TestEngine::new("auto-remove-open");
    let id = t.create(&["true"], |spec| spec.settings.auto_remove = true);
    // As a monitor leaves it when the container exited while no daemon was running.
    let dir = t.root().join("containers").join(&id);
    let state = serde_json::json!({"status": "exited", "exit_code": 0});
    std::fs::write(dir.join("state.json"), state.to_string()).unwrap();
    let again = berth::engine::open(&t.root(), BERTHD.into()).unwrap();
    assert!(matches!(
        again.container(&id),
        Err(EngineError::NoSuchContainer(_))
    ));
    // A created one (never started) stays.
    let kept = t.create(&["true"], |spec| spec.settings.auto_remove = true);
    let again = berth::engine::open(&t.root(), BERTHD.into()).unwrap();
    assert_eq!(again.container(&kept).unwrap().status, Status::Created);
}

#[test]
fn detach_keys_leave_a_tty_container_running() {
    let t = TestEngine::new("detach-keys");
    let id = t.create(&["sh"], |spec| {
        spec.settings.tty = true;
        spec.settings.open_stdin = true;
    });
    t.engine.start(&id).unwrap();
    let session = t.engine.attach(&id, all_streams()).unwrap();
    let (mut keyboard, theirs) = UnixStream::pair().unwrap();
    // Ctrl-P Ctrl-Q; the keyboard stays open, so only the keys can end the session.
    keyboard.write_all(&[0x10, 0x11]).unwrap();
    within("detaching", move || {
        session.pump(Box::new(theirs), &mut |_, _| Ok(())).unwrap()
    });
    assert_eq!(t.engine.container(&id).unwrap().status, Status::Running);
    drop(keyboard);
}

#[test]
fn an_exec_outlives_its_client() {
    let t = TestEngine::new("exec-client-gone");
    let id = t.create(&["sleep", "1000"], |_| {});
    t.engine.start(&id).unwrap();
    let exec_id = t
        .engine
        .exec_create(
            &id,
            ExecSpec {
                cmd: ["sh", "-c", "while :; do echo x; sleep 0.05; done"]
                    .map(String::from)
                    .to_vec(),
                attach_stdout: true,
                ..ExecSpec::default()
            },
        )
        .unwrap();
    let session = t.engine.exec_start(&exec_id, false).unwrap().unwrap();
    within("the client leaving", move || {
        session
            .pump(no_input(), &mut |_, _| {
                Err(std::io::ErrorKind::BrokenPipe.into())
            })
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    let view = t.engine.exec(&exec_id).unwrap();
    assert!(view.running, "the exec must outlive its client: {view:?}");
    assert_eq!(view.exit_code, None);
    // It ends with its container.
    t.engine.kill(&id, Signal::SIGKILL).unwrap();
    let engine = Arc::clone(&t.engine);
    let code = within("the exec's end", move || {
        loop {
            if let Some(code) = engine.exec(&exec_id).unwrap().exit_code {
                return code;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    assert_eq!(code, 137);
}

#[test]
fn attach_to_an_exited_container_replays_its_log_or_waits_for_the_next_start() {
    let t = TestEngine::new("attach-exited");
    let (code, _) = run(&t, &["echo", "once"], |_| {}, no_input()).unwrap();
    assert_eq!(code, 0);
    let id = t.engine.containers().unwrap()[0].record.id.clone();
    // With logs: the replay, then the end.
    let replay = t
        .engine
        .attach(
            &id,
            AttachOptions {
                logs: true,
                ..all_streams()
            },
        )
        .unwrap();
    let out = within("a replay", move || collect(replay, no_input()).unwrap());
    assert_eq!(out.stdout, "once\n");
    // Without: `docker start -a`, which attaches first and then starts.
    let session = t.engine.attach(&id, all_streams()).unwrap();
    let pump = std::thread::spawn(move || collect(session, no_input()).unwrap());
    t.engine.start(&id).unwrap();
    let out = within("start -a", move || pump.join().unwrap());
    assert_eq!(out.stdout, "once\n");
}

/// The pids of the processes whose command line contains every one of `words`.
fn processes_with(words: &[&str]) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            words.iter().all(|w| cmdline.contains(w)).then_some(pid)
        })
        .collect()
}

#[test]
fn starts_go_on_when_the_monitor_zygote_is_gone() {
    let t = TestEngine::new("zygote");
    let root = t.root().display().to_string();
    let (code, out) = run(&t, &["echo", "forked"], |_| {}, no_input()).unwrap();
    assert_eq!((code, out.stdout.as_str()), (0, "forked\n"));

    // The engine forks its monitors from one zygote process, its child (the monitors it
    // forked carry the same command line, but are the zygote's children); kill it as an
    // accident would.
    let ours = std::process::id().to_string();
    let zygotes: Vec<i32> = processes_with(&["monitor", "--zygote", &root])
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                status
                    .lines()
                    .any(|l| l.strip_prefix("PPid:").map(str::trim) == Some(ours.as_str()))
            })
        })
        .collect();
    assert_eq!(zygotes.len(), 1, "one zygote per engine: {zygotes:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygotes[0]), Signal::SIGKILL).unwrap();

    // Starts fall back to running `berthd monitor` for each container.
    let (code, out) = run(&t, &["sh", "-c", "echo exec; exit 5"], |_| {}, no_input()).unwrap();
    assert_eq!((code, out.stdout.as_str()), (5, "exec\n"));
}

#[test]
fn exec_reads_user_names_inside_the_container_even_through_symlinks() {
    let t = TestEngine::new("exec-passwd");
    // A file on the host that looks like a passwd entry, at a path the container does not have.
    let host_file = t.dir.path().join("host-passwd");
    std::fs::write(&host_file, "intruder:x:0:0::/intruder:/bin/sh\n").unwrap();
    let host_path = host_file.display().to_string();
    // The container points its /etc/passwd at that absolute path: resolved on the host, it
    // would name the host's file.
    let id = t.create(
        &[
            "sh",
            "-c",
            &format!("ln -sf {host_path} /etc/passwd; sleep 1000"),
        ],
        |_| {},
    );
    t.engine.start(&id).unwrap();
    // The symlink is in the container's writable layer once the shell has made it.
    let link = t
        .root()
        .join("containers")
        .join(&id)
        .join("upper/etc/passwd");
    within("the symlink", move || {
        while !link.is_symlink() {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let exec_id = t
        .engine
        .exec_create(
            &id,
            ExecSpec {
                cmd: vec!["id".into()],
                user: Some("intruder".into()),
                attach_stdout: true,
                ..ExecSpec::default()
            },
        )
        .unwrap();
    match t.engine.exec_start(&exec_id, false) {
        Err(EngineError::Start {
            source: StartFailure { message, code },
            ..
        }) => {
            assert_eq!(code, 126);
            assert!(message.contains("intruder"), "{message}");
        }
        Err(other) => panic!("expected an unknown-user error: {other:?}"),
        Ok(_) => panic!("the user was found in the host's file through the container's symlink"),
    }
    t.engine.kill(&id, Signal::SIGKILL).unwrap();
}
