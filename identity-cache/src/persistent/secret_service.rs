//! The Linux Secret Service (freedesktop.org API, served by GNOME Keyring and KWallet) over
//! D-Bus, as msal-extensions' libsecret persistence uses it (PROTOCOL.md §10.3): one item in the
//! default collection with schema `{cache file name}`, attribute
//! `MsalClientID = Microsoft.Developer.IdentityService`, label `MSALCache`, holding the cache
//! JSON. The session uses the `plain` algorithm: the secret travels over the user's private
//! session bus, as with libsecret's default for local buses.

use identity_core::env::Env;
use std::collections::HashMap;
use std::time::Duration;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

const DEST: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE: &str = "org.freedesktop.Secret.Service";
const COLLECTION: &str = "org.freedesktop.Secret.Collection";
const ITEM: &str = "org.freedesktop.Secret.Item";
/// The attribute libsecret adds for the schema name.
const SCHEMA_ATTRIBUTE: &str = "xdg:schema";
const CLIENT_ATTRIBUTE: &str = "MsalClientID";
const CLIENT_VALUE: &str = "Microsoft.Developer.IdentityService";
const LABEL: &str = "MSALCache";
/// A method call that takes longer (a prompt, a hung service) fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `(session, parameters, value, content type)`: the Secret Service's `Secret` struct.
type SecretStruct = (OwnedObjectPath, Vec<u8>, Vec<u8>, String);

/// A connection to the Secret Service holding one cache item.
pub(crate) struct Keyring {
    conn: Connection,
    session: OwnedObjectPath,
    collection: OwnedObjectPath,
    schema: String,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("collection", &self.collection.as_str())
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn text(e: zbus::Error) -> String {
    e.to_string()
}

/// The session bus address: `DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`.
fn bus_address(env: &dyn Env) -> Result<String, String> {
    if let Some(a) = env.non_empty("DBUS_SESSION_BUS_ADDRESS") {
        return Ok(a);
    }
    if let Some(dir) = env.non_empty("XDG_RUNTIME_DIR") {
        let bus = std::path::Path::new(&dir).join("bus");
        if bus.exists() {
            return Ok(format!("unix:path={}", bus.display()));
        }
    }
    Err("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist".to_owned())
}

impl Keyring {
    /// Connects, opens a session and finds the default collection; fails when any of it is
    /// impossible (no bus, no Secret Service, no default collection).
    pub(crate) fn connect(env: &dyn Env, schema: &str) -> Result<Self, String> {
        let address = bus_address(env)?;
        let conn = zbus::blocking::connection::Builder::address(address.as_str())
            .map_err(text)?
            .method_timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot connect to the D-Bus session bus: {e}"))?;
        let service = Proxy::new(&conn, DEST, SERVICE_PATH, SERVICE).map_err(text)?;
        let (_, session): (OwnedValue, OwnedObjectPath) = service
            .call("OpenSession", &("plain", Value::from("")))
            .map_err(|e| format!("no Secret Service answers on the session bus: {e}"))?;
        let collection: OwnedObjectPath = service
            .call("ReadAlias", &("default",))
            .map_err(|e| format!("the Secret Service has no default collection: {e}"))?;
        if collection.as_str() == "/" {
            return Err("the Secret Service has no default collection (create or unlock a keyring, e.g. `gnome-keyring-daemon --unlock`)".to_owned());
        }
        let keyring = Self {
            conn,
            session,
            collection,
            schema: schema.to_owned(),
        };
        keyring.items()?;
        Ok(keyring)
    }

    fn attributes(&self) -> HashMap<&str, &str> {
        HashMap::from([
            (SCHEMA_ATTRIBUTE, self.schema.as_str()),
            (CLIENT_ATTRIBUTE, CLIENT_VALUE),
        ])
    }

    fn proxy<'a>(
        &'a self,
        path: &'a ObjectPath<'a>,
        interface: &'a str,
    ) -> Result<Proxy<'a>, String> {
        Proxy::new(&self.conn, DEST, path, interface).map_err(text)
    }

    /// The items of this cache in the default collection.
    fn items(&self) -> Result<Vec<OwnedObjectPath>, String> {
        let collection = self.proxy(&self.collection, COLLECTION)?;
        collection
            .call("SearchItems", &(self.attributes(),))
            .map_err(|e| format!("searching the default collection failed: {e}"))
    }

    /// Unlocks `items` when they are locked; fails when that needs a prompt.
    fn unlock(&self, items: &[OwnedObjectPath]) -> Result<(), String> {
        let path = ObjectPath::from_static_str_unchecked(SERVICE_PATH);
        let service = self.proxy(&path, SERVICE)?;
        let (_, prompt): (Vec<OwnedObjectPath>, OwnedObjectPath) = service
            .call("Unlock", &(items,))
            .map_err(|e| format!("unlocking the keyring failed: {e}"))?;
        if prompt.as_str() != "/" {
            return Err("the keyring is locked and unlocking it needs a prompt: unlock it (log in to the desktop session, or `gnome-keyring-daemon --unlock`)".to_owned());
        }
        Ok(())
    }

    /// The stored cache, `None` when there is no item yet.
    pub(crate) fn load(&self) -> Result<Option<Vec<u8>>, String> {
        let items = self.items()?;
        let Some(path) = items.first() else {
            return Ok(None);
        };
        let item = self.proxy(path, ITEM)?;
        let locked: bool = item.get_property("Locked").map_err(text)?;
        if locked {
            self.unlock(std::slice::from_ref(path))?;
        }
        let (_, _, value, _): SecretStruct = item
            .call("GetSecret", &(&self.session,))
            .map_err(|e| format!("reading the cache item failed: {e}"))?;
        Ok(Some(value))
    }

    /// Replaces the stored cache with `data` (one atomic `CreateItem` with replace).
    pub(crate) fn save(&self, data: &[u8]) -> Result<(), String> {
        let collection = self.proxy(&self.collection, COLLECTION)?;
        let properties: HashMap<&str, Value<'_>> = HashMap::from([
            ("org.freedesktop.Secret.Item.Label", Value::from(LABEL)),
            (
                "org.freedesktop.Secret.Item.Attributes",
                Value::from(self.attributes()),
            ),
        ]);
        let secret: SecretStruct = (
            self.session.clone(),
            Vec::new(),
            data.to_vec(),
            "text/plain".to_owned(),
        );
        let (_, prompt): (OwnedObjectPath, OwnedObjectPath) = collection
            .call("CreateItem", &(properties, secret, true))
            .map_err(|e| format!("writing the cache item failed: {e}"))?;
        if prompt.as_str() != "/" {
            return Err("the keyring is locked and writing to it needs a prompt: unlock it (log in to the desktop session, or `gnome-keyring-daemon --unlock`)".to_owned());
        }
        Ok(())
    }
}
