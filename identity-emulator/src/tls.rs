//! The local CA, the Entra server certificate it signs (127.0.0.1 and localhost), and the Service
//! Fabric listener's own self-signed certificate.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::model::Error;
use crate::util;

/// Certificates and server configurations for one emulator instance.
pub(crate) struct TlsMaterial {
    pub(crate) ca_pem: String,
    pub(crate) entra: Arc<ServerConfig>,
    pub(crate) service_fabric: Arc<ServerConfig>,
    pub(crate) service_fabric_pem: String,
    /// SHA-1 of the Service Fabric certificate, upper-case hex.
    pub(crate) service_fabric_thumbprint: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("service_fabric_thumbprint", &self.service_fabric_thumbprint)
            .finish_non_exhaustive()
    }
}

fn crypto(e: impl std::fmt::Display) -> Error {
    Error::Crypto(e.to_string())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(crypto)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(crypto)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn leaf_params(common_name: &str) -> Result<CertificateParams, Error> {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(crypto)?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// Generates the CA, the Entra server certificate and the Service Fabric certificate.
pub(crate) fn generate() -> Result<TlsMaterial, Error> {
    let ca_key = KeyPair::generate().map_err(crypto)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "identity-emulator");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "identity-emulator local CA (test only)");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(crypto)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate().map_err(crypto)?;
    let mut server_params = leaf_params("identity-emulator Entra")?;
    server_params.use_authority_key_identifier_extension = true;
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(crypto)?;
    let entra = server_config(
        vec![server_cert.der().clone(), ca_cert.der().clone()],
        &server_key,
    )?;

    let sf_key = KeyPair::generate().map_err(crypto)?;
    let sf_cert = leaf_params("identity-emulator Service Fabric")?
        .self_signed(&sf_key)
        .map_err(crypto)?;
    let service_fabric_thumbprint = util::hex(&util::sha1(sf_cert.der())).to_uppercase();
    let service_fabric_pem = sf_cert.pem();
    let service_fabric = server_config(vec![sf_cert.der().clone()], &sf_key)?;
    Ok(TlsMaterial {
        ca_pem,
        entra,
        service_fabric,
        service_fabric_pem,
        service_fabric_thumbprint,
    })
}
