//! `cargo xtask fuzz [--seconds N] [TARGET]`: the libFuzzer targets of `fuzz/` (issue #13),
//! and the short smoke run of each that `cargo xtask ci` does.
//!
//! The fuzz crate is outside the workspace and has its own target dir
//! (`$CARGO_TARGET_DIR/fuzz`, else `~/.cache/azure-identity-rs/fuzz-target`). cargo-fuzz needs
//! nightly flags: the stable toolchain runs it with `RUSTC_BOOTSTRAP=1`. Targets are built
//! with optimisations and debug assertions (integer overflow is a crash). The committed corpus
//! (`fuzz/corpus/<target>`) is only read: new inputs go to a work corpus under the target dir.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Seconds per target of `cargo xtask fuzz` without `--seconds`.
const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target of the CI smoke run.
const SMOKE_SECONDS: u64 = 10;
/// A run stops after this many executions or its seconds, whichever comes first (issue #13).
const MAX_RUNS: u64 = 10_000_000;
/// libFuzzer limits: memory (MB) and a single input's run time (s).
const RSS_LIMIT_MB: u32 = 2048;
const TIMEOUT_SECONDS: u32 = 5;

/// The largest input each target is given: real inputs of that kind are smaller (certificate
/// files are a few KB, token responses and tool output less).
fn max_len(target: &str) -> usize {
    match target {
        "certificate" => 16 * 1024,
        "entra_response" | "msi_response" | "dev_tool_output" | "msal_cache" => 8 * 1024,
        _ => 4 * 1024,
    }
}

/// What one run of a target reported.
#[derive(Debug, Default)]
struct Stats {
    executions: Option<u64>,
    seconds: Option<u64>,
    cov: Option<u64>,
    ft: Option<u64>,
    corpus: Option<u64>,
    peak_rss_mb: Option<u64>,
    ok: bool,
}

/// `cargo xtask fuzz [--seconds N] [TARGET]`.
pub(crate) fn fuzz(root: &Path, args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut only = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = rest.next().ok_or("--seconds needs a number")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds {value}: not a whole number of seconds"))?;
            }
            other if other.starts_with('-') => {
                return Err(format!(
                    "unknown option '{other}'; usage: cargo xtask fuzz [--seconds N] [TARGET]"
                ));
            }
            other => only = Some(other.to_owned()),
        }
    }
    let all = targets(root)?;
    let selected: Vec<String> = match only {
        Some(t) if all.contains(&t) => vec![t],
        Some(t) => return Err(format!("no fuzz target '{t}'; targets: {}", all.join(", "))),
        None => all,
    };
    ensure_cargo_fuzz(root)?;
    build(root)?;
    let mut results = Vec::new();
    for target in &selected {
        let work = target_dir().join("corpus").join(target);
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        results.push((target.clone(), run_target(root, target, seconds, &work)?));
    }
    conclude(&results, |failed| {
        format!(
            "fuzz targets failed: {failed} (the crashing inputs are in fuzz/artifacts/<target>/)"
        )
    })
}

/// Each target for about ten seconds over its committed corpus; returns the failures.
pub(crate) fn smoke(root: &Path) -> Result<(), String> {
    ensure_cargo_fuzz(root)?;
    build(root)?;
    let scratch = target_dir().join("smoke-corpus");
    let _ = std::fs::remove_dir_all(&scratch);
    let mut results = Vec::new();
    for target in targets(root)? {
        let work = scratch.join(&target);
        std::fs::create_dir_all(&work)
            .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        results.push((
            target.clone(),
            run_target(root, &target, SMOKE_SECONDS, &work)?,
        ));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    conclude(&results, |failed| {
        format!(
            "fuzz smoke failed: {failed} (run `cargo xtask fuzz --seconds 10 TARGET` to reproduce; inputs in fuzz/artifacts/<target>/)"
        )
    })
}

/// Prints the summary table; an error naming the failed targets (through `message`) if any.
fn conclude(
    results: &[(String, Stats)],
    message: impl FnOnce(&str) -> String,
) -> Result<(), String> {
    print_summary(results);
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, s)| !s.ok)
        .map(|(t, _)| t.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(message(&failed.join(", ")))
    }
}

/// The fuzz crate's own target dir.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("fuzz");
    }
    if let Some(dir) = super::TARGET_DIR.get() {
        return dir.join("fuzz");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/azure-identity-rs/fuzz-target")
}

/// The targets: one `fuzz/fuzz_targets/<name>.rs` each, sorted.
fn targets(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("fuzz").join("fuzz_targets");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no fuzz targets in {}", dir.display()));
    }
    Ok(names)
}

/// `cargo` in `fuzz/` with the fuzz target dir and nightly flags allowed on stable.
fn cargo_fuzz(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(root.join("fuzz"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_INCREMENTAL")
        .arg("fuzz");
    cmd
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz --version` fails.
fn ensure_cargo_fuzz(root: &Path) -> Result<(), String> {
    let present = cargo_fuzz(root)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    let mut install = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    install
        .args(["install", "cargo-fuzz", "--locked"])
        .env("CARGO_TARGET_DIR", target_dir().join("install"));
    super::run(install, "cargo install cargo-fuzz --locked")
}

/// Builds every target: release, debug assertions on.
fn build(root: &Path) -> Result<(), String> {
    let mut cmd = cargo_fuzz(root);
    cmd.args(["build", "-O", "--debug-assertions"]);
    super::run(cmd, "cargo fuzz build")
}

/// Runs one target over `work` (written) and its committed corpus (read) for `seconds`.
fn run_target(root: &Path, target: &str, seconds: u64, work: &Path) -> Result<Stats, String> {
    let committed = root.join("fuzz").join("corpus").join(target);
    let mut cmd = cargo_fuzz(root);
    cmd.args(["run", "-O", "--debug-assertions", target])
        .arg(work)
        .arg(&committed)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-runs={MAX_RUNS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-malloc_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-timeout={TIMEOUT_SECONDS}"))
        .arg(format!("-max_len={}", max_len(target)))
        .arg("-print_final_stats=1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    eprintln!("\n==> fuzz {target} ({seconds} s)");
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("fuzz {target}: could not start cargo fuzz: {e}"))?;
    let mut stats = Stats::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            read_stats_line(&line, &mut stats);
            // Progress lines for new coverage are many; the rest (pulses, stats, crashes) show.
            let progress =
                line.starts_with('#') && (line.contains("NEW") || line.contains("REDUCE"));
            if !progress {
                eprintln!("{line}");
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("fuzz {target}: waiting for cargo fuzz: {e}"))?;
    stats.ok = status.success();
    if stats.seconds.is_none() {
        stats.seconds = Some(started.elapsed().as_secs());
    }
    Ok(stats)
}

/// Picks the figures out of libFuzzer's output: `#N ... cov: C ft: F corp: K/…` progress lines
/// and the `stat::` lines of `-print_final_stats=1`.
fn read_stats_line(line: &str, stats: &mut Stats) {
    let number_after = |key: &str| -> Option<u64> {
        let at = line.find(key)? + key.len();
        let digits: String = line[at..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    if let Some(progress) = line.strip_prefix('#') {
        if let Some(n) = progress
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
        {
            stats.executions = Some(n);
        }
        stats.cov = number_after("cov:").or(stats.cov);
        stats.ft = number_after("ft:").or(stats.ft);
        stats.corpus = number_after("corp:").or(stats.corpus);
    } else if let Some(n) = number_after("stat::number_of_executed_units:") {
        stats.executions = Some(n);
    } else if let Some(n) = number_after("stat::peak_rss_mb:") {
        stats.peak_rss_mb = Some(n);
    } else if line.starts_with("Done ") {
        stats.executions = number_after("Done ").or(stats.executions);
        stats.seconds = number_after("runs in ").or(stats.seconds);
    }
}

fn print_summary(results: &[(String, Stats)]) {
    let show = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    eprintln!(
        "\n{:<18} {:>12} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8}  result",
        "target", "executions", "secs", "exec/s", "cov", "ft", "corpus", "rss MB"
    );
    for (target, s) in results {
        let rate = match (s.executions, s.seconds) {
            (Some(n), Some(t)) if t > 0 => (n / t).to_string(),
            _ => "-".to_owned(),
        };
        eprintln!(
            "{:<18} {:>12} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8}  {}",
            target,
            show(s.executions),
            show(s.seconds),
            rate,
            show(s.cov),
            show(s.ft),
            show(s.corpus),
            show(s.peak_rss_mb),
            if s.ok { "ok" } else { "FAILED" }
        );
    }
}
