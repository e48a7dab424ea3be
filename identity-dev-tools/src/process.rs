//! Runs a tool: argv only (no shell), stdin closed, a working directory, a hard timeout after
//! which the child and its process group are killed and reaped, output capped.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Each of stdout and stderr keeps at most this much; the rest is read and discarded so the
/// child never blocks on a full pipe.
pub(crate) const OUTPUT_CAP: usize = 1024 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    /// Start from an empty environment instead of inheriting this process's.
    pub(crate) clear_env: bool,
    pub(crate) cwd: PathBuf,
    pub(crate) timeout: Duration,
}

/// What a tool run printed and how it ended.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output (lossy UTF-8, capped).
    pub stdout: String,
    /// Standard error (lossy UTF-8, capped).
    pub stderr: String,
    /// True when either stream went past the 1 MiB cap.
    pub truncated: bool,
}

impl Output {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Why it did not run to completion.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program does not exist.
    NotFound,
    /// It could not be started.
    Launch(std::io::Error),
    /// It ran past the timeout and was killed.
    TimedOut(Duration),
}

/// Finds `name` on a `PATH` value: the first existing regular file (executable on Unix).
pub(crate) fn find_on_path(name: &str, path: Option<&str>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

fn drain(mut stream: impl Read + Send + 'static) -> mpsc::Receiver<(Vec<u8>, bool)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(kept.len());
                    if n > room {
                        truncated = true;
                    }
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        let _ = tx.send((kept, truncated));
    });
    rx
}

fn kill_tree(child: &mut Child) {
    #[cfg(unix)]
    {
        // The child leads its own process group: kill the group so that grandchildren (a
        // shell script's `sleep`, Python's workers) die too and release the pipes.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs the invocation to completion or to its timeout.
pub(crate) fn run(invocation: &Invocation) -> Result<Output, RunError> {
    let started = Instant::now();
    let mut command = Command::new(&invocation.program);
    if invocation.clear_env {
        command.env_clear();
    }
    command
        .args(&invocation.args)
        .current_dir(&invocation.cwd)
        .envs(invocation.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => RunError::NotFound,
        _ => RunError::Launch(e),
    })?;
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = started + invocation.timeout;
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_tree(&mut child);
                return Err(RunError::Launch(e));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            kill_tree(&mut child);
            return Err(RunError::TimedOut(invocation.timeout));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    };
    // The child has exited; its output is complete unless a grandchild still holds a pipe, so
    // wait for the readers only for what is left of the timeout.
    let collect = |rx: Option<mpsc::Receiver<(Vec<u8>, bool)>>| -> (String, bool) {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100));
        match rx.map(|rx| rx.recv_timeout(left)) {
            Some(Ok((bytes, truncated))) => {
                (String::from_utf8_lossy(&bytes).into_owned(), truncated)
            }
            _ => (String::new(), false),
        }
    };
    let (stdout, t1) = collect(stdout);
    let (stderr, t2) = collect(stderr);
    Ok(Output {
        code: status.code(),
        stdout,
        stderr,
        truncated: t1 || t2,
    })
}

/// Runs the invocation on a thread of its own and awaits it: any executor works and none is
/// blocked.
pub(crate) async fn run_async(invocation: Invocation) -> Result<Output, RunError> {
    let (tx, rx) = futures_channel::oneshot::channel();
    std::thread::Builder::new()
        .name("identity-dev-tools".into())
        .spawn(move || {
            let _ = tx.send(run(&invocation));
        })
        .map_err(RunError::Launch)?;
    rx.await.unwrap_or_else(|_| {
        Err(RunError::Launch(std::io::Error::other(
            "the tool's runner thread ended without a result",
        )))
    })
}

/// The working directory of every tool: `/bin` on Unix, `%SYSTEMROOT%` on Windows.
pub(crate) fn working_directory(env: &dyn identity_core::env::Env) -> Option<PathBuf> {
    if cfg!(windows) {
        env.non_empty("SYSTEMROOT").map(PathBuf::from)
    } else {
        Some(PathBuf::from("/bin"))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Invocation {
        Invocation {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            env: vec![("X_TEST".into(), "1".into())],
            clear_env: false,
            cwd: PathBuf::from("/bin"),
            timeout,
        }
    }

    #[test]
    fn captures_output_code_cwd_env_and_closed_stdin() {
        let out = run(&sh(
            "pwd -P; echo $X_TEST; cat; echo err >&2; exit 3",
            Duration::from_secs(10),
        ))
        .unwrap();
        assert_eq!(out.code, Some(3));
        let bin = std::fs::canonicalize("/bin").unwrap();
        assert_eq!(out.stdout, format!("{}\n1\n", bin.display()));
        assert_eq!(out.stderr, "err\n");
        assert!(!out.truncated);
    }

    #[test]
    fn kills_and_reaps_on_timeout_including_grandchildren() {
        let started = Instant::now();
        let e = run(&sh("sleep 30; echo never", Duration::from_millis(300))).unwrap_err();
        assert!(matches!(e, RunError::TimedOut(d) if d == Duration::from_millis(300)));
        // Bounded: the kill does not wait for the grandchild `sleep`.
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn caps_output() {
        let out = run(&sh(
            "head -c 10000000 /dev/zero | tr '\\0' x",
            Duration::from_secs(20),
        ))
        .unwrap();
        assert!(out.truncated);
        assert_eq!(out.stdout.len(), OUTPUT_CAP);
        assert_eq!(out.code, Some(0));
    }

    #[test]
    fn missing_program() {
        let mut inv = sh("true", Duration::from_secs(1));
        inv.program = PathBuf::from("/nonexistent/az");
        assert!(matches!(run(&inv), Err(RunError::NotFound)));
    }

    #[test]
    fn path_search() {
        assert_eq!(
            find_on_path("sh", Some("/nonexistent:/bin")),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            find_on_path("no-such-tool-xyz", Some("/bin:/usr/bin")),
            None
        );
        assert_eq!(find_on_path("sh", None), None);
    }

    #[test]
    fn async_runner() {
        let out =
            futures_executor::block_on(run_async(sh("echo hi", Duration::from_secs(10)))).unwrap();
        assert_eq!(out.stdout, "hi\n");
    }
}
