//! [`ManagedIdentityId`]: which identity to ask for.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Which managed identity a token is requested for (PROTOCOL.md §6.2).
///
/// When none is configured, a non-empty `AZURE_CLIENT_ID` selects [`ManagedIdentityId::ClientId`];
/// configuring [`ManagedIdentityId::SystemAssigned`] explicitly forces the system-assigned
/// identity even when `AZURE_CLIENT_ID` is set.
///
/// ```
/// use identity_msi::ManagedIdentityId;
/// let id = ManagedIdentityId::ClientId("0a550000-0000-4000-8000-000000000006".into());
/// assert!(id.is_user_assigned());
/// assert_eq!(id.value(), Some("0a550000-0000-4000-8000-000000000006"));
/// assert!(!ManagedIdentityId::SystemAssigned.is_user_assigned());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The resource's system-assigned identity.
    SystemAssigned,
    /// A user-assigned identity by its client (application) id.
    ClientId(String),
    /// A user-assigned identity by its object (principal) id.
    ObjectId(String),
    /// A user-assigned identity by its Azure resource id
    /// (`/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…`).
    ResourceId(String),
}

impl ManagedIdentityId {
    /// True for the three user-assigned forms.
    pub fn is_user_assigned(&self) -> bool {
        !matches!(self, Self::SystemAssigned)
    }

    /// The id's value (`None` for the system-assigned identity).
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::SystemAssigned => None,
            Self::ClientId(v) | Self::ObjectId(v) | Self::ResourceId(v) => Some(v),
        }
    }

    /// A short description for error messages: `client id 0a55…`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::SystemAssigned => "the system-assigned identity".to_owned(),
            Self::ClientId(v) => format!("client id {v}"),
            Self::ObjectId(v) => format!("object id {v}"),
            Self::ResourceId(v) => format!("resource id {v}"),
        }
    }

    pub(crate) fn hash_value(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

// Ids are not secrets, but keep Debug compact and uniform.
impl fmt::Debug for ManagedIdentityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SystemAssigned => f.write_str("SystemAssigned"),
            Self::ClientId(v) => f.debug_tuple("ClientId").field(v).finish(),
            Self::ObjectId(v) => f.debug_tuple("ObjectId").field(v).finish(),
            Self::ResourceId(v) => f.debug_tuple("ResourceId").field(v).finish(),
        }
    }
}
