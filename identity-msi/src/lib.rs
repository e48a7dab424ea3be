//! ManagedIdentityCredential for Azure VMs, App Service, Functions, Container Apps, Arc, Service Fabric, Azure ML and Cloud Shell.
//!
//! Not implemented yet: this crate holds no code so far. See the workspace README for the status of each crate.
