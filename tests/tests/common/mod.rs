//! Helpers shared by the NGINX module tests: an `nginx.conf` template that guards one
//! location with a jwtguard policy in front of the echo upstream, and request helpers.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use jwtguard_harness::{EchoUpstream, Nginx, NginxBuilder};

/// Configuration with one guarded location, `/`, that forwards the `sub` claim as `X-Sub`
/// to the echo upstream, and one unguarded location, `/open`.
///
/// Placeholders besides the harness's own: `%%WORKERS%%` (worker processes),
/// `%%HTTP%%` (extra http-level lines), `%%LISTEN%%` (extra `listen` parameters),
/// `%%SERVER%%` (extra server-level lines) and `%%LOCATION%%` (extra lines in the guarded
/// location). The policy is read from `policy.json` in the prefix.
pub const GUARDED_TEMPLATE: &str = "
%%LOAD_MODULES%%
%%GLOBALS%%
worker_processes %%WORKERS%%;
events {}
http {
    %%HTTP_GLOBALS%%
    %%HTTP%%
    server {
        listen 127.0.0.1:%%PORT%% %%LISTEN%%;
        %%SERVER%%
        location / {
            jwtguard_policy policy.json;
            %%LOCATION%%
            proxy_set_header X-Sub $jwt_claim_sub;
            proxy_pass http://%%UPSTREAM%%;
        }
        location /open {
            jwtguard_policy off;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
}
";

/// Returns a builder for [`GUARDED_TEMPLATE`] with the module loaded, one worker, no extra
/// lines and `policy` as `policy.json`.
pub fn guarded(policy: &str, upstream: &EchoUpstream) -> NginxBuilder {
    Nginx::builder(GUARDED_TEMPLATE)
        .jwtguard_module()
        .upstream(upstream)
        .var("WORKERS", "1")
        .var("HTTP", "")
        .var("LISTEN", "")
        .var("SERVER", "")
        .var("LOCATION", "")
        .file("policy.json", policy)
}

/// Repeats `check` every 50 ms until it returns true or `timeout` passes; returns whether
/// it succeeded.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issuer of EdDSA tokens with a freshly generated Ed25519 key, for tests that need
/// claims no stored token has.
pub struct Ed25519Issuer {
    signer: Box<dyn rustls::sign::Signer>,
    public_key: Vec<u8>,
}

impl Ed25519Issuer {
    /// Key id in the tokens' header and in the policy's key.
    pub const KID: &'static str = "test-ed25519";

    /// Generates the key pair.
    pub fn generate() -> Ed25519Issuer {
        let key_pair =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("generate an Ed25519 key");
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(key_pair.serialize_der());
        let signing_key = rustls::crypto::aws_lc_rs::sign::any_eddsa_type(&der)
            .expect("aws-lc-rs loads the Ed25519 key");
        let signer = signing_key
            .choose_scheme(&[rustls::SignatureScheme::ED25519])
            .expect("an Ed25519 key signs with ED25519");
        Ed25519Issuer {
            signer,
            public_key: key_pair.public_key_raw().to_vec(),
        }
    }

    /// Returns a policy with the public key inline and the token in `Authorization`.
    pub fn policy(&self) -> String {
        serde_json::json!({ "policies": { "oauth2-jwt-assertion": [ { "action": {
            "jwksKeys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": Ed25519Issuer::KID,
                "x": base64url(&self.public_key),
            }],
            "tokenName": "Authorization",
            "tokenSuppliedIn": "HEADER",
        } } ] } })
        .to_string()
    }

    /// Returns a token whose payload is `payload` byte for byte, so the test controls its
    /// exact JSON text.
    pub fn token(&self, payload: &str) -> String {
        let header = format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, Ed25519Issuer::KID);
        let signing_input = format!(
            "{}.{}",
            base64url(header.as_bytes()),
            base64url(payload.as_bytes())
        );
        let signature = self
            .signer
            .sign(signing_input.as_bytes())
            .expect("Ed25519 signing");
        format!("{signing_input}.{}", base64url(&signature))
    }
}

/// Encodes `bytes` as unpadded base64url (RFC 4648 section 5).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut output = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (index, byte)| {
            group | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..=chunk.len() {
            let sextet = (group >> (18 - 6 * index)) & 0x3f;
            output.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    output
}
