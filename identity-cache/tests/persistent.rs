//! The persistent cache: the owner-only file (permissions, refusal without
//! `allow_unencrypted_storage`, CAE kept apart, reload when another instance writes), a torture
//! test with 8 processes writing and reading at once, and the real Secret Service (GNOME Keyring
//! under `dbus-run-session`, path in `AZID_SECRET_SERVICE`) in a child process.
#![cfg(feature = "persistent")]

use identity_cache::persistent::schema::AccessTokenEntry;
use identity_cache::persistent::{
    MsalCache, PersistentTokenCache, StorageKind, TokenCachePersistenceOptions,
};
use identity_core::ErrorKind;
use identity_core::env::MapEnv;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TORTURE_CHILD: &str = "AZID_CACHE_TORTURE_CHILD";
const KEYRING_CHILD: &str = "AZID_CACHE_KEYRING_CHILD";
const PROCESSES: usize = 8;
const ROUNDS: usize = 500;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("azid-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn entry(secret: String) -> AccessTokenEntry {
    let mut e = AccessTokenEntry::default();
    e.credential_type = "AccessToken".into();
    e.secret = secret;
    e.expires_on = Some("4000000000".into());
    e
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn unencrypted_storage_is_refused_unless_allowed() {
    let home = temp_dir("refused");
    // No D-Bus session in this environment: the Secret Service is unreachable.
    let env = MapEnv::new().with("HOME", home.display().to_string());
    let e = PersistentTokenCache::open(&TokenCachePersistenceOptions::default(), &env, false)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfiguration);
    assert!(e.message().starts_with("Cache encryption is impossible because libsecret dependencies are not installed or are unusable"), "{e}");
    assert!(
        e.message().contains("allow_unencrypted_storage=True"),
        "{e}"
    );
    assert!(e.message().contains("DBUS_SESSION_BUS_ADDRESS"), "{e}");
    assert!(!home.join(".IdentityService").exists());
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn owner_only_file_round_trip_cae_apart_and_reload() {
    let home = temp_dir("file");
    let env = MapEnv::new().with("HOME", home.display().to_string());
    let options = TokenCachePersistenceOptions::default().with_allow_unencrypted_storage(true);
    let a = PersistentTokenCache::open(&options, &env, false).unwrap();
    let b = PersistentTokenCache::open(&options, &env, false).unwrap();
    let cae = PersistentTokenCache::open(&options, &env, true).unwrap();
    assert_eq!(a.storage(), StorageKind::UnencryptedFile);
    let dir = home.join(".IdentityService");
    assert_eq!(a.path(), dir.join("msal.cache.nocae"));
    assert_eq!(cae.path(), dir.join("msal.cache.cae"));
    assert_eq!(b.read().unwrap(), MsalCache::default());
    a.modify(|c| c.access_tokens.insert("k".into(), entry("one".into())))
        .unwrap();
    assert!(!a.lock_path().exists(), "the lock is released");
    // b sees a's write (the file changed since b's last read), the CAE cache does not.
    assert_eq!(b.read().unwrap().access_tokens["k"].secret, "one");
    assert!(cae.read().unwrap().access_tokens.is_empty());
    b.modify(|c| c.access_tokens.get_mut("k").unwrap().secret = "two".into())
        .unwrap();
    assert_eq!(a.read().unwrap().access_tokens["k"].secret, "two");
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(a.path()), 0o600);
    }
    // Only the document and no temporary file is left.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["msal.cache.nocae"]);
    // A broken document is reported, not overwritten.
    std::fs::write(a.path(), b"{\"AccessToken\": ").unwrap();
    let e = a.modify(|_| ()).unwrap_err();
    assert!(e.message().contains("not a valid MSAL cache"), "{e}");
    assert_eq!(std::fs::read(a.path()).unwrap(), b"{\"AccessToken\": ");
    // An explicit directory instead of HOME.
    let elsewhere = home.join("custom");
    let c = PersistentTokenCache::open(
        &options.clone().with_directory(&elsewhere).with_name("app"),
        &MapEnv::new(),
        false,
    )
    .unwrap();
    assert_eq!(c.path(), elsewhere.join("app.nocae"));
    std::fs::remove_dir_all(&home).unwrap();
}

/// One torture child: `ROUNDS` times, write its own entry (value = round) under the lock, then
/// read the whole document without the lock. Every read must parse, show its own latest value,
/// and never show another child's value going backwards. Prints "corrupt=N regressions=N".
#[test]
fn torture_child() {
    let Ok(spec) = std::env::var(TORTURE_CHILD) else {
        return;
    };
    let (dir, id) = spec.split_once('|').unwrap();
    let options = TokenCachePersistenceOptions::default()
        .with_allow_unencrypted_storage(true)
        .with_secret_service_disabled(true)
        .with_directory(dir)
        .with_name("torture")
        // Correctness under contention is the point here, not fairness: on a loaded machine a
        // child may wait for the lock longer than the default 5 s.
        .with_lock_timeout(Duration::from_secs(120));
    let cache = PersistentTokenCache::open(&options, &MapEnv::new(), false).unwrap();
    let me = format!("child-{id}");
    let padding = "x".repeat(2048);
    let (mut corrupt, mut regressions) = (0, 0);
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for round in 0..ROUNDS {
        cache
            .modify(|c| {
                c.access_tokens
                    .insert(me.clone(), entry(format!("{round}:{padding}")));
            })
            .unwrap();
        // A raw read of the file as another tool would do it, and the API's read.
        let raw = std::fs::read(cache.path()).unwrap();
        let parsed = match MsalCache::from_json(&raw) {
            Ok(c) => c,
            Err(_) => {
                corrupt += 1;
                continue;
            }
        };
        if cache.read().is_err() {
            corrupt += 1;
        }
        for (k, e) in &parsed.access_tokens {
            let v: usize = e.secret.split(':').next().unwrap().parse().unwrap();
            let last = seen.entry(k.clone()).or_insert(0);
            if v < *last || (k == &me && v != round) {
                regressions += 1;
            }
            *last = v;
        }
    }
    println!("corrupt={corrupt} regressions={regressions}");
}

#[test]
fn eight_processes_write_and_read_at_once() {
    let dir = temp_dir("torture");
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            Command::new(&exe)
                .args([
                    "torture_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(TORTURE_CHILD, format!("{}|{i}", dir.display()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Bounded: every child must finish within 5 minutes.
    let deadline = Instant::now() + Duration::from_secs(300);
    for c in &mut children {
        while c.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                for c in &mut children {
                    let _ = c.kill();
                }
                panic!("the torture children did not finish in 5 minutes");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("corrupt=0 regressions=0"),
            "a child saw a corrupt or stale document: {stdout}"
        );
    }
    // The final document parses and holds every child's last write.
    let bytes = std::fs::read(dir.join("torture.nocae")).unwrap();
    let cache = MsalCache::from_json(&bytes).unwrap();
    assert_eq!(cache.access_tokens.len(), PROCESSES);
    for i in 0..PROCESSES {
        let e = &cache.access_tokens[&format!("child-{i}")];
        assert!(e.secret.starts_with(&format!("{}:", ROUNDS - 1)));
    }
    assert!(!dir.join("torture.nocae.lockfile").exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Inside `dbus-run-session` with GNOME Keyring unlocked: the cache goes to the Secret Service.
#[test]
fn keyring_child() {
    let Ok(home) = std::env::var(KEYRING_CHILD) else {
        return;
    };
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS").expect("a D-Bus session");
    let env = MapEnv::new()
        .with("HOME", home.clone())
        .with("DBUS_SESSION_BUS_ADDRESS", bus);
    let options = TokenCachePersistenceOptions::default().with_name("azid-test");
    let a = PersistentTokenCache::open(&options, &env, false).unwrap();
    let b = PersistentTokenCache::open(&options, &env, false).unwrap();
    let cae = PersistentTokenCache::open(&options, &env, true).unwrap();
    assert_eq!(a.storage(), StorageKind::SecretService);
    assert!(a.read().unwrap().access_tokens.is_empty());
    let planted = "planted-secret-in-keyring";
    a.modify(|c| c.access_tokens.insert("k".into(), entry(planted.into())))
        .unwrap();
    assert_eq!(b.read().unwrap().access_tokens["k"].secret, planted);
    assert!(cae.read().unwrap().access_tokens.is_empty());
    b.modify(|c| c.access_tokens.get_mut("k").unwrap().secret = "second".into())
        .unwrap();
    assert_eq!(a.read().unwrap().access_tokens["k"].secret, "second");
    // The signal file exists (empty) and no file in the directory holds the cache.
    let dir = Path::new(&home).join(".IdentityService");
    assert_eq!(std::fs::read(dir.join("azid-test.nocae")).unwrap(), b"");
    for f in std::fs::read_dir(&dir).unwrap() {
        let content = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&content).contains("second"));
    }
    #[cfg(unix)]
    assert_eq!(mode(&dir), 0o700);
    println!("KEYRING-CHILD-OK");
}

#[test]
fn secret_service_in_a_dbus_session() {
    let Ok(dbus_run_session) = std::env::var("AZID_SECRET_SERVICE") else {
        println!("SKIPPED: no Secret Service (set AZID_SECRET_SERVICE)");
        eprintln!("SKIPPED: no Secret Service (set AZID_SECRET_SERVICE)");
        return;
    };
    let home = temp_dir("keyring");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(dbus_run_session)
        .args([
            "--",
            "sh",
            "-c",
            "echo -n azid | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec \"$0\" keyring_child --exact --nocapture --test-threads=1",
        ])
        .arg(&exe)
        .env(KEYRING_CHILD, &home)
        .env("HOME", &home)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("KEYRING-CHILD-OK"),
        "the keyring child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&home);
}
