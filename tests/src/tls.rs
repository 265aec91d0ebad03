//! Test certificate authority and the rustls configurations built from it.
//!
//! Every [`TestCa`] is generated fresh with rcgen, so no key material is stored in the
//! repository. Both the server and the client configurations use the aws-lc-rs provider.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tempfile::TempDir;

/// Names the leaf certificate is valid for.
const LEAF_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A freshly generated certificate authority and one leaf certificate it signed for
/// 127.0.0.1 and localhost.
pub struct TestCa {
    ca_pem: String,
    ca_file: PathBuf,
    leaf_cert: CertificateDer<'static>,
    leaf_key: PrivatePkcs8KeyDer<'static>,
    _dir: TempDir,
}

impl TestCa {
    /// Generates the CA and the leaf certificate, and writes the CA certificate to a PEM file
    /// that lives as long as this value.
    ///
    /// # Panics
    ///
    /// Panics when key generation, signing or writing the PEM file fails.
    pub fn generate() -> TestCa {
        let (ca_params, ca_key) = ca_params_and_key();
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .expect("self-sign the test CA");
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().expect("generate the test leaf key");
        let leaf_names: Vec<String> = LEAF_NAMES.iter().map(|name| name.to_string()).collect();
        let leaf_params = CertificateParams::new(leaf_names).expect("valid leaf names");
        let leaf_cert = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("sign the test leaf certificate");

        let dir = tempfile::Builder::new()
            .prefix("jwtguard-ca-")
            .tempdir()
            .expect("create a directory for the test CA");
        let ca_file = dir.path().join("ca.pem");
        fs::write(&ca_file, ca_cert.pem()).expect("write the test CA PEM file");

        TestCa {
            ca_pem: ca_cert.pem(),
            ca_file,
            leaf_cert: leaf_cert.der().clone(),
            leaf_key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
            _dir: dir,
        }
    }

    /// Returns the CA certificate in PEM form.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Returns the path of a PEM file that contains only the CA certificate, for use as a
    /// CA bundle.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// Builds a rustls server configuration that presents the leaf certificate.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.leaf_key.clone_key());
        let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.leaf_cert.clone()], key)
            .expect("the leaf certificate matches its key");
        Arc::new(config)
    }
}

/// Builds a rustls client configuration that trusts only the CA certificates in `ca_pem`.
///
/// # Panics
///
/// Panics when `ca_pem` contains no valid certificate.
pub fn tls_client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.expect("valid PEM certificate in the CA bundle");
        roots.add(cert).expect("valid CA certificate");
    }
    assert!(!roots.is_empty(), "the CA bundle contains no certificate");
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn ca_params_and_key() -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty name list");
    params
        .distinguished_name
        .push(DnType::CommonName, "jwtguard test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("generate the test CA key");
    (params, key)
}
