//! Rendering of `nginx.conf` templates.
//!
//! The placeholders are listed on `NginxBuilder`. A placeholder left without a value fails
//! the test, so a typo never reaches nginx.

use std::path::PathBuf;

const REQUIRED: [&str; 2] = ["GLOBALS", "HTTP_GLOBALS"];

/// Names the harness fills in itself; `NginxBuilder::var` cannot set them.
pub(crate) const BUILT_IN: [&str; 5] =
    ["GLOBALS", "HTTP_GLOBALS", "LOAD_MODULES", "PORT", "PREFIX"];

/// Values for the placeholders of one nginx instance.
#[derive(Debug, Clone)]
pub(crate) struct ConfigContext {
    pub prefix: PathBuf,
    pub port: u16,
    pub modules: Vec<PathBuf>,
    pub vars: Vec<(String, String)>,
}

impl ConfigContext {
    pub fn error_log(&self) -> PathBuf {
        self.prefix.join("error.log")
    }

    pub fn config_file(&self) -> PathBuf {
        self.prefix.join("nginx.conf")
    }
}

/// Replaces the placeholders in `template`, or returns an error that names a missing
/// required placeholder or one that has no value.
pub(crate) fn render(template: &str, context: &ConfigContext) -> Result<String, String> {
    for name in REQUIRED {
        if !template.contains(&format!("%%{name}%%")) {
            return Err(format!(
                "the nginx.conf template has no %%{name}%% placeholder; \
                 add it so that nginx keeps its files in the test prefix"
            ));
        }
    }
    let mut config = template.to_string();
    for (name, value) in built_in_values(context).iter().chain(&context.vars) {
        config = config.replace(&format!("%%{name}%%"), value);
    }
    match find_placeholder(&config) {
        Some(name) => Err(format!(
            "the nginx.conf template uses %%{name}%%, which has no value; \
             set it with NginxBuilder::var"
        )),
        None => Ok(config),
    }
}

/// Returns true when `name` has the placeholder form: uppercase ASCII letters, digits and
/// underscores, starting with a letter.
pub(crate) fn is_placeholder_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn built_in_values(context: &ConfigContext) -> Vec<(String, String)> {
    let prefix = context.prefix.display().to_string();
    vec![
        ("GLOBALS".to_string(), globals(context)),
        ("HTTP_GLOBALS".to_string(), http_globals(&prefix)),
        ("LOAD_MODULES".to_string(), load_modules(context)),
        ("PORT".to_string(), context.port.to_string()),
        ("PREFIX".to_string(), prefix),
    ]
}

fn globals(context: &ConfigContext) -> String {
    let prefix = context.prefix.display();
    let mut lines = vec![
        "daemon off;".to_string(),
        "master_process on;".to_string(),
        format!("pid {prefix}/nginx.pid;"),
        format!("error_log {} info;", context.error_log().display()),
    ];
    // Workers of a root master run as `nobody` by default, and they could not enter the
    // prefix, which tempfile creates with mode 0700.
    if nix::unistd::geteuid().is_root() {
        lines.push("user root;".to_string());
    }
    lines.join("\n")
}

fn http_globals(prefix: &str) -> String {
    [
        format!("access_log {prefix}/access.log;"),
        format!("client_body_temp_path {prefix}/client_body_temp;"),
        format!("proxy_temp_path {prefix}/proxy_temp;"),
        format!("fastcgi_temp_path {prefix}/fastcgi_temp;"),
        format!("uwsgi_temp_path {prefix}/uwsgi_temp;"),
        format!("scgi_temp_path {prefix}/scgi_temp;"),
    ]
    .join("\n")
}

fn load_modules(context: &ConfigContext) -> String {
    context
        .modules
        .iter()
        .map(|module| format!("load_module {};", module.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Returns the name of the first `%%NAME%%` placeholder in `config`. Other uses of `%%`,
/// such as a Lua format string `"100%%"`, do not count.
fn find_placeholder(config: &str) -> Option<&str> {
    let mut rest = config;
    while let Some(start) = rest.find("%%") {
        let after = &rest[start + 2..];
        if let Some(end) = after.find("%%") {
            let name = &after[..end];
            if is_placeholder_name(name) {
                return Some(name);
            }
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{ConfigContext, find_placeholder, is_placeholder_name, render};

    fn context() -> ConfigContext {
        ConfigContext {
            prefix: PathBuf::from("/tmp/prefix"),
            port: 8080,
            modules: vec![PathBuf::from("/m/a.so"), PathBuf::from("/m/b.so")],
            vars: vec![("UPSTREAM".to_string(), "127.0.0.1:9000".to_string())],
        }
    }

    #[test]
    fn render_replaces_placeholders() {
        let template = "%%LOAD_MODULES%%\n%%GLOBALS%%\nhttp { %%HTTP_GLOBALS%% \
                        listen 127.0.0.1:%%PORT%%; root %%PREFIX%%/html; \
                        proxy_pass http://%%UPSTREAM%%; }";
        let config = render(template, &context()).expect("valid template");
        assert!(config.starts_with("load_module /m/a.so;\nload_module /m/b.so;\n"));
        assert!(config.contains("daemon off;"));
        assert!(config.contains("master_process on;"));
        assert!(config.contains("pid /tmp/prefix/nginx.pid;"));
        assert!(config.contains("error_log /tmp/prefix/error.log info;"));
        assert!(config.contains("client_body_temp_path /tmp/prefix/client_body_temp;"));
        assert!(config.contains("scgi_temp_path /tmp/prefix/scgi_temp;"));
        assert!(config.contains("listen 127.0.0.1:8080;"));
        assert!(config.contains("root /tmp/prefix/html;"));
        assert!(config.contains("proxy_pass http://127.0.0.1:9000;"));
        assert!(!config.contains("%%"));
    }

    #[test]
    fn render_requires_globals() {
        let error = render("%%HTTP_GLOBALS%%", &context()).expect_err("no GLOBALS");
        assert!(error.contains("%%GLOBALS%%"), "{error}");
        let error = render("%%GLOBALS%%", &context()).expect_err("no HTTP_GLOBALS");
        assert!(error.contains("%%HTTP_GLOBALS%%"), "{error}");
    }

    #[test]
    fn render_rejects_unknown_placeholder() {
        let template = "%%GLOBALS%% %%HTTP_GLOBALS%% %%KEY_PORT%%";
        let error = render(template, &context()).expect_err("unset placeholder");
        assert!(error.contains("%%KEY_PORT%%"), "{error}");
    }

    #[test]
    fn placeholder_scan_ignores_lua_percent() {
        assert_eq!(find_placeholder(r#"ngx.say(string.format("100%%"))"#), None);
        assert_eq!(find_placeholder("a %% b %%"), None);
        assert_eq!(find_placeholder("x %%A_1%% y"), Some("A_1"));
        assert!(is_placeholder_name("KEY_PORT"));
        assert!(!is_placeholder_name("key"));
        assert!(!is_placeholder_name("1A"));
        assert!(!is_placeholder_name(""));
    }
}
