//! Developer-tool credentials: Azure CLI, Azure Developer CLI and Azure PowerShell.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
