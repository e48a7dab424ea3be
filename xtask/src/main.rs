//! Project automation. Run `cargo xtask help`.
#![forbid(unsafe_code)]

mod bench;
mod fuzz;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const HELP: &str = "\
usage: cargo xtask <command>

  ci                 everything CI checks: fmt, clippy -D warnings and the tests of every crate
                     with no default features, each feature alone and all features, doc-tests,
                     rustdoc -D warnings
  demo               start identity-emulator and get tokens through what exists so far
  emulator [ARGS]    run identity-emulator in the foreground (ARGS go to it; try --help)
  bench [--quick] [peers|chain|size|cache]
                     the benchmarks, ours beside the official azure_identity crate and Python
                     azure-identity against one identity-emulator; with no part named, all of
                     them, written to BENCHMARKS.md and bench/charts/*.svg. peers: cold, cached
                     and concurrent get_token; chain: DefaultAzureCredential with nothing
                     available and with a slow az; size: binary size, crate count and cold build
                     time; cache: the token cache micro-benchmark. --quick: a short run
  fuzz [--seconds N] [TARGET]
                     the libFuzzer targets of fuzz/ (60 s each by default; fuzz/FUZZING.md);
                     `ci` runs each for 10 s over its committed corpus
  help               this text

Cargo's target dir defaults to ~/.cache/azure-identity-rs/target (outside the clone) unless
CARGO_TARGET_DIR is set.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    if std::env::var_os("CARGO_TARGET_DIR").is_none() {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        let _ = TARGET_DIR.set(home.join(".cache/azure-identity-rs/target"));
    }
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("demo") => demo(&root),
        Some("emulator") => emulator(&root, &args[1..]),
        Some("bench") => bench::bench(&root, &args[1..]),
        Some("fuzz") => fuzz::fuzz(&root, &args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The target dir given to every cargo child when `CARGO_TARGET_DIR` is not set: outside the
/// clone, so that a fresh clone reuses earlier builds.
static TARGET_DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or(manifest.clone(), Path::to_path_buf)
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(root);
    if let Some(dir) = TARGET_DIR.get() {
        cmd.env("CARGO_TARGET_DIR", dir);
    }
    if LEAN_BUILDS.get().is_some() {
        // CI builds every crate under many feature sets: without incremental state and without
        // debug info (panics still name file and line), the target dir stays a few GB instead
        // of tens (a CI machine ran out of disk with the defaults), and linking is quicker.
        cmd.env("CARGO_INCREMENTAL", "0")
            .env("CARGO_PROFILE_DEV_DEBUG", "0")
            .env("CARGO_PROFILE_TEST_DEBUG", "0");
    }
    cmd
}

/// Set by `ci`: every cargo child builds without incremental state and without debug info.
static LEAN_BUILDS: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// The target dir every cargo child uses.
fn target_dir(root: &Path) -> PathBuf {
    TARGET_DIR
        .get()
        .cloned()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target"))
}

/// Prints the target dir's size and the free space where it lives (MiB); warns loudly when
/// space is short.
fn report_disk(root: &Path, when: &str) -> Option<(u64, u64)> {
    let dir = target_dir(root);
    let probe = std::iter::successors(Some(dir.as_path()), |d| d.parent())
        .find(|d| d.exists())
        .unwrap_or(root);
    let out = Command::new("df").args(["-Pk"]).arg(probe).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let free_kib = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<u64>().ok())?;
    let used = dir_size(&dir) / (1024 * 1024);
    let free = free_kib / 1024;
    eprintln!("    disk {when}: target dir {used} MiB, {free} MiB free");
    if free < 4096 {
        eprintln!(
            "!! less than 4 GiB free under {}: the build may run out of space",
            probe.display()
        );
    }
    Some((used, free))
}

/// Keeps CI inside the disk it has. A target dir over 12 GiB holds builds made with other
/// settings (debug info, incremental state): it is removed before the run. During the run, when
/// less than 6 GiB is free, the test executables already run are deleted (a warm run then
/// relinks them: slower, but it finishes).
fn make_room(root: &Path, when: &str) {
    let Some((used, free)) = report_disk(root, when) else {
        return;
    };
    let dir = target_dir(root);
    if when == "at start" && used > 12 * 1024 {
        eprintln!(
            "!! the target dir {} holds {used} MiB (stale builds with other settings): removing it",
            dir.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
        report_disk(root, "after cleaning");
    } else if free < 6 * 1024 {
        let deps = dir.join("debug/deps");
        let mut freed = 0;
        for entry in std::fs::read_dir(&deps).into_iter().flatten().flatten() {
            let path = entry.path();
            let executable = entry.metadata().is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if executable && path.extension().is_none() {
                freed += entry.metadata().map_or(0, |m| m.len());
                let _ = std::fs::remove_file(&path);
            }
        }
        eprintln!(
            "!! only {free} MiB free: deleted {} MiB of test executables already run",
            freed / (1024 * 1024)
        );
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    eprintln!("\n==> {what}");
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    eprintln!("    ({what}: {:.1} s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Runs a test command, echoing its output and adding up nextest's / libtest's counts.
fn run_tests(mut cmd: Command, what: &str, totals: &mut (u64, u64, u64)) -> Result<(), String> {
    eprintln!("\n==> {what}");
    let started = Instant::now();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .map(|s| std::thread::spawn(move || echo(s, false)));
    let stderr = child
        .stderr
        .take()
        .map(|s| std::thread::spawn(move || echo(s, true)));
    let mut lines = Vec::new();
    for handle in [stdout, stderr].into_iter().flatten() {
        lines.extend(handle.join().unwrap_or_default());
    }
    let status = child.wait().map_err(|e| format!("{what}: {e}"))?;
    for line in &lines {
        let (p, f, s) = parse_counts(line);
        totals.0 += p;
        totals.1 += f;
        totals.2 += s;
    }
    eprintln!("    ({what}: {:.1} s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn echo(stream: impl Read, to_stderr: bool) -> Vec<String> {
    let mut kept = Vec::new();
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        if to_stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        if line.contains("tests run:") || line.starts_with("test result:") {
            kept.push(line);
        }
    }
    kept
}

/// Counts from `Summary [...] 47 tests run: 47 passed, 2 skipped` (nextest) or
/// `test result: ok. 47 passed; 0 failed; 0 ignored; ...` (libtest).
fn parse_counts(line: &str) -> (u64, u64, u64) {
    let number_before = |word: &str| -> u64 {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
            .filter(|w| !w.is_empty())
            .collect();
        words
            .windows(2)
            .find(|w| w[1] == word)
            .and_then(|w| w[0].parse().ok())
            .unwrap_or(0)
    };
    (
        number_before("passed"),
        number_before("failed"),
        number_before("skipped") + number_before("ignored"),
    )
}

/// A workspace package and its features (as the manifests declare them).
struct Package {
    name: String,
    features: Vec<String>,
    has_lib: bool,
}

fn packages(root: &Path) -> Result<Vec<Package>, String> {
    let output = cargo(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let mut out = Vec::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let features = p["features"]
            .as_object()
            .map(|f| {
                f.keys()
                    .filter(|k| *k != "default" && !k.starts_with('_'))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let has_lib = p["targets"].as_array().into_iter().flatten().any(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "lib"))
        });
        out.push(Package {
            name,
            features,
            has_lib,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The feature sets to test: none, each alone, all (deduplicated).
fn feature_sets(p: &Package) -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = vec![vec!["--no-default-features".into()]];
    for f in &p.features {
        sets.push(vec![
            "--no-default-features".into(),
            "--features".into(),
            f.clone(),
        ]);
    }
    if p.features.len() > 1 {
        sets.push(vec!["--all-features".into()]);
    }
    sets
}

fn have_nextest(root: &Path) -> bool {
    cargo(root)
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ensure_components(root: &Path) -> Result<(), String> {
    for (component, probe) in [("rustfmt", "fmt"), ("clippy", "clippy")] {
        let ok = cargo(root)
            .args([probe, "--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("==> installing the {component} component");
            let status = Command::new("rustup")
                .args(["component", "add", component])
                .status()
                .map_err(|e| format!("rustup component add {component}: {e}"))?;
            if !status.success() {
                return Err(format!("could not install {component}"));
            }
        }
    }
    Ok(())
}

fn ci(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    let _ = LEAN_BUILDS.set(());
    make_room(root, "at start");
    ensure_components(root)?;
    let mut fmt = cargo(root);
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt, "cargo fmt --check")?;

    let nextest = have_nextest(root);
    if !nextest {
        eprintln!("!! cargo-nextest is not installed: falling back to `cargo test` (slower)");
    }
    let tool_env = install_test_tools(root);
    let packages = packages(root)?;
    let mut totals = (0, 0, 0);
    let mut failures = Vec::new();
    let mut seen_sets = BTreeSet::new();
    for p in &packages {
        for set in feature_sets(p) {
            if !seen_sets.insert((p.name.clone(), set.clone())) {
                continue;
            }
            let label = format!("{} [{}]", p.name, set.join(" "));
            let mut clippy = cargo(root);
            clippy
                .args(["clippy", "--package", &p.name, "--all-targets"])
                .args(&set)
                .args(["--", "-D", "warnings"]);
            if let Err(e) = run(clippy, &format!("clippy {label}")) {
                failures.push(e);
                continue;
            }
            let mut test = cargo(root);
            if nextest {
                test.args(["nextest", "run", "--package", &p.name, "--no-tests=pass"]);
            } else {
                test.args(["test", "--package", &p.name, "--lib", "--bins", "--tests"]);
            }
            test.args(&set).envs(tool_env.iter().map(|(k, v)| (k, v)));
            if let Err(e) = run_tests(test, &format!("tests {label}"), &mut totals) {
                failures.push(e);
            }
        }
        make_room(root, &format!("after {}", p.name));
        if p.has_lib {
            let mut doc = cargo(root);
            doc.args(["test", "--doc", "--package", &p.name, "--all-features"]);
            if let Err(e) = run_tests(doc, &format!("doc-tests {}", p.name), &mut totals) {
                failures.push(e);
            }
        }
    }
    if let Err(e) = fuzz::smoke(root) {
        failures.push(e);
    }
    let mut doc = cargo(root);
    doc.args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings");
    if let Err(e) = run(doc, "rustdoc -D warnings") {
        failures.push(e);
    }
    report_disk(root, "at the end");
    eprintln!(
        "\nxtask ci finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    for f in &failures {
        eprintln!("FAILED: {f}");
    }
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        totals.0,
        totals.1 + failures.len() as u64,
        totals.2
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} step(s) failed", failures.len()))
    }
}

/// Installs what the slow test tiers need, through the project's own idempotent scripts, and
/// returns the variables that tell the tests where it is. A tool that cannot be installed
/// skips its tier, loudly.
fn install_test_tools(root: &Path) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let scripts = [
        (
            "AZID_REAL_AZ",
            "the real Azure CLI",
            "identity-dev-tools/scripts/install-azure-cli.sh",
        ),
        (
            "AZID_CHROMIUM",
            "headless Chromium",
            "identity-interactive/scripts/install-chromium.sh",
        ),
        (
            "AZID_SECRET_SERVICE",
            "a D-Bus Secret Service (GNOME Keyring)",
            "identity-cache/scripts/install-secret-service.sh",
        ),
    ];
    for (var, what, script) in scripts {
        eprintln!("\n==> installing {what} ({script})");
        let output = Command::new("bash")
            .arg(root.join(script))
            .current_dir(root)
            .stderr(Stdio::inherit())
            .output();
        let path = match output {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned(),
            Ok(out) => {
                eprintln!("{}", String::from_utf8_lossy(&out.stdout));
                String::new()
            }
            Err(e) => {
                eprintln!("could not run {script}: {e}");
                String::new()
            }
        };
        if path.is_empty() || !Path::new(&path).exists() {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! {what} could not be installed: its test tier is SKIPPED.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
        } else {
            eprintln!("    {what}: {path}");
            env.push((var.to_owned(), path));
        }
    }
    env
}

fn demo(root: &Path) -> Result<(), String> {
    let examples = root.join("identity-chain/examples/demo.rs");
    if examples.exists() {
        let mut cmd = cargo(root);
        cmd.args([
            "run",
            "--quiet",
            "--package",
            "identity-chain",
            "--example",
            "demo",
        ]);
        return run(cmd, "demo");
    }
    println!(
        "No credential exists yet, so there is no token to show.\n\
         What works today: identity-core (traits, errors, validation, retry engine, Entra protocol,\n\
         ureq and reqwest transports), checked by `cargo xtask ci`. The demo grows with each\n\
         credential crate; the README's credential table says which exist."
    );
    Ok(())
}

fn emulator(root: &Path, args: &[String]) -> Result<(), String> {
    let mut cmd = cargo(root);
    cmd.args(["run", "--quiet", "--package", "identity-emulator", "--"])
        .args(args);
    run(cmd, "identity-emulator")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_runners() {
        assert_eq!(
            parse_counts("     Summary [   2.131s] 47 tests run: 45 passed, 2 failed, 3 skipped"),
            (45, 2, 3)
        );
        assert_eq!(
            parse_counts(
                "test result: ok. 15 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out"
            ),
            (15, 0, 1)
        );
        assert_eq!(parse_counts("nothing here"), (0, 0, 0));
    }

    #[test]
    fn feature_sets_cover_none_each_and_all() {
        let p = Package {
            name: "x".into(),
            features: vec!["a".into(), "b".into()],
            has_lib: true,
        };
        let sets = feature_sets(&p);
        assert_eq!(sets.len(), 4);
        assert_eq!(sets[0], ["--no-default-features"]);
        assert_eq!(sets[3], ["--all-features"]);
        let single = Package {
            name: "y".into(),
            features: vec![],
            has_lib: false,
        };
        assert_eq!(feature_sets(&single).len(), 1);
    }
}
