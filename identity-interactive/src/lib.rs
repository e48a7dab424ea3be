#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod auth_code;
mod browser;
mod core;
mod device_code;
mod loopback;
mod options;
mod protocol;
mod record;

pub use auth_code::{AuthorizationCodeCredential, AuthorizationCodeCredentialBuilder};
pub use browser::{InteractiveBrowserCredential, InteractiveBrowserCredentialBuilder};
pub use device_code::{DeviceCodeCredential, DeviceCodeCredentialBuilder};
pub use options::{CancellationToken, InteractiveOptions};
pub use protocol::{DeviceCodeInfo, ResponseMode};
pub use record::AuthenticationRecord;
