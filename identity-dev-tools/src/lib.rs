#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod __fuzz;
mod az;
mod azd;
mod process;
#[cfg(test)]
mod proptests;
mod pwsh;
mod tool;
mod vscode;

pub use az::AzureCli;
pub use azd::AzureDeveloperCli;
pub use pwsh::AzurePowerShell;
pub use tool::{
    DEFAULT_PROCESS_TIMEOUT, DevToolCredential, DevToolCredentialBuilder, DevToolOptions, Tool,
};
pub use vscode::{VSCODE_CLIENT_ID, VisualStudioCodeCredential};

/// Gets tokens from the Azure CLI (`az account get-access-token`), the identity of `az login`.
pub type AzureCliCredential = DevToolCredential<AzureCli>;

/// Gets tokens from the Azure Developer CLI (`azd auth token`), the identity of `azd auth login`.
pub type AzureDeveloperCliCredential = DevToolCredential<AzureDeveloperCli>;

/// Gets tokens from Azure PowerShell (`Get-AzAccessToken`), the identity of `Connect-AzAccount`.
pub type AzurePowerShellCredential = DevToolCredential<AzurePowerShell>;
