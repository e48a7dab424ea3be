//! The cross-process lock of msal-extensions (PROTOCOL.md §10.3): the file `{location}.lockfile`
//! created exclusively, holding "{pid} {argv0}", deleted on release.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[cfg(test)]
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two attempts. msal-extensions retries every 0.25 s; shorter,
/// randomised pauses give every waiting process many chances, so that none starves behind a
/// busy lock.
const MAX_RETRY: Duration = Duration::from_millis(20);
/// The first pause; doubled on every failed attempt up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(1);
/// A lock file older than this whose owner cannot be checked is considered abandoned.
const STALE_AGE: Duration = Duration::from_secs(60);

/// A held lock; dropping it deletes the lock file.
#[derive(Debug)]
pub(crate) struct LockGuard {
    path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(
                "could not remove the token cache lock {}: {e}",
                self.path.display()
            );
        }
    }
}

fn argv0() -> String {
    std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// True when the lock file names a process that no longer runs (Linux: no `/proc/{pid}`), or,
/// where that cannot be checked, when the file is older than a minute.
fn is_stale(path: &Path) -> bool {
    let Ok(content) = std::fs::read_to_string(path) else {
        return false;
    };
    let pid = content
        .split_whitespace()
        .next()
        .and_then(|p| p.parse::<u32>().ok());
    if cfg!(target_os = "linux")
        && Path::new("/proc/self").exists()
        && let Some(pid) = pid
    {
        return pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists();
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_AGE)
}

/// Takes the lock `path`, retrying with growing random pauses (at most 20 ms apart) for up to
/// `timeout`. A lock left by a process that died is removed.
pub(crate) fn acquire(path: &Path, timeout: Duration) -> std::io::Result<LockGuard> {
    let start = Instant::now();
    let mut pause = FIRST_RETRY;
    let content = format!("{} {}", std::process::id(), argv0());
    loop {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                f.write_all(content.as_bytes())?;
                return Ok(LockGuard {
                    path: path.to_owned(),
                });
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if is_stale(path) {
                    tracing::warn!("removing the abandoned token cache lock {}", path.display());
                    let _ = std::fs::remove_file(path);
                    continue;
                }
            }
            Err(e) => return Err(e),
        }
        if start.elapsed() >= timeout {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                format!(
                    "another process held the token cache lock {} for more than {} s; if no other process uses the cache, delete that file",
                    path.display(),
                    timeout.as_secs()
                ),
            ));
        }
        // Between half and all of the pause, at random.
        let half = pause / 2;
        let jitter = Duration::from_micros(identity_core::random::below_or_equal(
            u64::try_from(half.as_micros()).unwrap_or(0),
        ));
        std::thread::sleep((half + jitter).min(timeout.saturating_sub(start.elapsed())));
        pause = (pause * 2).min(MAX_RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("azid-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn exclusive_content_release_and_timeout() {
        let d = dir("basic");
        let path = d.join("c.lockfile");
        let guard = acquire(&path, LOCK_TIMEOUT).unwrap();
        let content = std::fs::read_to_string(&path).unwrap();
        assert!(content.starts_with(&format!("{} ", std::process::id())));
        // Our own live pid: never stale, so a second attempt times out.
        let e = acquire(&path, Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TimedOut);
        drop(guard);
        assert!(!path.exists());
        drop(acquire(&path, LOCK_TIMEOUT).unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_dead_owner_lock_is_taken_over() {
        let d = dir("stale");
        let path = d.join("c.lockfile");
        // A pid that cannot be running: beyond the kernel's pid_max.
        std::fs::write(&path, "2147483646 /gone").unwrap();
        let guard = acquire(&path, Duration::from_millis(500)).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with(&std::process::id().to_string())
        );
        drop(guard);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
