//! The persistent token cache (feature `persistent`): the MSAL cache schema ([`schema`]),
//! [`TokenCachePersistenceOptions`], and [`PersistentTokenCache`], which stores one cache
//! document in the Secret Service or an owner-only file and serialises writers across
//! processes with msal-extensions' lock file.

mod lock;
mod options;
pub mod schema;
#[cfg(target_os = "linux")]
mod secret_service;

pub use options::TokenCachePersistenceOptions;
pub use schema::MsalCache;

use identity_core::env::Env;
use identity_core::{Error, Result};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The name errors of this module carry.
const NAME: &str = "TokenCachePersistence";

/// Unique temporary file names within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Where a [`PersistentTokenCache`] keeps its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageKind {
    /// An item of the Secret Service (encrypted at rest by the keyring).
    SecretService,
    /// A plain JSON file readable only by its owner.
    UnencryptedFile,
}

#[derive(Debug)]
enum Backend {
    File,
    #[cfg(target_os = "linux")]
    SecretService(secret_service::Keyring),
}

/// What identifies one version of the file: modification time, length, inode.
type Stamp = (SystemTime, u64, u64);

#[derive(Debug, Default)]
struct Synced {
    cache: MsalCache,
    stamp: Option<Stamp>,
}

/// The two persistent caches of one credential, for tokens without and with CAE (§10.4), and
/// the authority host their entries belong to: what every credential with
/// `cache_persistence` keeps.
///
/// ```no_run
/// use identity_cache::persistent::{CachePair, TokenCachePersistenceOptions};
/// use identity_core::env::SystemEnv;
/// let options = TokenCachePersistenceOptions::default();
/// let caches = CachePair::open("MyCredential", &options, &SystemEnv, "https://login.microsoftonline.com")?;
/// assert_eq!(caches.environment(), "login.microsoftonline.com");
/// let accounts = caches.cache(false).read()?.accounts.len();
/// # Ok::<(), identity_core::Error>(())
/// ```
#[derive(Debug)]
pub struct CachePair {
    nocae: PersistentTokenCache,
    cae: PersistentTokenCache,
    environment: String,
}

impl CachePair {
    /// Opens both caches for `authority` (`https://host`); an error names `credential`.
    pub fn open(
        credential: &'static str,
        options: &TokenCachePersistenceOptions,
        env: &dyn Env,
        authority: &str,
    ) -> Result<Self> {
        let open = |cae| {
            PersistentTokenCache::open(options, env, cae)
                .map_err(|e| Error::new(e.kind(), credential, e.message()).with_source(e))
        };
        Ok(Self {
            nocae: open(false)?,
            cae: open(true)?,
            environment: authority
                .split_once("://")
                .map_or(authority, |(_, h)| h)
                .trim_end_matches('/')
                .to_owned(),
        })
    }

    /// The cache of CAE tokens (`true`) or of the others.
    pub fn cache(&self, cae: bool) -> &PersistentTokenCache {
        if cae { &self.cae } else { &self.nocae }
    }

    /// The authority host without scheme: the entries' `environment`.
    pub fn environment(&self) -> &str {
        &self.environment
    }
}

/// One persistent cache document (`{name}.nocae` or `{name}.cae`), shared with other processes.
///
/// Reads reload the document only when the file (or the Secret Service's signal file) changed
/// since the last read. [`modify`](Self::modify) takes the cross-process lock, reloads, applies
/// the change and saves: the unencrypted file is written to a temporary file and renamed over
/// the old one, so a reader sees either the old or the new document, never a part of one.
///
/// ```no_run
/// use identity_cache::persistent::{PersistentTokenCache, TokenCachePersistenceOptions};
/// use identity_core::env::SystemEnv;
/// let options = TokenCachePersistenceOptions::default();
/// let cache = PersistentTokenCache::open(&options, &SystemEnv, false)?;
/// let accounts = cache.read()?.accounts.len();
/// # Ok::<(), identity_core::Error>(())
/// ```
#[derive(Debug)]
pub struct PersistentTokenCache {
    /// The unencrypted file, or the Secret Service's signal file.
    path: PathBuf,
    lock_path: PathBuf,
    lock_timeout: Duration,
    backend: Backend,
    state: Mutex<Synced>,
}

/// The §10.3 error when no encryption is possible and unencrypted storage was not allowed.
fn encryption_impossible(cause: &str, path: &Path) -> Error {
    Error::invalid_configuration(
        NAME,
        format!(
            "Cache encryption is impossible because libsecret dependencies are not installed or are unusable ({cause}). \
             Run a Secret Service (GNOME Keyring or KWallet) in the D-Bus session of this process, \
             or specify \"allow_unencrypted_storage=True\" (TokenCachePersistenceOptions::allow_unencrypted_storage) \
             to keep the cache unencrypted in {} (readable only by you).",
            path.display()
        ),
    )
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::invalid_configuration(
        NAME,
        format!(
            "The persistent token cache could not {what} {}: {e}.",
            path.display()
        ),
    )
}

/// Creates `dir` (and its parents) and makes it 0700.
fn prepare_directory(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

/// Writes `data` to `path` atomically: a new 0600 file beside it, flushed, renamed over it.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        let mut f = options.open(&temp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Touches the signal file (creating it 0600) so that other processes see a change.
#[cfg(target_os = "linux")]
fn touch(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let f = options.open(path)?;
    f.set_modified(SystemTime::now())
}

impl PersistentTokenCache {
    /// Opens the CAE (`cae = true`) or non-CAE cache of `options`. `HOME` (for the default
    /// directory) and the D-Bus session address (`DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`) are read from `env`.
    ///
    /// Fails with [`ErrorKind::InvalidConfiguration`](identity_core::ErrorKind::InvalidConfiguration)
    /// when no Secret Service is reachable and unencrypted storage is not allowed, or when the
    /// directory cannot be created.
    pub fn open(options: &TokenCachePersistenceOptions, env: &dyn Env, cae: bool) -> Result<Self> {
        let file_name = options.cache_file_name(cae);
        let dir = match &options.directory {
            Some(d) => d.clone(),
            None => {
                let home = env.non_empty("HOME").ok_or_else(|| {
                    Error::invalid_configuration(
                        NAME,
                        "The persistent token cache lives in $HOME/.IdentityService, but HOME is not set. Set HOME or TokenCachePersistenceOptions::directory.",
                    )
                })?;
                Path::new(&home).join(".IdentityService")
            }
        };
        let path = dir.join(&file_name);
        let lock_path = dir.join(format!("{file_name}.lockfile"));
        let secure = if options.disable_secret_service {
            Err("the Secret Service is disabled by TokenCachePersistenceOptions::disable_secret_service".to_owned())
        } else {
            Self::secure_backend(env, &file_name)
        };
        let backend = match secure {
            Ok(b) => b,
            Err(cause) if options.allow_unencrypted_storage => {
                tracing::warn!(
                    "no encrypted token cache storage ({cause}); using the unencrypted file {} as allowed",
                    path.display()
                );
                Backend::File
            }
            Err(cause) => return Err(encryption_impossible(&cause, &path)),
        };
        prepare_directory(&dir).map_err(|e| io_error("create the directory", &dir, &e))?;
        tracing::debug!(
            "persistent token cache {file_name} in {} ({})",
            dir.display(),
            if matches!(backend, Backend::File) {
                "unencrypted file"
            } else {
                "Secret Service"
            }
        );
        Ok(Self {
            path,
            lock_path,
            lock_timeout: options.lock_timeout,
            backend,
            state: Mutex::new(Synced::default()),
        })
    }

    #[cfg(target_os = "linux")]
    fn secure_backend(env: &dyn Env, file_name: &str) -> std::result::Result<Backend, String> {
        secret_service::Keyring::connect(env, file_name).map(Backend::SecretService)
    }

    #[cfg(not(target_os = "linux"))]
    fn secure_backend(_env: &dyn Env, _file_name: &str) -> std::result::Result<Backend, String> {
        Err("only the Linux Secret Service is implemented; DPAPI (Windows) and the Keychain (macOS) are not".to_owned())
    }

    /// Where the document is kept.
    pub fn storage(&self) -> StorageKind {
        match self.backend {
            Backend::File => StorageKind::UnencryptedFile,
            #[cfg(target_os = "linux")]
            Backend::SecretService(_) => StorageKind::SecretService,
        }
    }

    /// The unencrypted file, or the Secret Service's signal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file (`{path}.lockfile`).
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    fn load_raw(&self) -> std::result::Result<Option<Vec<u8>>, String> {
        match &self.backend {
            Backend::File => match std::fs::read(&self.path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("reading {} failed: {e}", self.path.display())),
            },
            #[cfg(target_os = "linux")]
            Backend::SecretService(k) => k.load(),
        }
    }

    fn load(&self) -> Result<MsalCache> {
        let mut attempt = 0;
        let raw = loop {
            match self.load_raw() {
                Ok(raw) => break raw,
                Err(e) if attempt < 2 => {
                    tracing::debug!("persistent token cache read failed, retrying: {e}");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(Error::invalid_configuration(
                        NAME,
                        format!("The persistent token cache could not be read: {e}."),
                    ));
                }
            }
        };
        MsalCache::from_json(raw.as_deref().unwrap_or_default()).map_err(|e| {
            Error::invalid_configuration(
                NAME,
                format!(
                    "The persistent token cache {} is not a valid MSAL cache ({e}). Delete it to start afresh.",
                    self.path.display()
                ),
            )
        })
    }

    /// The current document, reloaded when another writer changed it since the last read.
    pub fn read(&self) -> Result<MsalCache> {
        let now = stamp(&self.path);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now.is_some() && now == state.stamp {
            return Ok(state.cache.clone());
        }
        let cache = self.load()?;
        state.cache = cache.clone();
        state.stamp = now;
        Ok(cache)
    }

    /// Applies `change` to the current document under the cross-process lock and saves it.
    pub fn modify<R>(&self, change: impl FnOnce(&mut MsalCache) -> R) -> Result<R> {
        let _guard = lock::acquire(&self.lock_path, self.lock_timeout)
            .map_err(|e| io_error("lock", &self.lock_path, &e))?;
        let mut cache = self.load()?;
        let result = change(&mut cache);
        let data = cache.to_json();
        match &self.backend {
            Backend::File => write_atomically(&self.path, &data)
                .map_err(|e| io_error("write", &self.path, &e))?,
            #[cfg(target_os = "linux")]
            Backend::SecretService(k) => {
                k.save(&data).map_err(|e| {
                    Error::invalid_configuration(
                        NAME,
                        format!("The persistent token cache could not be saved in the Secret Service: {e}."),
                    )
                })?;
                touch(&self.path).map_err(|e| io_error("touch", &self.path, &e))?;
            }
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.stamp = stamp(&self.path);
        state.cache = cache;
        Ok(result)
    }
}
