//! `cargo xtask bench`: our crates beside the official `azure_identity` crate and Python
//! `azure-identity`, measured in one run against the same identity-emulator, written to
//! BENCHMARKS.md with an SVG chart per table (bench/charts/).
//!
//! Each side is a program that runs one scenario and prints `{"samples_ns": [...]}`:
//! bench/ours (our crates), bench/peers/azure-identity (the official crate, pinned) and
//! bench/peers/python/bench.py (in a virtual environment this module creates). The emulator,
//! a silent IMDS address and a slow fake `az` are set up here and handed to each through the
//! environment.

use super::{cargo, run, target_dir};
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned Python peer (bench/peers/python/requirements.txt says the same).
const PYTHON_PEER: &str = "azure-identity==1.27.0";
/// How long the fake `az` takes to answer in the "slow az" scenario.
const SLOW_AZ_SECONDS: &str = "1";

pub(crate) fn bench(root: &Path, args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let _ = QUICK.set(quick);
    let which: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let known = ["cache", "size", "chain", "peers"];
    if let Some(bad) = which.iter().find(|w| !known.contains(w)) {
        return Err(format!(
            "no benchmark named '{bad}' (available: {}; none = all, --quick = a short run)",
            known.join(", ")
        ));
    }
    let all = which.is_empty();
    let started = Instant::now();
    let mut report = Report::new(quick);
    if all || which.contains(&"peers") || which.contains(&"chain") {
        let only_chain = !all && !which.contains(&"peers");
        run_peer_tables(root, quick, only_chain, &mut report)?;
    }
    if which.contains(&"cache") || (all && !quick) {
        let mut cmd = cargo(root);
        cmd.args(["bench", "--package", "identity-cache", "--bench", "cache"])
            .stderr(Stdio::inherit());
        eprintln!("\n==> bench cache (identity-cache micro-benchmark)");
        let out = cmd.output().map_err(|e| format!("cargo bench: {e}"))?;
        if !out.status.success() {
            return Err("the identity-cache benchmark failed".into());
        }
        report.cache = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('|'))
            .collect::<Vec<_>>()
            .join("\n");
        println!("{}", report.cache);
    }
    if which.contains(&"size") || (all && !quick) {
        report.tables.push(bench_size(root)?);
    }
    for table in &report.tables {
        println!("\n{}", table.markdown());
    }
    if all {
        report.write(root)?;
        println!(
            "\nwrote BENCHMARKS.md and bench/charts/*.svg ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    } else if quick {
        println!("(a partial or quick run: BENCHMARKS.md is left as it is)");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Results

/// Median, min and max of a set of samples (ns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stats {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) n: usize,
}

impl Stats {
    pub(crate) fn of(samples: &[u64]) -> Option<Stats> {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let n = s.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            s[n / 2] as f64
        } else {
            (s[n / 2 - 1] as f64 + s[n / 2] as f64) / 2.0
        };
        Some(Stats {
            median,
            min: s[0] as f64,
            max: s[n - 1] as f64,
            n,
        })
    }
}

/// A unit to show figures in.
#[derive(Clone, Copy)]
enum Unit {
    Nanos,
    Millis,
    Bytes,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Nanos => format!("{v:.0} ns"),
            Unit::Millis => format!("{:.2} ms", v / 1e6),
            Unit::Bytes => format!("{:.0} KB", v / 1024.0),
        }
    }
    fn axis(self) -> (&'static str, f64) {
        match self {
            Unit::Nanos => ("ns", 1.0),
            Unit::Millis => ("ms", 1e6),
            Unit::Bytes => ("KB", 1024.0),
        }
    }
}

/// One row: an implementation's figure, or why there is none.
struct Row {
    label: String,
    stats: Result<Stats, String>,
    /// Extra columns (e.g. requests made, crate count).
    extra: Vec<String>,
    /// The row this one is compared with (its label), for the ratio column.
    baseline: Option<String>,
}

struct Table {
    slug: &'static str,
    title: String,
    note: String,
    unit: Unit,
    extra_headers: Vec<&'static str>,
    ratio_header: &'static str,
    rows: Vec<Row>,
}

impl Table {
    fn new(slug: &'static str, title: &str, unit: Unit, ratio_header: &'static str) -> Self {
        Table {
            slug,
            title: title.to_owned(),
            note: String::new(),
            unit,
            extra_headers: Vec::new(),
            ratio_header,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, label: &str, stats: Result<Stats, String>, baseline: Option<&str>) {
        self.rows.push(Row {
            label: label.to_owned(),
            stats,
            extra: Vec::new(),
            baseline: baseline.map(str::to_owned),
        });
    }

    fn ratio(&self, row: &Row) -> String {
        let Some(base) = &row.baseline else {
            return "1×".into();
        };
        let base = self
            .rows
            .iter()
            .find(|r| &r.label == base)
            .and_then(|r| r.stats.as_ref().ok());
        match (row.stats.as_ref(), base) {
            (Ok(s), Some(b)) if b.median > 0.0 => format!("{:.2}×", s.median / b.median),
            _ => "n/a".into(),
        }
    }

    fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        if !self.note.is_empty() {
            let _ = writeln!(out, "{}\n", self.note);
        }
        let mut header = vec!["", "median", "min", "max", "runs"];
        header.extend(self.extra_headers.iter().copied());
        header.push(self.ratio_header);
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for row in &self.rows {
            let mut cells = vec![row.label.clone()];
            match &row.stats {
                Ok(s) => cells.extend([
                    self.unit.show(s.median),
                    self.unit.show(s.min),
                    self.unit.show(s.max),
                    s.n.to_string(),
                ]),
                Err(why) => cells.extend([
                    format!("n/a: {why}"),
                    String::new(),
                    String::new(),
                    String::new(),
                ]),
            }
            cells.extend(row.extra.iter().cloned());
            while cells.len() < header.len() - 1 {
                cells.push(String::new());
            }
            cells.push(self.ratio(row));
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    /// A horizontal bar chart of the medians, with min–max whiskers.
    fn svg(&self, path: &Path) -> Result<(), String> {
        let rows: Vec<(&str, Stats)> = self
            .rows
            .iter()
            .filter_map(|r| r.stats.as_ref().ok().map(|s| (r.label.as_str(), *s)))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let (unit_name, scale) = self.unit.axis();
        let top = rows.iter().map(|(_, s)| s.max / scale).fold(0.0, f64::max) * 1.1;
        let height = 80 + 34 * rows.len() as u32;
        let root = SVGBackend::new(path, (900, height)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(330)
            .build_cartesian_2d(
                0f64..top.max(f64::MIN_POSITIVE),
                (0..rows.len()).into_segmented(),
            )
            .map_err(|e| err(&e))?;
        let labels: Vec<String> = rows.iter().map(|(l, _)| (*l).to_owned()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(format!("median ({unit_name}); whiskers: min–max"))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| err(&e))?;
        let colour = |label: &str| {
            if label.starts_with("ours") {
                RGBColor(0, 120, 212)
            } else if label.starts_with("floor") {
                RGBColor(150, 150, 150)
            } else {
                RGBColor(230, 120, 40)
            }
        };
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (label, s))| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (s.median / scale, SegmentValue::Exact(i + 1)),
                    ],
                    colour(label).filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                bar
            }))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, s))| {
                PathElement::new(
                    vec![
                        (s.min / scale, SegmentValue::CenterOf(i)),
                        (s.max / scale, SegmentValue::CenterOf(i)),
                    ],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    }
}

struct Report {
    quick: bool,
    tables: Vec<Table>,
    machine: String,
    /// The identity-cache micro-benchmark's table, as it printed it.
    cache: String,
}

impl Report {
    fn new(quick: bool) -> Self {
        Report {
            quick,
            tables: Vec::new(),
            machine: machine(),
            cache: String::new(),
        }
    }

    fn write(&self, root: &Path) -> Result<(), String> {
        let charts = root.join("bench/charts");
        std::fs::create_dir_all(&charts).map_err(|e| format!("{}: {e}", charts.display()))?;
        let mut md = String::from(
            "# Benchmarks\n\nWritten by `cargo xtask bench` (the whole suite; `--quick` for a short run, \
             `cargo xtask bench chain|peers|size|cache` for one part). Every figure of a table was measured \
             in the same run, against the same identity-emulator on 127.0.0.1; ratios compare with the \
             row named in the last column's header. Tests never assert timings: these are figures, not \
             pass/fail.\n\n",
        );
        let _ = writeln!(md, "{}\n", self.machine);
        if self.quick {
            md.push_str("**Quick run**: few repetitions; figures are rough.\n\n");
        }
        md.push_str(&self.targets());
        for table in &self.tables {
            let svg = charts.join(format!("{}.svg", table.slug));
            table.svg(&svg)?;
            md.push_str(&table.markdown());
            let _ = writeln!(
                md,
                "\n![{}](bench/charts/{}.svg)\n",
                table.title, table.slug
            );
        }
        if !self.cache.is_empty() {
            let _ = writeln!(
                md,
                "### Token cache micro-benchmark (identity-cache, `cargo xtask bench cache`)\n\n{}\n",
                self.cache
            );
        }
        std::fs::write(root.join("BENCHMARKS.md"), md).map_err(|e| format!("BENCHMARKS.md: {e}"))
    }
}

impl Report {
    fn row(&self, slug: &str, label: &str) -> Option<&Row> {
        self.tables
            .iter()
            .find(|t| t.slug == slug)?
            .rows
            .iter()
            .find(|r| r.label == label)
    }

    /// A number in the cache micro-benchmark's row containing `row`, after `marker`.
    fn cache_figure(&self, row: &str, marker: &str) -> Option<f64> {
        let line = self.cache.lines().find(|l| l.contains(row))?;
        let cell = line.split('|').nth(2)?;
        let at = cell.find(marker).map_or(0, |i| i + marker.len());
        cell[at..]
            .trim_start()
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?
            .parse()
            .ok()
    }

    /// The figures the issues name as targets, each with its verdict.
    fn targets(&self) -> String {
        let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
        let mut lines = Vec::new();
        if let Some(hit) = self.cache_figure("`get_shared_blocking`", "") {
            lines.push(format!(
                "| cache hit under 30 ns (issue 4) | {hit:.1} ns | {} |",
                verdict(hit < 30.0)
            ));
        }
        if let Some(ratio) = self.cache_figure("5 cold keys", "=") {
            lines.push(format!(
                "| 5 cold keys within 1.3× one (issue 4) | {ratio:.2}× | {} |",
                verdict(ratio <= 1.3)
            ));
        }
        let size_rows = self
            .tables
            .iter()
            .find(|t| t.slug == "size")
            .map(|t| t.rows.as_slice())
            .unwrap_or_default();
        for row in size_rows
            .iter()
            .filter(|r| r.label.starts_with("ours: managed identity"))
        {
            let Ok(s) = &row.stats else { continue };
            let release = row.label.ends_with("[release]");
            let limit = if release { 1200.0 } else { 700.0 };
            lines.push(format!(
                "| {}: under {limit:.0} KB (issue 6) | {:.0} KB | {} |",
                row.label,
                s.median / 1024.0,
                verdict(s.median / 1024.0 < limit)
            ));
            if release {
                if let Some(crates) = row.extra.get(1).and_then(|c| c.parse::<usize>().ok()) {
                    lines.push(format!(
                        "| {}: under 40 crates (issue 6) | {crates} | {} |",
                        row.label,
                        verdict(crates < 40)
                    ));
                }
                if let Some(ratio) = row
                    .extra
                    .get(3)
                    .and_then(|r| r.trim_end_matches('×').parse::<f64>().ok())
                {
                    lines.push(format!(
                        "| {}: cold build under ⅓ of the official one's (issue 6) | {ratio:.2}× | {} |",
                        row.label,
                        verdict(ratio < 1.0 / 3.0)
                    ));
                }
            }
        }
        if let Some(Ok(s)) = self
            .row("chain", "ours, nothing available, IMDS never answers")
            .map(|r| r.stats.as_ref())
        {
            lines.push(format!(
                "| DefaultAzureCredential with nothing available and a silent IMDS fails in about the probe's 1 s (issues 6, 9) | {:.2} s | {} |",
                s.median / 1e9,
                verdict(s.median < 1.2e9)
            ));
        }
        if lines.is_empty() {
            return String::new();
        }
        format!(
            "### Targets named in the issues\n\n| target | measured | verdict |\n|---|---:|---|\n{}\n\n",
            lines.join("\n")
        )
    }
}

/// Date, cores, load and CPU model, for the report's header.
fn machine() -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "Run of {date} on {cores} cores ({cpu}), load average {load} at the start; {rustc}; \
         peers: azure_identity 1.0.0 (Rust, official), Python {PYTHON_PEER} (CPython {})",
        python_version()
    )
}

fn python_version() -> String {
    Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .trim_start_matches("Python ")
                .to_owned()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The programs under test

/// One side of the comparison: a program taking `<scenario> <iterations>`.
struct Side {
    program: PathBuf,
    prefix: Vec<String>,
}

impl Side {
    /// Runs a scenario with the given environment (on top of a cleared one) and returns its
    /// samples; a run that has not finished after `run_limit()` is stopped and reported.
    fn run(&self, scenario: &str, n: usize, env: &[(String, String)]) -> Result<Vec<u64>, String> {
        let mut child = Command::new(&self.program)
            .args(&self.prefix)
            .args([scenario, &n.to_string()])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.program.display()))?;
        let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
        let out = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let err = std::thread::spawn(move || {
            let mut buf = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_string(&mut buf);
            }
            buf
        });
        let deadline = Instant::now() + run_limit();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "no answer within {} s (stopped)",
                        run_limit().as_secs()
                    ));
                }
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if !status.success() {
            return Err(stderr.lines().last().unwrap_or("failed").trim().to_owned());
        }
        let json: serde_json::Value = serde_json::from_slice(&stdout)
            .map_err(|e| format!("{scenario}: unreadable output: {e}"))?;
        Ok(json["samples_ns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_u64)
            .collect())
    }
}

/// Set for `--quick`: shorter limits.
static QUICK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The longest one scenario run (all its repetitions) may take: 60 s, 10 s with `--quick`.
fn run_limit() -> Duration {
    if QUICK.get().copied().unwrap_or(false) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(60)
    }
}

fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/azure-identity-rs")
}

/// Builds a standalone package (own workspace) in release into a target dir of its own.
fn build_release(root: &Path, manifest: &str, target: &str, bin: &str) -> Result<PathBuf, String> {
    let target = cache_dir().join(target);
    let mut cmd = cargo(root);
    cmd.args(["build", "--release", "--quiet", "--manifest-path", manifest])
        .env("CARGO_TARGET_DIR", &target);
    run(cmd, &format!("build {manifest} (release)"))?;
    Ok(target.join("release").join(bin))
}

/// The Python peer: a virtual environment under ~/.cache with the pinned azure-identity.
fn python_side(root: &Path) -> Result<Side, String> {
    let venv = cache_dir().join("bench-python");
    let python = venv.join("bin/python");
    let pinned = |python: &Path| {
        Command::new(python)
            .args([
                "-c",
                "import azure.identity, sys; print(azure.identity.__version__)",
            ])
            .output()
            .is_ok_and(|o| {
                o.status.success()
                    && PYTHON_PEER.ends_with(String::from_utf8_lossy(&o.stdout).trim())
            })
    };
    if !pinned(&python) {
        eprintln!(
            "\n==> creating the Python peer's virtual environment ({})",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("-r")
                .arg(root.join("bench/peers/python/requirements.txt"))
                .status()
                .is_ok_and(|s| s.success());
        if !ok || !pinned(&python) {
            return Err(format!(
                "could not install {PYTHON_PEER} into {}",
                venv.display()
            ));
        }
    }
    Ok(Side {
        program: python,
        prefix: vec![
            root.join("bench/peers/python/bench.py")
                .display()
                .to_string(),
        ],
    })
}

/// identity-emulator as a child process, and the environment it prints.
struct Emulator {
    child: Child,
    env: Vec<(String, String)>,
    control: String,
    ca: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    fn start(root: &Path, scratch: &Path) -> Result<Emulator, String> {
        let mut build = cargo(root);
        build.args(["build", "--release", "--quiet", "-p", "identity-emulator"]);
        run(build, "build identity-emulator (release)")?;
        let ca = scratch.join("emulator-ca.pem");
        let mut child = Command::new(target_dir(root).join("release/identity-emulator"))
            .arg("--ca-out")
            .arg(&ca)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("identity-emulator: {e}"))?;
        let stdout = child.stdout.take().ok_or("identity-emulator: no stdout")?;
        let mut env = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("export ")
                && let Some((k, v)) = rest.split_once('=')
            {
                env.push((k.to_owned(), v.trim_matches('\'').to_owned()));
            }
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        let control = env
            .iter()
            .find(|(k, _)| k == "AZURE_POD_IDENTITY_AUTHORITY_HOST")
            .map(|(_, v)| v.trim_start_matches("http://").to_owned())
            .ok_or("identity-emulator printed no managed-identity address")?;
        let emu = Emulator {
            child,
            env,
            control,
            ca,
        };
        Ok(emu)
    }

    fn var(&self, name: &str) -> Option<(String, String)> {
        self.env.iter().find(|(k, _)| k == name).cloned()
    }

    fn control(&self, method: &str, path: &str) -> Result<String, String> {
        let mut stream =
            TcpStream::connect(&self.control).map_err(|e| format!("emulator control: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            self.control
        )
        .map_err(|e| format!("emulator control: {e}"))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| format!("emulator control: {e}"))?;
        Ok(response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default())
    }

    /// Token requests the emulator has answered since the log was last cleared.
    fn token_requests(&self) -> Result<usize, String> {
        let body = self.control("GET", "/_emulator/requests")?;
        let log: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("request log: {e}"))?;
        Ok(log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["endpoint"] == "token" || r["path"].as_str() == Some("/msi/token"))
            .count())
    }
}

/// Environment variables handed to a side.
type EnvVars = Vec<(String, String)>;

/// Everything the scenarios share: the emulator, the environments and the three sides.
struct Bench {
    emu: Emulator,
    ours: Side,
    official: Result<Side, String>,
    python: Result<Side, String>,
    base_env: Vec<(String, String)>,
    /// (case, environment) of the DefaultAzureCredential scenarios.
    dac_envs: Vec<(&'static str, &'static str, EnvVars)>,
    _silent_imds: TcpListener,
}

fn prepare(root: &Path) -> Result<Bench, String> {
    let scratch = cache_dir().join("bench-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    let empty = scratch.join("empty-path");
    let az_dir = scratch.join("slow-az");
    let home = scratch.join("home");
    for d in [&empty, &az_dir, &home] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    write_slow_az(&az_dir)?;

    let ours = Side {
        program: build_release(
            root,
            "bench/ours/Cargo.toml",
            "bench-ours-target",
            "bench-ours",
        )?,
        prefix: Vec::new(),
    };
    let official = build_release(
        root,
        "bench/peers/azure-identity/Cargo.toml",
        "bench-peer-target",
        "peer-azure-identity",
    )
    .map(|program| Side {
        program,
        prefix: Vec::new(),
    });
    let python = python_side(root);
    for (name, side) in [
        ("azure_identity", &official),
        ("Python azure-identity", &python),
    ] {
        if let Err(e) = side {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! peer {name} unavailable, its rows say n/a: {e}\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
        }
    }
    let emu = Emulator::start(root, &scratch)?;
    // Accepts connections (the kernel's backlog does) and never answers: a VM without IMDS
    // that drops packets, as the chain meets it on a developer machine.
    let silent_imds = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("listener: {e}"))?;
    let imds = format!(
        "http://{}",
        silent_imds.local_addr().map_err(|e| e.to_string())?
    );
    let pair = |k: &str, v: &Path| (k.to_owned(), v.display().to_string());
    let mut base_env: Vec<(String, String)> = [
        "AZURE_AUTHORITY_HOST",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
    ]
    .iter()
    .filter_map(|k| emu.var(k))
    .collect();
    base_env.extend([
        pair("BENCH_CA", &emu.ca),
        pair("HOME", &home),
        ("PATH".into(), "/usr/bin:/bin".into()),
    ]);
    // A port nothing listens on: connections are refused at once.
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("listener: {e}"))?;
        format!("http://{}", l.local_addr().map_err(|e| e.to_string())?)
    };
    let dac = |path: &Path, imds: &str| {
        vec![
            pair("PATH", path),
            pair("HOME", &home),
            pair("BENCH_CA", &emu.ca),
            ("BENCH_IMDS".into(), imds.to_owned()),
            pair("BENCH_EMPTY_PATH", &empty),
            pair("BENCH_AZ_DIR", &az_dir),
            // Python's ManagedIdentityCredential takes IMDS from here.
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST".into(), imds.to_owned()),
        ]
    };
    let dac_envs = vec![
        (
            "nothing available, IMDS refuses connections",
            "dac-none",
            dac(&empty, &refused),
        ),
        (
            "nothing available, IMDS never answers",
            "dac-none",
            dac(&empty, &imds),
        ),
        (
            "slow az, IMDS refuses connections",
            "dac-slow-az",
            dac(&az_dir, &refused),
        ),
        (
            "slow az, IMDS never answers",
            "dac-slow-az",
            dac(&az_dir, &imds),
        ),
    ];
    Ok(Bench {
        dac_envs,
        emu,
        ours,
        official,
        python,
        base_env,
        _silent_imds: silent_imds,
    })
}

/// A fake `az` that answers `account get-access-token` after SLOW_AZ_SECONDS, the way az 2.91
/// prints it (token fields only; the token is not a real JWT and no one verifies it here).
fn write_slow_az(dir: &Path) -> Result<(), String> {
    let script = format!(
        r#"#!/bin/sh
/bin/sleep {SLOW_AZ_SECONDS}
now=$(/bin/date +%s)
exp=$((now + 3600))
local=$(/bin/date -d "@$exp" '+%Y-%m-%d %H:%M:%S.000000')
printf '{{"accessToken": "bench.fake.token", "expiresOn": "%s", "expires_on": %s, "subscription": "99999999-8888-7777-6666-555555555555", "tenant": "11111111-2222-3333-4444-555555555555", "tokenType": "Bearer"}}\n' "$local" "$exp"
"#
    );
    let path = dir.join("az");
    std::fs::write(&path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Repetitions of each kind of scenario.
struct Counts {
    cold: usize,
    cached: usize,
    crowd: usize,
    dac: usize,
}

fn run_peer_tables(
    root: &Path,
    quick: bool,
    only_chain: bool,
    report: &mut Report,
) -> Result<(), String> {
    let n = if quick {
        Counts {
            cold: 5,
            cached: 3,
            crowd: 2,
            dac: 1,
        }
    } else {
        Counts {
            cold: 30,
            cached: 15,
            crowd: 10,
            dac: 5,
        }
    };
    let b = prepare(root)?;
    let official_err = |e: &String| format!("azure_identity peer: {e}");
    let python_err = |e: &String| format!("Python peer: {e}");
    let measure = |side: Result<&Side, String>,
                   scenario: &str,
                   count: usize,
                   env: &[(String, String)]|
     -> Result<Stats, String> {
        let side = side?;
        eprintln!("    {scenario} ×{count} ({})", side.program.display());
        let samples = side.run(scenario, count, env)?;
        Stats::of(&samples).ok_or_else(|| "no samples".to_owned())
    };
    let ours = || Ok(&b.ours);
    let official = || b.official.as_ref().map_err(official_err);
    let python = || b.python.as_ref().map_err(python_err);

    if !only_chain {
        eprintln!("\n==> cold get_token");
        for (slug, title, what, mi) in [
            (
                "cold-secret",
                "Cold get_token, client secret (new credential, new connection and TLS handshake)",
                "secret",
                false,
            ),
            (
                "cold-mi",
                "Cold get_token, managed identity (App Service; new credential, new connection)",
                "mi",
                true,
            ),
        ] {
            let mut t = Table::new(slug, title, Unit::Millis, "vs ours, async");
            t.note = "A bare HTTP request to the same endpoint with the same transport is the floor: \
                      what the network and the emulator cost before any credential logic. Each call \
                      builds its client or credential first, as a short-lived program does."
                .into();
            let env = &b.base_env;
            let ours_async = format!(
                "ours, async (reqwest): {}",
                if mi {
                    "ManagedIdentityCredential"
                } else {
                    "ClientSecretCredential"
                }
            );
            t.push(
                &ours_async,
                measure(ours(), &format!("{what}-async"), n.cold, env),
                None,
            );
            t.push(
                "floor: reqwest request",
                measure(ours(), &format!("floor-reqwest-{what}"), n.cold, env),
                Some(&ours_async),
            );
            t.push(
                "ours, blocking (ureq)",
                measure(ours(), &format!("{what}-blocking"), n.cold, env),
                Some(&ours_async),
            );
            t.push(
                "floor: ureq request",
                measure(ours(), &format!("floor-ureq-{what}"), n.cold, env),
                Some(&ours_async),
            );
            t.push(
                "azure_identity 1.0.0 (official, async)",
                measure(official(), &format!("{what}-async"), n.cold, env),
                Some(&ours_async),
            );
            t.push(
                "Python azure-identity (sync)",
                measure(python(), &format!("{what}-sync"), n.cold, env),
                Some(&ours_async),
            );
            t.push(
                "floor: Python requests",
                measure(python(), &format!("floor-requests-{what}"), n.cold, env),
                Some(&ours_async),
            );
            t.extra_headers = vec!["vs its floor"];
            for (row, floor) in [
                (ours_async.as_str(), "floor: reqwest request"),
                ("ours, blocking (ureq)", "floor: ureq request"),
                (
                    "azure_identity 1.0.0 (official, async)",
                    "floor: reqwest request",
                ),
                ("Python azure-identity (sync)", "floor: Python requests"),
            ] {
                let median = |label: &str| {
                    t.rows
                        .iter()
                        .find(|r| r.label == label)
                        .and_then(|r| r.stats.as_ref().ok())
                        .map(|s| s.median)
                };
                let cell = match (median(row), median(floor)) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
                    _ => String::new(),
                };
                for r in t.rows.iter_mut() {
                    r.extra.resize(1, String::new());
                    if r.label == row {
                        r.extra[0].clone_from(&cell);
                    }
                }
            }
            report.tables.push(t);
        }

        eprintln!("\n==> cached get_token");
        let mut t = Table::new(
            "cached",
            "Cached get_token (a warm credential; per call)",
            Unit::Nanos,
            "vs ours, async, same threads",
        );
        t.note =
            "Each run times a batch of calls (100,000 for the Rust sides, 2,000 for Python) and \
                  reports the time per call; with 2 threads, both call the same credential at once \
                  and the slower thread's figure is kept."
                .into();
        let env = &b.base_env;
        t.push(
            "ours, blocking, 1 thread",
            measure(ours(), "cached-blocking-1t", n.cached, env),
            Some("ours, async, 1 thread"),
        );
        t.push(
            "ours, async, 1 thread",
            measure(ours(), "cached-1t", n.cached, env),
            None,
        );
        t.push(
            "ours, async, 2 threads",
            measure(ours(), "cached-2t", n.cached, env),
            None,
        );
        t.push(
            "azure_identity 1.0.0, 1 thread",
            measure(official(), "cached-1t", n.cached, env),
            Some("ours, async, 1 thread"),
        );
        t.push(
            "azure_identity 1.0.0, 2 threads",
            measure(official(), "cached-2t", n.cached, env),
            Some("ours, async, 2 threads"),
        );
        t.push(
            "Python azure-identity, 1 thread",
            measure(python(), "cached-1t", n.cached, env),
            Some("ours, async, 1 thread"),
        );
        t.push(
            "Python azure-identity, 2 threads",
            measure(python(), "cached-2t", n.cached, env),
            Some("ours, async, 2 threads"),
        );
        report.tables.push(t);

        eprintln!("\n==> concurrency");
        for (slug, title, scenario, callers) in [
            (
                "herd",
                "1,000 concurrent callers on one cold credential, one scope",
                "herd-1000",
                1000,
            ),
            (
                "keys",
                "5 cold scopes at once on one credential",
                "keys-5",
                5,
            ),
        ] {
            let mut t = Table::new(slug, title, Unit::Millis, "vs ours");
            t.extra_headers = vec!["token requests per run"];
            t.note = format!(
                "Wall time until all {callers} calls have a token; the emulator counts the token \
                 requests that reached it (one per scope is the ideal)."
            );
            for (label, side) in [
                ("ours (async, 2 tokio workers)", ours()),
                ("azure_identity 1.0.0 (2 tokio workers)", official()),
                ("Python azure-identity (threads)", python()),
            ] {
                let _ = b.emu.control("DELETE", "/_emulator/requests");
                let stats = measure(side, scenario, n.crowd, env);
                let requests = match (&stats, b.emu.token_requests()) {
                    (Ok(s), Ok(r)) => format!("{:.1}", r as f64 / s.n as f64),
                    _ => String::new(),
                };
                let baseline =
                    (!label.starts_with("ours")).then_some("ours (async, 2 tokio workers)");
                t.push(label, stats, baseline);
                if let Some(row) = t.rows.last_mut() {
                    row.extra.push(requests);
                }
            }
            report.tables.push(t);
        }
    }

    eprintln!("\n==> DefaultAzureCredential");
    let mut t = Table::new(
        "chain",
        "DefaultAzureCredential: construction and the first get_token",
        Unit::Millis,
        "vs ours, same case",
    );
    t.note = format!(
        "Nothing available: no environment credentials and no tools on PATH; IMDS either refuses \
         connections (a closed port) or accepts them and never answers (as a proxy or a \
         half-configured VM network can). Slow az: the same, with only a fake `az` on PATH that \
         answers after {SLOW_AZ_SECONDS} s. A run is stopped after {} s. The official crate has \
         no DefaultAzureCredential: its DeveloperToolsCredential (az, azd) is shown instead, so \
         it never waits for IMDS.",
        run_limit().as_secs()
    );
    for (case, scenario, env) in &b.dac_envs {
        let ours_label = format!("ours, {case}");
        t.push(&ours_label, measure(ours(), scenario, n.dac, env), None);
        t.push(
            &format!("Python azure-identity, {case}"),
            measure(python(), scenario, n.dac, env),
            Some(&ours_label),
        );
        t.push(
            &format!("azure_identity 1.0.0 DeveloperToolsCredential, {case}"),
            measure(official(), scenario, n.dac, env),
            Some(&ours_label),
        );
    }
    report.tables.push(t);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Size, crate count and cold build time

/// One binary to measure: how to build it and where it lands.
struct SizeCase {
    label: &'static str,
    manifest: &'static str,
    args: &'static [&'static str],
    binary: &'static str,
    /// The official program this one is compared with.
    peer: Option<&'static str>,
}

const OFFICIAL_MI: &str =
    "official azure_identity 1.0.0: ManagedIdentityCredential (bench/peers/azure-identity-mi)";
const OFFICIAL_SECRET: &str =
    "official azure_identity 1.0.0: ClientSecretCredential (bench/peers/azure-identity-secret)";

/// Builds each binary cold (its own empty target dir) in the release (strip only) and
/// min-size profiles; size, crate count and build time beside the official crate's.
fn bench_size(root: &Path) -> Result<Table, String> {
    let cases = [
        SizeCase {
            label: "ours: managed identity, blocking, ureq (bench/size/mi-ureq)",
            manifest: "bench/size/mi-ureq/Cargo.toml",
            args: &[],
            binary: "size-mi-ureq",
            peer: Some(OFFICIAL_MI),
        },
        SizeCase {
            label: "ours: managed identity, blocking, built-in HTTP (bench/size/mi-direct)",
            manifest: "bench/size/mi-direct/Cargo.toml",
            args: &[],
            binary: "size-mi-direct",
            peer: Some(OFFICIAL_MI),
        },
        SizeCase {
            label: OFFICIAL_MI,
            manifest: "bench/peers/azure-identity-mi/Cargo.toml",
            args: &[],
            binary: "peer-azure-identity-mi",
            peer: None,
        },
        SizeCase {
            label: "ours: client secret, async, reqwest (bench/size/secret-async)",
            manifest: "bench/size/secret-async/Cargo.toml",
            args: &[],
            binary: "size-secret-async",
            peer: Some(OFFICIAL_SECRET),
        },
        SizeCase {
            label: OFFICIAL_SECRET,
            manifest: "bench/peers/azure-identity-secret/Cargo.toml",
            args: &[],
            binary: "peer-secret",
            peer: None,
        },
        SizeCase {
            label: "ours: DefaultAzureCredential, default features (bench/size/dac)",
            manifest: "bench/size/dac/Cargo.toml",
            args: &[],
            binary: "size-dac",
            peer: None,
        },
    ];
    let scratch = cache_dir().join("bench-size");
    let mut table = Table::new(
        "size",
        "Binary size, crate count and cold build time of minimal programs",
        Unit::Bytes,
        "size vs official",
    );
    table.extra_headers = vec!["profile", "crates", "cold build", "build time vs official"];
    table.note = "Each program is a package of its own under bench/ (so a cold build compiles \
                  only what a user's program would) and is built cold (an empty target dir), one \
                  after another, in the release profile (strip only) and in min-size (opt-level s, LTO, one codegen \
                  unit, panic=abort). Size is one figure per build: median = min = max. The \
                  official crate has no DefaultAzureCredential."
        .into();
    let mut times: Vec<(String, f64)> = Vec::new();
    for case in &cases {
        let crates = crate_count(root, case)?;
        for profile in ["release", "min-size"] {
            let target = scratch.join(format!("{}-{profile}", case.binary.replace('/', "-")));
            let _ = std::fs::remove_dir_all(&target);
            let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cmd.current_dir(root)
                .args([
                    "build",
                    "--quiet",
                    "--manifest-path",
                    case.manifest,
                    "--profile",
                    profile,
                ])
                .args(case.args)
                .env("CARGO_TARGET_DIR", &target);
            let started = Instant::now();
            run(cmd, &format!("cold build: {} [{profile}]", case.label))?;
            let secs = started.elapsed().as_secs_f64();
            let path = target.join(profile).join(case.binary);
            let size = std::fs::metadata(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .len();
            let _ = std::fs::remove_dir_all(&target);
            let label = format!("{} [{profile}]", case.label);
            let baseline = case.peer.map(|p| format!("{p} [{profile}]"));
            let stats = Stats::of(&[size]).ok_or("no size")?;
            table.push(&label, Ok(stats), baseline.as_deref());
            let build_ratio = baseline
                .as_ref()
                .and_then(|b| times.iter().find(|(l, _)| l == b))
                .map_or_else(|| "1×".to_owned(), |(_, t)| format!("{:.2}×", secs / t));
            if let Some(row) = table.rows.last_mut() {
                row.extra = vec![
                    profile.to_owned(),
                    crates.to_string(),
                    format!("{secs:.0} s"),
                    build_ratio,
                ];
            }
            times.push((label, secs));
        }
    }
    // Peers are built after the cases compared with them: fill in the build-time ratios now.
    let rows: Vec<(usize, String)> = table
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.baseline.clone().map(|b| (i, b)))
        .collect();
    for (i, base) in rows {
        let mine = times
            .iter()
            .find(|(l, _)| *l == table.rows[i].label)
            .map(|t| t.1);
        let theirs = times.iter().find(|(l, _)| *l == base).map(|t| t.1);
        if let (Some(m), Some(t)) = (mine, theirs) {
            table.rows[i].extra[3] = format!("{:.2}×", m / t);
        }
    }
    Ok(table)
}

/// The number of distinct packages in the normal dependency graph of a case.
fn crate_count(root: &Path, case: &SizeCase) -> Result<usize, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root).args([
        "tree",
        "--manifest-path",
        case.manifest,
        "-e",
        "normal",
        "--prefix",
        "none",
    ]);
    // `cargo tree` takes the package and features but not `--example`.
    let mut skip = false;
    for a in case.args {
        if skip {
            skip = false;
            continue;
        }
        if *a == "--example" {
            skip = true;
            continue;
        }
        cmd.arg(a);
    }
    let out = cmd.output().map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let names: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some(format!("{} {}", parts.next()?, parts.next()?))
        })
        .collect();
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_min_max() {
        let s = Stats::of(&[5, 1, 3]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (3.0, 1.0, 5.0, 3));
        let s = Stats::of(&[4, 1, 3, 2]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn targets_read_the_cache_table_and_the_chain_row() {
        let mut report = Report {
            quick: false,
            tables: Vec::new(),
            machine: String::new(),
            cache: "| hit latency, 1 thread, `get_shared_blocking` (`Arc<AccessToken>`) | 36.2 ns/call |\n\
                    | 5 cold keys at once vs one (fetch 50 ms) | 5 requests, 51.0 ms vs 50.5 ms = 1.01x |"
                .into(),
        };
        let mut chain = Table::new("chain", "c", Unit::Millis, "r");
        chain.push(
            "ours, nothing available, IMDS never answers",
            Ok(Stats::of(&[1_050_000_000]).unwrap()),
            None,
        );
        report.tables.push(chain);
        let t = report.targets();
        assert!(
            t.contains("| cache hit under 30 ns (issue 4) | 36.2 ns | **not met** |"),
            "{t}"
        );
        assert!(t.contains("| 1.01× | met |"), "{t}");
        assert!(t.contains("| 1.05 s | met |"), "{t}");
    }

    #[test]
    fn table_ratios_and_missing_rows() {
        let mut t = Table::new("t", "T", Unit::Millis, "vs ours");
        t.push("ours", Ok(Stats::of(&[2_000_000]).unwrap()), None);
        t.push("peer", Ok(Stats::of(&[3_000_000]).unwrap()), Some("ours"));
        t.push("gone", Err("not installed".into()), Some("ours"));
        let md = t.markdown();
        assert!(
            md.contains("| ours | 2.00 ms | 2.00 ms | 2.00 ms | 1 | 1× |"),
            "{md}"
        );
        assert!(
            md.contains("| peer | 3.00 ms | 3.00 ms | 3.00 ms | 1 | 1.50× |"),
            "{md}"
        );
        assert!(md.contains("n/a: not installed"), "{md}");
        let svg = std::env::temp_dir().join(format!("xtask-chart-{}.svg", std::process::id()));
        t.svg(&svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        std::fs::remove_file(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.contains(">\nours\n<"),
            "{text}"
        );
    }
}
