//! `jwtguard`: check a policy file, or verify a token against it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jwtguard::{Decision, FetchOptions, Options, TokenSource, Verifier, parse_nginx_time};
use serde_json::json;

#[derive(Parser)]
#[command(version, about = "Check jwtguard policies and verify JSON Web Tokens")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load a policy and print its warnings. Exits 1 when it does not load.
    Check {
        /// Policy file in the ACM OAuth2 JWT Assertion JSON format.
        policy: PathBuf,
    },
    /// Verify a token and print the decision as JSON. Exits 0 on allow,
    /// 1 on deny and 2 on error.
    Verify {
        /// Policy file in the ACM OAuth2 JWT Assertion JSON format.
        policy: PathBuf,
        /// The token, or with --source the header value or query string.
        input: String,
        /// Treat INPUT as what a request carries: the policy's header value
        /// (such as "Bearer eyJ...") or the raw query string.
        #[arg(long)]
        source: bool,
        /// Allowed clock skew for exp and nbf, in NGINX time syntax.
        #[arg(long, default_value = "0")]
        leeway: String,
        /// PEM file of extra CAs trusted for an https jwksURI.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Maximum wait for a remote key set, in NGINX time syntax.
        #[arg(long, default_value = "15s")]
        key_wait: String,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Check { policy } => check(&policy),
        Command::Verify {
            policy,
            input,
            source,
            leeway,
            ca_file,
            key_wait,
        } => verify(&policy, &input, source, &leeway, ca_file, &key_wait),
    };
    result.unwrap_or_else(|message| {
        eprintln!("jwtguard: {message}");
        ExitCode::from(2)
    })
}

fn stderr_log() -> jwtguard::LogSink {
    Arc::new(|level, message| eprintln!("jwtguard: {level}: {message}"))
}

fn load(policy: &PathBuf, options: Options) -> Result<Verifier, String> {
    let loaded = Verifier::from_file(policy, options).map_err(|err| err.to_string())?;
    for warning in &loaded.warnings {
        eprintln!("jwtguard: warning: {warning}");
    }
    Ok(loaded.verifier)
}

fn check(policy: &PathBuf) -> Result<ExitCode, String> {
    match load(
        policy,
        Options {
            log: Some(stderr_log()),
            ..Options::default()
        },
    ) {
        Ok(verifier) => {
            let location = verifier.token_location();
            let place = match location.source {
                TokenSource::Header => "header",
                TokenSource::Query => "query parameter",
            };
            println!(
                "{}: valid; token in {place} {:?}",
                policy.display(),
                location.name
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("jwtguard: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn verify(
    policy: &PathBuf,
    input: &str,
    source: bool,
    leeway: &str,
    ca_file: Option<PathBuf>,
    key_wait: &str,
) -> Result<ExitCode, String> {
    let leeway = parse_nginx_time(leeway).map_err(|message| format!("--leeway {message}"))?;
    let key_wait = parse_nginx_time(key_wait).map_err(|message| format!("--key-wait {message}"))?;
    let options = Options {
        leeway,
        log: Some(stderr_log()),
        fetch: FetchOptions {
            ca_file,
            ..FetchOptions::default()
        },
        ..Options::default()
    };
    if !source && input.contains(' ') {
        return Err(
            "INPUT contains a space; to pass a header value such as \"Bearer eyJ...\", \
                    add --source"
                .into(),
        );
    }
    let verifier = load(policy, options)?;
    verifier.start().map_err(|err| err.to_string())?;
    let decision = decide(&verifier, input.as_bytes(), source, key_wait);
    verifier.stop();
    let (output, code) = match decision {
        Decision::Allow(verified) => {
            let claims = serde_json::Value::Object(verified.claims().clone());
            (
                json!({"decision": "allow", "alg": verified.algorithm().name(), "claims": claims}),
                0,
            )
        }
        Decision::Deny(denial) => (
            json!({
                "decision": "deny",
                "status": denial.status,
                "reason": denial.reason.name(),
                "message": denial.message,
                "www_authenticate": &*denial.www_authenticate,
            }),
            1,
        ),
        Decision::Pending(_) => {
            return Err(format!("the key set did not load within {key_wait:?}"));
        }
    };
    println!("{output:#}");
    Ok(ExitCode::from(code))
}

/// Verifies, blocking through pending decisions for at most `key_wait`.
fn decide(verifier: &Verifier, input: &[u8], source: bool, key_wait: Duration) -> Decision {
    let check = |pending| {
        if source {
            verifier.verify_again(Some(input), pending)
        } else {
            verifier.verify_token_again(input, pending)
        }
    };
    let mut decision = check(None);
    if let Decision::Pending(pending) = decision {
        verifier.wait_for_keys(pending, key_wait);
        decision = check(Some(pending));
    }
    decision
}
