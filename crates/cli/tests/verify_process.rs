//! `ballast verify` and the target it spawns, through the binary: a second Ctrl-C exits at
//! once (130), and the target's process group goes with it even when it ignores SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const MODE: &str = "BALLAST_CLI_TEST_HELPER";

/// Not a test: the target `ballast verify` spawns (this binary again, `MODE` set). Ignores
/// SIGTERM, writes `PID PGID` to `PIDFILE`, answers HTTP/1.1 on the inherited `LISTEN_FD`.
#[test]
#[ignore = "the target process of the other tests"]
fn helper() {
    if std::env::var(MODE).is_err() {
        return;
    }
    // SAFETY: sets SIGTERM's disposition to "ignore"; no handler runs.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    // SAFETY: getpgrp has no arguments and cannot fail.
    let pgid = unsafe { libc::getpgrp() };
    let fd: i32 = std::env::var("LISTEN_FD").unwrap().parse().unwrap();
    // SAFETY: the listening socket handed down by the test, open in this process.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    std::fs::write(
        std::env::var("PIDFILE").unwrap(),
        format!("{} {pgid}\n", std::process::id()),
    )
    .unwrap();
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.ends_with("\r\n\r\n") {}
                if writer
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

fn running_in_group(pgid: i32) -> Vec<u32> {
    let table = ballast_proc::ProcessTable::scan(Path::new("/proc")).unwrap();
    table.group(pgid).into_iter().map(|s| s.pid).collect()
}

#[test]
fn a_second_ctrl_c_exits_130_and_takes_the_targets_group_with_it() {
    let dir = std::env::temp_dir().join(format!("ballast-cli-ctrl-c-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fd = listener.as_raw_fd();
    // SAFETY: clears close-on-exec on a descriptor this process owns, so ballast and
    // then its target inherit the listener.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, 0);
    let pidfile = dir.join("server.pid");
    let me = std::env::current_exe().unwrap();
    let contract = dir.join("contract.yaml");
    std::fs::write(
        &contract,
        format!(
            "name: ctrl-c\n\
             target:\n  base_url: http://127.0.0.1:{port}\n  connections: 2\n  spawn:\n    command: {:?}\n\
             \x20   args: [helper, --exact, --ignored, --nocapture, --test-threads=1]\n\
             \x20   env: {{ {MODE}: serve, LISTEN_FD: \"{fd}\", PIDFILE: {:?} }}\n\
             \x20   ready: {{ http: /healthz }}\n\
             phases:\n  - {{ name: long, rate: 20/s, duration: 10m }}\n\
             clauses:\n  - {{ name: no restarts, check: process.restarts == 0 }}\n",
            me.to_str().unwrap(),
            pidfile.to_str().unwrap(),
        ),
    )
    .unwrap();
    let mut ballast = Command::new(env!("CARGO_BIN_EXE_ballast"))
        .args(["verify", contract.to_str().unwrap(), "--no-progress"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(ballast.stderr.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let sigint = |pid: u32| {
        // SAFETY: kill(2) on the ballast process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
    };
    // The phase runs once the target is up.
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("phase 1/1")) {
        seen.push(
            lines
                .recv()
                .unwrap_or_else(|_| panic!("ballast ended early: {seen:#?}")),
        );
    }
    let text = std::fs::read_to_string(&pidfile).unwrap();
    let pgid: i32 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(!running_in_group(pgid).is_empty());

    // First Ctrl-C: ballast ends the phase and stops the target, which ignores SIGTERM,
    // so the stop waits out its grace period. Ctrl-C again until ballast quits.
    sigint(ballast.id());
    let status = loop {
        if let Some(status) = ballast.try_wait().unwrap() {
            break status;
        }
        sigint(ballast.id());
        std::thread::sleep(Duration::from_millis(200));
    };
    let said: Vec<String> = seen.into_iter().chain(lines.try_iter()).collect();
    assert_eq!(status.code(), Some(130), "{said:#?}");
    // The group is killed by the exit hook, not left to SIGTERM (which it ignores).
    let mut left = running_in_group(pgid);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        left = running_in_group(pgid);
    }
    assert!(
        left.is_empty(),
        "the target's group outlived ballast: {left:?}"
    );
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}
